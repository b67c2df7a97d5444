package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
)

func TestShred(t *testing.T) {
	kek := MustKEK(t, "kek-1", 1)
	dir := t.TempDir()
	v := MustOpen(t, dir, kek)
	plain := resource("Observation/gone", 1, 4096)
	h1 := MustPut(t, v, "Observation/gone", 1, plain)
	h2 := MustPut(t, v, "Observation/gone", 2, plain)
	keep := MustPut(t, v, "Observation/kept", 1, plain)
	before := rawEntries(t, v.db)
	secrets := [][]byte{
		before[string(versionKey(dekPrefix, "Observation/gone", 1))],
		before[string(versionKey(dekPrefix, "Observation/gone", 2))],
		before[string(recordKey(saltPrefix, "Observation/gone"))],
		before[string(versionKey(blobPrefix, "Observation/gone", 1))],
	}
	for i, s := range secrets {
		if len(s) == 0 {
			t.Fatalf("secret %d not found before Shred", i)
		}
	}

	if err := v.db.Flush(); err != nil { // put the secrets into a table file
		t.Fatal(err)
	}
	if n := tablesHolding(t, dir, secrets[:3]); n == 0 {
		t.Fatal("no table file holds the secrets before Shred; the check below would prove nothing")
	}

	start := time.Now()
	if err := v.Shred("Observation/gone"); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, v *Vault) {
		t.Helper()
		for _, c := range []struct {
			name string
			err  error
		}{
			{"Get v1", second(v.Get("Observation/gone", 1, h1))},
			{"Get v2", second(v.Get("Observation/gone", 2, h2))},
			{"Get v3", second(v.Get("Observation/gone", 3, h2))},
			{"ContentHash", second(v.ContentHash("Observation/gone", plain))},
			{"Put", second(v.Put("Observation/gone", 3, plain))},
			{"PutBatch", second(v.PutBatch([]Item{{"Observation/new", 1, plain}, {"Observation/gone", 1, plain}}))},
		} {
			if cc.KindOf(c.err) != cc.Gone {
				t.Errorf("%s after Shred: %v, want Gone", c.name, c.err)
			}
		}
		if ok, err := v.Has("Observation/gone", 1); ok || err != nil {
			t.Errorf("Has = %v, %v; want false", ok, err)
		}
		if ok, err := v.Erased("Observation/gone"); !ok || err != nil {
			t.Errorf("Erased = %v, %v; want true", ok, err)
		}
		if ok, err := v.Erased("Observation/kept"); ok || err != nil {
			t.Errorf("Erased(kept) = %v, %v; want false", ok, err)
		}
		at, ok, err := v.ErasedAt("Observation/gone")
		if err != nil || !ok || at.Before(start.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("ErasedAt = %v, %v, %v", at, ok, err)
		}
		MustGet(t, v, "Observation/kept", 1, keep, plain)
		if got, want := MustRecords(t, v), []string{"Observation/kept@1"}; !slices.Equal(got, want) {
			t.Errorf("Records = %q, want %q", got, want)
		}
		// Nothing of the record is left in the live database: no key in
		// its ranges, and none of its wrapped keys or blob under any key.
		for k, val := range rawEntries(t, v.db) {
			if strings.Contains(k, "Observation/gone") && !strings.HasPrefix(k, tombPrefix) {
				t.Errorf("key %q survives Shred", k)
			}
			for _, s := range secrets {
				if bytes.Contains(val, s) {
					t.Errorf("value of %q holds shredded key material", k)
				}
			}
		}
	}
	check(t, v)
	firstAt, _, _ := v.ErasedAt("Observation/gone")
	if err := v.Shred("Observation/gone"); err != nil {
		t.Fatalf("second Shred: %v", err)
	}
	if at, _, _ := v.ErasedAt("Observation/gone"); !at.Equal(firstAt) {
		t.Errorf("second Shred moved the erasure time from %v to %v", firstAt, at)
	}
	MustClose(t, v)

	// The wrapped data keys and salt are gone from Pebble's table files too
	// (Shred compacts the record's ranges). The write-ahead log may keep a
	// copy until it is recycled; KEK rotation covers that (package doc).
	if n := tablesHolding(t, dir, secrets[:3]); n > 0 {
		t.Errorf("%d table files still hold shredded secrets", n)
	}

	v = MustOpen(t, dir, kek)
	check(t, v)
}

// tablesHolding counts the Pebble table files in dir that contain any of
// the secrets. It looks for each secret's last 48 bytes (a wrapped value's
// AES-GCM ciphertext and tag, random): the leading bytes every wrapped
// value shares (format, KEK id) let Snappy encode a later value in a block
// as a back-reference, so the whole value may not appear verbatim in a
// table file that holds it.
func tablesHolding(t *testing.T, dir string, secrets [][]byte) int {
	t.Helper()
	ssts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, s[max(0, len(s)-wrappedSize):]) {
				n++
				break
			}
		}
	}
	return n
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

func TestShredUnknownRecord(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	if err := v.Shred("Observation/never"); err != nil {
		t.Fatal(err)
	}
	_, err := v.Put("Observation/never", 1, []byte("late"))
	MustKind(t, err, cc.Gone)
	_, err = v.Get("Observation/never", 1, []byte("h"))
	MustKind(t, err, cc.Gone)
	MustKind(t, v.Shred("/bad"), cc.Invalid)
}

func TestDeleteAndPrune(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	h := map[string][]byte{}
	for _, r := range []struct {
		id  string
		ver int
	}{{"Obs/a", 1}, {"Obs/a", 2}, {"Obs/b", 1}, {"Obs/c", 1}} {
		h[r.id+string(rune('0'+r.ver))] = MustPut(t, v, r.id, r.ver, []byte(r.id))
	}
	// Delete a version: the other version keeps the salt (same hash).
	if err := v.Delete("Obs/a", 2); err != nil {
		t.Fatal(err)
	}
	if err := v.Delete("Obs/a", 2); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if got, err := v.ContentHash("Obs/a", []byte("Obs/a")); err != nil || !bytes.Equal(got, h["Obs/a1"]) {
		t.Errorf("ContentHash after deleting v2 = %x, %v; want %x", got, err, h["Obs/a1"])
	}
	// Prune what has no anchor: Obs/b; the last version takes its salt along.
	anchored := map[string]bool{"Obs/a": true, "Obs/c": true}
	n, err := v.Prune(func(id string, _ int) (bool, error) { return anchored[id], nil })
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if got, want := MustRecords(t, v), []string{"Obs/a@1", "Obs/c@1"}; !slices.Equal(got, want) {
		t.Errorf("Records = %q, want %q", got, want)
	}
	_, err = v.ContentHash("Obs/b", []byte("Obs/b"))
	MustKind(t, err, cc.NotFound)
	if _, ok := rawEntries(t, v.db)[string(recordKey(saltPrefix, "Obs/b"))]; ok {
		t.Error("the salt of a fully deleted record survives")
	}
	// A deleted version can be stored again (a retried ingest), under a new salt.
	if got := MustPut(t, v, "Obs/b", 1, []byte("Obs/b")); bytes.Equal(got, h["Obs/b1"]) {
		t.Error("a record re-created after Delete reuses its old salt")
	}
	if got := MustVerify(t, v, nil); len(got) > 0 {
		t.Errorf("Verify: %q", got)
	}
}
