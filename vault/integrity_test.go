package vault

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
)

// TestTamperEveryByte flips every byte of a stored blob, wrapped data key
// and wrapped salt in turn: each read fails with Integrity.
func TestTamperEveryByte(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	plain := resource("Observation/t", 1, 120)
	h := MustPut(t, v, "Observation/t", 1, plain)
	MustPut(t, v, "Observation/t", 2, plain)
	keys := []struct {
		name string
		key  []byte
	}{
		{"blob", versionKey(blobPrefix, "Observation/t", 1)},
		{"data key", versionKey(dekPrefix, "Observation/t", 1)},
		{"salt", recordKey(saltPrefix, "Observation/t")},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			orig, ok, err := v.get(v.db, k.key)
			if err != nil || !ok {
				t.Fatalf("stored value: %v %v", ok, err)
			}
			for i := range orig {
				for _, mask := range []byte{0x01, 0x80} {
					bad := bytes.Clone(orig)
					bad[i] ^= mask
					if err := v.db.Set(k.key, bad, pebble.Sync); err != nil {
						t.Fatal(err)
					}
					got, err := v.Get("Observation/t", 1, h)
					if cc.KindOf(err) != cc.Integrity || got != nil {
						t.Fatalf("byte %d ^ %#x: Get = %.20q, %v; want Integrity", i, mask, got, err)
					}
				}
			}
			for _, cut := range []int{0, 1, len(orig) - 1} {
				if err := v.db.Set(k.key, orig[:cut], pebble.Sync); err != nil {
					t.Fatal(err)
				}
				_, err := v.Get("Observation/t", 1, h)
				MustKind(t, err, cc.Integrity)
			}
			if err := v.db.Set(k.key, orig, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			MustGet(t, v, "Observation/t", 1, h, plain)
		})
	}
}

