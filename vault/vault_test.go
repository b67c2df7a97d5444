package vault

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	cc "carechain"
)

// MustKEK returns a KEK with a deterministic key derived from seed.
func MustKEK(t testing.TB, id string, seed byte) *KEK {
	t.Helper()
	key := sha256.Sum256([]byte{seed})
	k, err := NewKEK(id, key[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// MustOpenMem opens a vault on a fresh in-memory filesystem.
func MustOpenMem(t testing.TB, kek *KEK, older ...*KEK) *Vault {
	t.Helper()
	v, err := OpenFS("vault", vfs.NewMem(), kek, older...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// MustOpen opens the vault in dir; the test closes it at cleanup.
func MustOpen(t testing.TB, dir string, kek *KEK, older ...*KEK) *Vault {
	t.Helper()
	v, err := Open(dir, kek, older...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// MustClose closes v.
func MustClose(t testing.TB, v *Vault) {
	t.Helper()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
}

// MustPut stores one version and returns its content hash.
func MustPut(t testing.TB, v *Vault, id string, version int, plain []byte) []byte {
	t.Helper()
	h, err := v.Put(id, version, plain)
	if err != nil {
		t.Fatalf("Put(%q, %d): %v", id, version, err)
	}
	return h
}

// MustGet reads one version and checks it equals want.
func MustGet(t testing.TB, v *Vault, id string, version int, hash, want []byte) {
	t.Helper()
	got, err := v.Get(id, version, hash)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", id, version, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q, %d) = %d bytes %.40q, want %d bytes %.40q", id, version, len(got), got, len(want), want)
	}
}

// MustKind fails unless err has kind want.
func MustKind(t testing.TB, err error, want cc.Kind) {
	t.Helper()
	if got := cc.KindOf(err); got != want {
		t.Fatalf("error %v has kind %v, want %v", err, got, want)
	}
}

// MustRecords lists the stored versions as "id@version".
func MustRecords(t testing.TB, v *Vault) []string {
	t.Helper()
	var got []string
	if err := v.Records(func(id string, ver int) bool {
		got = append(got, fmt.Sprintf("%s@%d", id, ver))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// rawEntries returns every live key and value of the vault's database.
func rawEntries(t testing.TB, db *pebble.DB) map[string][]byte {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	m := map[string][]byte{}
	for ok := it.First(); ok; ok = it.Next() {
		m[string(it.Key())] = bytes.Clone(it.Value())
	}
	return m
}

// resource returns a deterministic FHIR-like plaintext of n bytes.
func resource(id string, version, n int) []byte {
	b := fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"meta":{"versionId":"%d"},"note":"`, id, version)
	for len(b) < n-2 {
		b = append(b, byte('a'+len(b)%26))
	}
	return append(b, '"', '}')
}

func TestRoundTrip(t *testing.T) {
	kek := MustKEK(t, "kek-1", 1)
	dir := t.TempDir()
	v := MustOpen(t, dir, kek)
	tests := []struct {
		name    string
		id      string
		version int
		plain   []byte
	}{
		{"small", "Observation/abc-123", 1, resource("Observation/abc-123", 1, 300)},
		{"second version", "Observation/abc-123", 2, resource("Observation/abc-123", 2, 310)},
		{"empty", "Patient/empty", 1, nil},
		{"one megabyte", "Binary/big", 1, resource("Binary/big", 1, 1<<20)},
		{"unicode id", "Observation/é-ü", 7, []byte("ü")},
		{"max id", strings.Repeat("x", MaxRecordID), 1, []byte("x")},
		{"max version", "Observation/v", 1<<32 - 1, []byte("v")},
	}
	hashes := map[string][]byte{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustPut(t, v, tt.id, tt.version, tt.plain)
			if len(h) != sha256.Size {
				t.Fatalf("content hash is %d bytes, want %d", len(h), sha256.Size)
			}
			hashes[tt.name] = h
			MustGet(t, v, tt.id, tt.version, h, tt.plain)
			if ok, err := v.Has(tt.id, tt.version); err != nil || !ok {
				t.Fatalf("Has = %v, %v, want true", ok, err)
			}
			if got, err := v.ContentHash(tt.id, tt.plain); err != nil || !bytes.Equal(got, h) {
				t.Fatalf("ContentHash = %x, %v, want %x", got, err, h)
			}
		})
	}
	MustClose(t, v)
	v = MustOpen(t, dir, kek)
	for _, tt := range tests {
		MustGet(t, v, tt.id, tt.version, hashes[tt.name], tt.plain)
	}
	want := []string{"Binary/big@1", "Observation/abc-123@1", "Observation/abc-123@2", "Observation/v@4294967295", "Observation/é-ü@7", "Patient/empty@1", strings.Repeat("x", MaxRecordID) + "@1"}
	if got := MustRecords(t, v); !slices.Equal(got, want) {
		t.Errorf("Records = %q, want %q", got, want)
	}
}

func TestGetErrors(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	h := MustPut(t, v, "Observation/1", 1, []byte("one"))
	other := MustPut(t, v, "Observation/2", 1, []byte("one"))
	tests := []struct {
		name    string
		id      string
		version int
		hash    []byte
		want    cc.Kind
	}{
		{"wrong hash", "Observation/1", 1, bytes.Repeat([]byte{1}, 32), cc.Integrity},
		{"another record's hash", "Observation/1", 1, other, cc.Integrity},
		{"truncated hash", "Observation/1", 1, h[:31], cc.Integrity},
		{"no hash", "Observation/1", 1, nil, cc.Invalid},
		{"absent version", "Observation/1", 2, h, cc.NotFound},
		{"absent record", "Observation/3", 1, h, cc.NotFound},
		{"empty id", "", 1, h, cc.Invalid},
		{"slash prefix", "/Observation/1", 1, h, cc.Invalid},
		{"NUL", "Observation/\x001", 1, h, cc.Invalid},
		{"control character", "Observation/\x011", 1, h, cc.Invalid},
		{"invalid UTF-8", "Observation/\xff", 1, h, cc.Invalid},
		{"too long", strings.Repeat("x", MaxRecordID+1), 1, h, cc.Invalid},
		{"version 0", "Observation/1", 0, h, cc.Invalid},
		{"negative version", "Observation/1", -1, h, cc.Invalid},
		{"version over uint32", "Observation/1", 1 << 32, h, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Get(tt.id, tt.version, tt.hash)
			MustKind(t, err, tt.want)
			if got != nil {
				t.Errorf("Get returned %q with error %v", got, err)
			}
		})
	}
	_, err := v.ContentHash("Observation/3", []byte("x"))
	MustKind(t, err, cc.NotFound)
	_, err = v.Put("Observation/big", 1, make([]byte, MaxPlaintext+1))
	MustKind(t, err, cc.TooLarge)
}

func TestPutImmutable(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	h := MustPut(t, v, "Observation/1", 1, []byte("first"))
	tests := []struct {
		name  string
		plain []byte
		want  cc.Kind
	}{
		{"same content again", []byte("first"), 0},
		{"different content", []byte("second"), cc.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Put("Observation/1", 1, tt.plain)
			MustKind(t, err, tt.want)
			if err == nil && !bytes.Equal(got, h) {
				t.Errorf("hash = %x, want %x", got, h)
			}
		})
	}
	MustGet(t, v, "Observation/1", 1, h, []byte("first"))
}

func TestSaltedContentHash(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	plain := []byte(`{"resourceType":"Immunization","status":"completed"}`)
	a1 := MustPut(t, v, "Immunization/a", 1, plain)
	a2 := MustPut(t, v, "Immunization/a", 2, plain)
	b1 := MustPut(t, v, "Immunization/b", 1, plain)
	unsalted := sha256.Sum256(plain)
	zeroSalt := hmac.New(sha256.New, make([]byte, 32))
	zeroSalt.Write(plain)
	tests := []struct {
		name string
		a, b []byte
		same bool
	}{
		{"versions of one record", a1, a2, true},
		{"two records", a1, b1, false},
		{"plain SHA-256", a1, unsalted[:], false},
		{"HMAC with a zero salt", a1, zeroSalt.Sum(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(tt.a, tt.b); got != tt.same {
				t.Errorf("equal = %v, want %v (%x vs %x)", got, tt.same, tt.a, tt.b)
			}
		})
	}
	other := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	if h := MustPut(t, other, "Immunization/a", 1, plain); bytes.Equal(h, a1) {
		t.Errorf("the same record id in another vault got the same hash %x", h)
	}
}

func TestRecordIDsDoNotCollide(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	ids := []string{"Obs/1", "Obs/10", "Obs/1 ", "Obs/1\u00a0", "Obs"}
	hashes := map[string][]byte{}
	for _, id := range ids {
		hashes[id] = MustPut(t, v, id, 1, []byte(id))
	}
	if err := v.Shred("Obs/1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[1:] {
		MustGet(t, v, id, 1, hashes[id], []byte(id))
	}
	want := []string{"Obs@1", "Obs/1 @1", "Obs/10@1", "Obs/1\u00a0@1"}
	if got := MustRecords(t, v); !slices.Equal(got, want) {
		t.Errorf("Records = %q, want %q", got, want)
	}
}

func TestRecordsStops(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	for i := range 5 {
		MustPut(t, v, fmt.Sprintf("Obs/%d", i), 1, []byte("x"))
	}
	n := 0
	if err := v.Records(func(string, int) bool { n++; return n < 2 }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("fn called %d times, want 2", n)
	}
}

func TestClosed(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	h := MustPut(t, v, "Obs/1", 1, []byte("x"))
	MustClose(t, v)
	MustClose(t, v)
	_, err := v.Get("Obs/1", 1, h)
	MustKind(t, err, cc.Unavailable)
	_, err = v.Put("Obs/1", 2, nil)
	MustKind(t, err, cc.Unavailable)
}

func TestConcurrent(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := fmt.Sprintf("Obs/%d", i%10) // writers share records
				plain := resource(id, w*100+i+1, 200)
				h, err := v.Put(id, w*100+i+1, plain)
				if cc.Is(cc.Gone, err) && id == "Obs/9" {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				got, err := v.Get(id, w*100+i+1, h)
				if cc.Is(cc.Gone, err) && id == "Obs/9" {
					continue
				}
				if err != nil || !bytes.Equal(got, plain) {
					t.Errorf("Get: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		if err := v.RotateKEK(MustKEK(t, "kek-2", 2), nil); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if err := v.Shred("Obs/9"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	var problems []string
	if err := v.Verify(nil, func(id string, ver int, err error) {
		problems = append(problems, fmt.Sprintf("%s@%d: %v", id, ver, err))
	}); err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("Verify: %q", problems)
	}
}

// TestOpenRefusesForeignDatabase: a Pebble database that is not a vault
// (say, the ledger state's) is refused, not written into.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("s/state"), []byte("1"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, MustKEK(t, "kek-1", 1))
	MustKind(t, err, cc.Invalid)
	vdir := t.TempDir()
	MustOpen(t, vdir, MustKEK(t, "kek-1", 1))
	_, err = Open(vdir, MustKEK(t, "kek-1", 1)) // locked by the first
	MustKind(t, err, cc.Internal)
	if !strings.Contains(err.Error(), "cannot open the vault database in "+vdir) {
		t.Errorf("error %q does not say which directory", err)
	}
}
