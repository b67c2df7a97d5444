package gatekeeper

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	cc "carechain"
)

// Index is a node's local, off-chain lookup of the resources it holds by
// identifier ("system|value", including bundle fullUrls), so conditional
// references and ifNoneExist resolve and a provider directory loaded twice
// creates nothing new. Identifiers can be PHI (a medical record number), so
// they never go on the ledger.
type Index struct {
	db *pebble.DB
}

// OpenIndex opens (creating if needed) the index in dir. Its tables carry
// Bloom filters: most lookups during ingest are of identifiers not yet
// held (every new resource's bundle fullUrl).
func OpenIndex(dir string) (*Index, error) {
	opts := &pebble.Options{Logger: quietLogger{}}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, cc.E("gatekeeper.index", cc.Internal, err)
	}
	return &Index{db: db}, nil
}

// Close closes the index.
func (x *Index) Close() error { return x.db.Close() }

// identKey scopes identifiers by custodian organization: two
// organizations on one node never resolve to each other's resources.
func identKey(org, typ, identifier string) []byte {
	return []byte("i/" + org + "\x00" + typ + "\x00" + identifier)
}

func codesKey(recordID string) []byte { return []byte("c/" + recordID) }

// Lookup returns the id of org's resource of typ carrying identifier.
//
// It seeks by prefix (the whole key) with the bottom level's filters on:
// Pebble's Get skips the Bloom filters of L6, where a small index keeps
// nearly everything, so each absent identifier would cost a data block
// read.
func (x *Index) Lookup(org, typ, identifier string) (string, bool) {
	key := identKey(org, typ, identifier)
	it, err := x.db.NewIter(&pebble.IterOptions{UseL6Filters: true})
	if err != nil {
		return "", false
	}
	defer it.Close()
	if !it.SeekPrefixGE(key) || !bytes.Equal(it.Key(), key) {
		return "", false
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return "", false
	}
	return string(v), true
}

// Facets returns the search codes ("system|code") and the precise
// clinical time stored for a record.
func (x *Index) Facets(recordID string) (codes []string, dataTime time.Time) {
	v, closer, err := x.db.Get(codesKey(recordID))
	if err != nil {
		return nil, time.Time{}
	}
	defer closer.Close()
	var f facets
	if json.Unmarshal(v, &f) != nil {
		return nil, time.Time{}
	}
	return f.Codes, f.DataTime
}

// Put records, for org, that each resource carries its identifiers and
// codes, in one synced batch.
func (x *Index) Put(org string, entries []IndexEntry) error {
	b := x.db.NewBatch()
	defer b.Close()
	for _, e := range entries {
		for _, ident := range e.Identifiers {
			if err := b.Set(identKey(org, e.Type, ident), []byte(e.ID), nil); err != nil {
				return cc.E("gatekeeper.index", cc.Internal, err)
			}
		}
		if len(e.Codes) > 0 || !e.DataTime.IsZero() {
			v, err := json.Marshal(facets{Codes: e.Codes, DataTime: e.DataTime.UTC()})
			if err != nil {
				return cc.E("gatekeeper.index", cc.Internal, err)
			}
			if err := b.Set(codesKey(e.Type+"/"+e.ID), v, nil); err != nil {
				return cc.E("gatekeeper.index", cc.Internal, err)
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return cc.E("gatekeeper.index", cc.Internal, err)
	}
	return nil
}

// IndexEntry is one resource's identifiers and search facets.
type IndexEntry struct {
	Type, ID    string
	Identifiers []string
	Codes       []string
	DataTime    time.Time // the precise clinical time (anchors carry the year only)
}

// facets are the search facets kept per record.
type facets struct {
	Codes    []string  `json:"c,omitempty"`
	DataTime time.Time `json:"t,omitzero"`
}

// quietLogger drops Pebble's routine messages and keeps nothing else loud.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(errors.New("pebble fatal in gatekeeper index"))
}
