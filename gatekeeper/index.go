package gatekeeper

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"

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

// OpenIndex opens (creating if needed) the index in dir.
func OpenIndex(dir string) (*Index, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return nil, cc.E("gatekeeper.index", cc.Internal, err)
	}
	return &Index{db: db}, nil
}

// Close closes the index.
func (x *Index) Close() error { return x.db.Close() }

func identKey(typ, identifier string) []byte {
	return []byte("i/" + typ + "\x00" + identifier)
}

// Lookup returns the id of the resource of typ carrying identifier.
func (x *Index) Lookup(typ, identifier string) (string, bool) {
	v, closer, err := x.db.Get(identKey(typ, identifier))
	if err != nil {
		return "", false
	}
	defer closer.Close()
	return string(v), true
}

// Put records that the resource typ/id carries identifiers, in one synced
// batch.
func (x *Index) Put(entries []IndexEntry) error {
	b := x.db.NewBatch()
	defer b.Close()
	for _, e := range entries {
		for _, ident := range e.Identifiers {
			if err := b.Set(identKey(e.Type, ident), []byte(e.ID), nil); err != nil {
				return cc.E("gatekeeper.index", cc.Internal, err)
			}
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return cc.E("gatekeeper.index", cc.Internal, err)
	}
	return nil
}

// IndexEntry is one resource's identifiers.
type IndexEntry struct {
	Type, ID    string
	Identifiers []string
}

// quietLogger drops Pebble's routine messages and keeps nothing else loud.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(errors.New("pebble fatal in gatekeeper index"))
}
