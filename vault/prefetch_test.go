package vault

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestPrefetchMatchesGet checks that a prefetched reader answers every key,
// asked in any order and repeated, exactly as the database's Get does:
// present values (an empty one included), absent keys, and keys it was not
// given.
func TestPrefetchMatchesGet(t *testing.T) {
	v := MustOpen(t, t.TempDir(), MustKEK(t, "kek-1", 1))
	if _, err := v.PutBatch([]Item{
		{"Observation/a", 1, resource("Observation/a", 1, 100)},
		{"Observation/a", 2, resource("Observation/a", 2, 100)},
		{"Patient/p", 1, resource("Patient/p", 1, 100)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := v.db.Set([]byte("z/empty"), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{
		versionKey(blobPrefix, "Patient/p", 1),
		recordKey(tombPrefix, "Observation/a"),
		versionKey(dekPrefix, "Observation/a", 2),
		recordKey(saltPrefix, "Observation/a"),
		versionKey(blobPrefix, "Observation/a", 3), // absent
		recordKey(saltPrefix, "Observation/zz"),    // absent, past every record
		[]byte("z/empty"),
		recordKey(saltPrefix, "Observation/a"), // repeated
		[]byte("0"),                            // before every key
	}
	v.wmu.Lock()
	p, err := v.prefetch(keys)
	v.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(p.vals), len(keys)-1; got != want {
		t.Errorf("prefetched %d keys, want %d", got, want)
	}
	asked := append(keys, recordKey(saltPrefix, "Patient/p"), versionKey(dekPrefix, "Patient/p", 9))
	for _, k := range asked {
		got, gotErr := readValue(p, k)
		want, wantErr := readValue(v.db, k)
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) || !errors.Is(gotErr, wantErr) {
			t.Errorf("key %q: got %q, %v; the database has %q, %v", k, got, gotErr, want, wantErr)
		}
	}
	if _, err := readValue(p, []byte("z/empty")); err != nil {
		t.Errorf("empty value: %v, want present", err)
	}
}

// readValue reads key through r and copies the value.
func readValue(r reader, key []byte) ([]byte, error) {
	b, closer, err := r.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte{}, b...), nil
}
