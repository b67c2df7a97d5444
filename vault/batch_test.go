package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	cc "carechain"
)

// failingReader yields left bytes of entropy, then fails.
type failingReader struct{ left int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, errors.New("entropy source failed")
	}
	n := min(len(p), r.left)
	rand.Read(p[:n])
	r.left -= n
	return n, nil
}

// batchItems returns n items: n/2 records of two versions each.
func batchItems(prefix string, n int) []Item {
	items := make([]Item, n)
	for i := range items {
		id := fmt.Sprintf("%s/%03d", prefix, i/2)
		items[i] = Item{id, i%2 + 1, resource(id, i%2+1, 2048)}
	}
	return items
}

// dataKeys returns the live keys other than metadata and tombstones.
func dataKeys(t *testing.T, v *Vault) []string {
	t.Helper()
	var keys []string
	for k := range rawEntries(t, v.db) {
		if !strings.HasPrefix(k, metaPrefix) && !strings.HasPrefix(k, tombPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func TestPutBatch(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	items := batchItems("Observation", 100)
	items = append(items, items[3]) // the same version twice, same content
	hashes, err := v.PutBatch(items)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != len(items) {
		t.Fatalf("got %d hashes for %d items", len(hashes), len(items))
	}
	for i, it := range items {
		MustGet(t, v, it.RecordID, it.Version, hashes[i], it.Plaintext)
		if i%2 == 1 && i < 100 && bytes.Equal(hashes[i], hashes[i-1]) {
			t.Errorf("items %d and %d: different contents, same hash", i-1, i)
		}
	}
	if got, err := v.PutBatch(nil); err != nil || len(got) != 0 {
		t.Errorf("PutBatch(nil) = %v, %v", got, err)
	}
	again, err := v.PutBatch(items[:10]) // a retried batch
	if err != nil {
		t.Fatal(err)
	}
	for i := range again {
		if !bytes.Equal(again[i], hashes[i]) {
			t.Errorf("retried item %d: hash %x, want %x", i, again[i], hashes[i])
		}
	}
}

// TestPutBatchAtomic fails a batch in the middle in several ways: nothing
// of it is stored.
func TestPutBatchAtomic(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, v *Vault) []Item
		want  cc.Kind
	}{
		{"entropy fails mid-batch", func(t *testing.T, v *Vault) []Item {
			v.rand = &failingReader{left: 50 * (secretSize + nonceSize)}
			return batchItems("Obs", 100)
		}, cc.Internal},
		{"commit fails", func(t *testing.T, v *Vault) []Item {
			v.beforeCommit = func() error { return errors.New("disk full") }
			return batchItems("Obs", 100)
		}, cc.Internal},
		{"invalid id mid-batch", func(t *testing.T, v *Vault) []Item {
			items := batchItems("Obs", 100)
			items[50].RecordID = "/bad"
			return items
		}, cc.Invalid},
		{"oversized item mid-batch", func(t *testing.T, v *Vault) []Item {
			items := batchItems("Obs", 100)
			items[50].Plaintext = make([]byte, MaxPlaintext+1)
			return items
		}, cc.TooLarge},
		{"conflicting duplicate", func(t *testing.T, v *Vault) []Item {
			items := batchItems("Obs", 100)
			return append(items, Item{items[7].RecordID, items[7].Version, []byte("other")})
		}, cc.Conflict},
		{"stored version with other content mid-batch", func(t *testing.T, v *Vault) []Item {
			MustPut(t, v, "Obs/zzz", 1, []byte("stored"))
			items := batchItems("Obs", 100)
			return slices.Insert(items, 60, Item{"Obs/zzz", 1, []byte("different")})
		}, cc.Conflict},
		{"erased record mid-batch", func(t *testing.T, v *Vault) []Item {
			if err := v.Shred("Obs/erased"); err != nil {
				t.Fatal(err)
			}
			items := batchItems("Obs", 100)
			return slices.Insert(items, 60, Item{"Obs/erased", 1, []byte("late")})
		}, cc.Gone},
		{"tampered salt mid-batch", func(t *testing.T, v *Vault) []Item {
			MustPut(t, v, "Obs/zzz", 1, []byte("stored"))
			key := recordKey(saltPrefix, "Obs/zzz")
			val, _, _ := v.get(v.db, key)
			val[len(val)-1] ^= 1
			if err := v.db.Set(key, val, nil); err != nil {
				t.Fatal(err)
			}
			items := batchItems("Obs", 100)
			return slices.Insert(items, 60, Item{"Obs/zzz", 2, []byte("next")})
		}, cc.Integrity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
			before := dataKeys(t, v)
			items := tt.setup(t, v)
			before = append(before, dataKeys(t, v)...)
			slices.Sort(before)
			before = slices.Compact(before)
			hashes, err := v.PutBatch(items)
			MustKind(t, err, tt.want)
			if hashes != nil {
				t.Errorf("PutBatch returned hashes with error %v", err)
			}
			if got := dataKeys(t, v); !slices.Equal(got, before) {
				t.Errorf("a failed batch changed the vault: %d data keys, want %d", len(got), len(before))
			}
			v.rand, v.beforeCommit = rand.Reader, nil
			if _, err := v.PutBatch(batchItems("Obs", 100)); err != nil {
				t.Errorf("the same ids after the failure: %v", err)
			}
		})
	}
}
