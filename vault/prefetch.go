package vault

import (
	"bytes"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// prefetched is a reader that answers a fixed set of keys from values
// read beforehand in one pass of a Pebble iterator, and any other key from
// the database.
//
// A write of new records looks up four keys per version that are almost
// always absent (tombstone, salt, data key, blob). A Pebble Get builds and
// tears down an iterator over every memtable and level each time; one
// iterator looks up the same keys in sorted order instead, each by prefix
// (see prefetch), so that Pebble moves forward from where it is and its
// Bloom filters still skip the tables that lack a key. The prefetched
// answers are one consistent view of the database, as a snapshot's would
// be (an iterator reads the state as of its creation); a key not
// prefetched is read from the database as it is when asked.
type prefetched struct {
	db   reader
	vals map[string][]byte // a prefetched key's value; nil when absent
}

// prefetch reads keys (any order, repeats allowed) in one pass of an
// iterator over v's database.
func (v *Vault) prefetch(keys [][]byte) (*prefetched, error) {
	p := &prefetched{db: v.db, vals: make(map[string][]byte, len(keys))}
	if len(keys) == 0 {
		return p, nil
	}
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	it, err := v.db.NewIter(&pebble.IterOptions{
		LowerBound: sorted[0],
		UpperBound: append(slices.Clone(sorted[len(sorted)-1]), 0),
		// Pebble skips the Bloom filters of the bottom level (L6, where
		// a small database keeps nearly everything) unless asked: each
		// absent key then costs a data block read (from the page cache
		// through a system call once the block cache has turned over).
		// The filter blocks are small beside the blobs and stay cached.
		UseL6Filters: true,
	})
	if err != nil {
		return nil, err
	}
	for _, k := range sorted {
		var val []byte
		// The database's comparer takes a whole key as its prefix, so this
		// is a point lookup: each table's Bloom filter rules most of them
		// out without reading a block.
		if it.SeekPrefixGE(k) && bytes.Equal(it.Key(), k) {
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return nil, err
			}
			val = bytes.Clone(v)
			if val == nil {
				val = []byte{}
			}
		}
		p.vals[string(k)] = val
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	return p, nil
}

// Get returns a prefetched key's value (pebble.ErrNotFound when it was
// absent), or asks the database for any other key.
func (p *prefetched) Get(key []byte) ([]byte, io.Closer, error) {
	val, ok := p.vals[string(key)]
	if !ok {
		return p.db.Get(key)
	}
	if val == nil {
		return nil, nil, pebble.ErrNotFound
	}
	return val, noClose{}, nil
}

// noClose is the io.Closer of a prefetched value, which owns nothing.
type noClose struct{}

func (noClose) Close() error { return nil }