// TestTamperMoves swaps or removes whole values: a blob or data key moved
// to another version or record does not authenticate there.
func TestTamperMoves(t *testing.T) {
	plain := []byte("same plaintext in every version")
	tests := []struct {
		name   string
		tamper func(db *pebble.DB, val func([]byte) []byte) error
	}{
		{"blob of version 2 as version 1", func(db *pebble.DB, val func([]byte) []byte) error {
			return db.Set(versionKey(blobPrefix, "Obs/a", 1), val(versionKey(blobPrefix, "Obs/a", 2)), pebble.Sync)
		}},
		{"data key of version 2 as version 1", func(db *pebble.DB, val func([]byte) []byte) error {
			return db.Set(versionKey(dekPrefix, "Obs/a", 1), val(versionKey(dekPrefix, "Obs/a", 2)), pebble.Sync)
		}},
		{"blob and data key of version 2 as version 1", func(db *pebble.DB, val func([]byte) []byte) error {
			if err := db.Set(versionKey(blobPrefix, "Obs/a", 1), val(versionKey(blobPrefix, "Obs/a", 2)), pebble.Sync); err != nil {
				return err
			}
			return db.Set(versionKey(dekPrefix, "Obs/a", 1), val(versionKey(dekPrefix, "Obs/a", 2)), pebble.Sync)
		}},
		{"blob and data key of another record", func(db *pebble.DB, val func([]byte) []byte) error {
			if err := db.Set(versionKey(blobPrefix, "Obs/a", 1), val(versionKey(blobPrefix, "Obs/b", 1)), pebble.Sync); err != nil {
				return err
			}
			return db.Set(versionKey(dekPrefix, "Obs/a", 1), val(versionKey(dekPrefix, "Obs/b", 1)), pebble.Sync)
		}},
		{"salt of another record", func(db *pebble.DB, val func([]byte) []byte) error {
			return db.Set(recordKey(saltPrefix, "Obs/a"), val(recordKey(saltPrefix, "Obs/b")), pebble.Sync)
		}},
		{"data key removed", func(db *pebble.DB, _ func([]byte) []byte) error {
			return db.Delete(versionKey(dekPrefix, "Obs/a", 1), pebble.Sync)
		}},
		{"blob removed", func(db *pebble.DB, _ func([]byte) []byte) error {
			return db.Delete(versionKey(blobPrefix, "Obs/a", 1), pebble.Sync)
		}},
		{"salt removed", func(db *pebble.DB, _ func([]byte) []byte) error {
			return db.Delete(recordKey(saltPrefix, "Obs/a"), pebble.Sync)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
			h := MustPut(t, v, "Obs/a", 1, plain)
			MustPut(t, v, "Obs/a", 2, plain)
			MustPut(t, v, "Obs/b", 1, plain)
			val := func(k []byte) []byte {
				b, _, err := v.get(v.db, k)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			if err := tt.tamper(v.db, val); err != nil {
				t.Fatal(err)
			}
			_, err := v.Get("Obs/a", 1, h)
			MustKind(t, err, cc.Integrity)
			_, err = v.Put("Obs/a", 1, plain) // a retried ingest reads the version back
			MustKind(t, err, cc.Integrity)
		})
	}
}

// TestTamperOnDisk opens the closed vault's Pebble database directly,
// flips a byte of a blob, and checks that Get and Verify catch it.
func TestTamperOnDisk(t *testing.T) {
	kek := MustKEK(t, "kek-1", 1)
	dir := t.TempDir()
	v := MustOpen(t, dir, kek)
	plain := resource("Observation/disk", 1, 2048)
	h := MustPut(t, v, "Observation/disk", 1, plain)
	h2 := MustPut(t, v, "Observation/fine", 1, plain)
	MustClose(t, v)

	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	key := versionKey(blobPrefix, "Observation/disk", 1)
	val, closer, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(val)
	closer.Close()
	bad[len(bad)/2] ^= 0x20
	if err := db.Set(key, bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	v = MustOpen(t, dir, kek)
	_, err = v.Get("Observation/disk", 1, h)
	MustKind(t, err, cc.Integrity)
	MustGet(t, v, "Observation/fine", 1, h2, plain)
	anchors := map[string][]byte{"Observation/disk@1": h, "Observation/fine@1": h2}
	got := MustVerify(t, v, anchors)
	want := []string{`Observation/disk@1 integrity: blob of record "Observation/disk" version 1 fails authentication`}
	if !slices.Equal(got, want) {
		t.Errorf("Verify reported %q, want %q", got, want)
	}
}

// MustVerify runs Verify against anchors ("id@version" → hash) and returns
// its reports as "id@version kind: message" (the op stripped).
func MustVerify(t testing.TB, v *Vault, anchors map[string][]byte) []string {
	t.Helper()
	var got []string
	lookup := func(id string, ver int) ([]byte, bool) {
		h, ok := anchors[fmt.Sprintf("%s@%d", id, ver)]
		return h, ok
	}
	if anchors == nil {
		lookup = nil
	}
	if err := v.Verify(lookup, func(id string, ver int, err error) {
		msg := strings.TrimPrefix(err.Error(), "vault.Verify: ")
		got = append(got, fmt.Sprintf("%s@%d %s", id, ver, msg))
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestVerify(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	anchors := map[string][]byte{}
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("Obs/%d", i)
		anchors[id+"@1"] = MustPut(t, v, id, 1, []byte(id))
	}
	delete(anchors, "Obs/2@1")                                                           // a blob without an anchor
	anchors["Obs/3@1"] = anchors["Obs/4@1"]                                              // an anchor with another hash
	if err := v.db.Delete(versionKey(blobPrefix, "Obs/4", 1), pebble.Sync); err != nil { // a data key without its blob
		t.Fatal(err)
	}
	got := MustVerify(t, v, anchors)
	want := []string{
		`Obs/2@1 not_found: record "Obs/2" version 1 is stored but has no anchor`,
		`Obs/3@1 integrity: record "Obs/3" version 1 does not match its anchored content hash`,
		`Obs/4@1 integrity: record "Obs/4" version 1 has a data key but no blob`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Verify reported\n%q\nwant\n%q", got, want)
	}
	if got := MustVerify(t, v, nil); !slices.Equal(got, want[2:]) {
		t.Errorf("Verify without anchors reported %q, want %q", got, want[2:])
	}
}
