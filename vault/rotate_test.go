package vault

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	cc "carechain"
)

// fillVault stores n records of two versions each and returns their
// hashes by "id@version".
func fillVault(t *testing.T, v *Vault, n int) map[string][]byte {
	t.Helper()
	hashes := map[string][]byte{}
	var items []Item
	for i := range n {
		for ver := 1; ver <= 2; ver++ {
			id := fmt.Sprintf("Observation/%04d", i)
			items = append(items, Item{id, ver, resource(id, ver, 100)})
		}
	}
	got, err := v.PutBatch(items)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		hashes[fmt.Sprintf("%s@%d", it.RecordID, it.Version)] = got[i]
	}
	return hashes
}

// mustReadAll reads every version of fillVault's records.
func mustReadAll(t *testing.T, v *Vault, hashes map[string][]byte) {
	t.Helper()
	for ref, h := range hashes {
		id, verText, _ := strings.Cut(ref, "@")
		ver := int(verText[0] - '0')
		MustGet(t, v, id, ver, h, resource(id, ver, 100))
	}
}

func TestRotateKEK(t *testing.T) {
	dir := t.TempDir()
	old, next := MustKEK(t, "kek-1", 1), MustKEK(t, "kek-2", 2)
	v := MustOpen(t, dir, old)
	const records = 400 // 400 salts + 800 data keys: several batches
	hashes := fillVault(t, v, records)

	var calls [][2]int
	if err := v.RotateKEK(next, func(done, total int) { calls = append(calls, [2]int{done, total}) }); err != nil {
		t.Fatal(err)
	}
	const total = 3 * records
	if len(calls) < 3 || calls[0] != [2]int{0, total} || calls[len(calls)-1] != [2]int{total, total} {
		t.Errorf("progress calls = %v, want 0/%d first and %d/%d last", calls, total, total, total)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("progress went back: %v then %v", calls[i-1], calls[i])
		}
	}
	usage, err := v.KEKUsage()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"kek-2": total}; !maps.Equal(usage, want) {
		t.Errorf("KEKUsage = %v, want %v", usage, want)
	}
	h := MustPut(t, v, "Observation/after", 1, []byte("after")) // wrapped by the new KEK
	MustClose(t, v)

	v = MustOpen(t, dir, next) // the new KEK alone reads everything
	mustReadAll(t, v, hashes)
	MustGet(t, v, "Observation/after", 1, h, []byte("after"))
	if err := v.RotateKEK(next, nil); err != nil {
		t.Fatalf("rotating to the current KEK: %v", err)
	}
	MustClose(t, v)

	v = MustOpen(t, dir, old) // the old KEK alone reads nothing
	_, err = v.Get("Observation/0001", 1, hashes["Observation/0001@1"])
	MustKind(t, err, cc.Integrity)
	if !strings.Contains(err.Error(), `KEK "kek-2"`) {
		t.Errorf("error %q does not name the KEK", err)
	}
}

// TestRotateKEKCrash fails a rotation's third batch, as a crash would, and
// checks that every key stays readable with both KEKs and that running the
// rotation again finishes it.
func TestRotateKEKCrash(t *testing.T) {
	dir := t.TempDir()
	old, next := MustKEK(t, "kek-1", 1), MustKEK(t, "kek-2", 2)
	v := MustOpen(t, dir, old)
	hashes := fillVault(t, v, 400)
	commits := 0
	v.beforeCommit = func() error {
		if commits++; commits == 3 {
			return errors.New("simulated crash")
		}
		return nil
	}
	err := v.RotateKEK(next, nil)
	MustKind(t, err, cc.Internal)
	v.beforeCommit = nil
	MustClose(t, v)

	// A restart with the old KEK alone cannot read what was re-wrapped.
	v = MustOpen(t, dir, old)
	_, err = v.Get("Observation/0000", 1, hashes["Observation/0000@1"])
	MustKind(t, err, cc.Integrity)
	if !strings.Contains(err.Error(), `KEK "kek-2", which is not loaded`) {
		t.Errorf("error %q does not name the missing KEK", err)
	}
	MustClose(t, v)

	v = MustOpen(t, dir, next, old)
	usage, err := v.KEKUsage()
	if err != nil {
		t.Fatal(err)
	}
	// The first batch re-wrapped the 400 salts, the second 512 data keys.
	if want := map[string]int{"kek-1": 800 - rotateBatch, "kek-2": 400 + rotateBatch}; !maps.Equal(usage, want) {
		t.Errorf("KEKUsage after the crash = %v, want %v", usage, want)
	}
	mustReadAll(t, v, hashes)
	if err := v.RotateKEK(next, nil); err != nil {
		t.Fatal(err)
	}
	MustClose(t, v)
	v = MustOpen(t, dir, next)
	mustReadAll(t, v, hashes)
}

func TestRotateKEKRefuses(t *testing.T) {
	v := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	MustPut(t, v, "Obs/1", 1, []byte("x"))
	tests := []struct {
		name string
		kek  *KEK
		want cc.Kind
	}{
		{"nil", nil, cc.Invalid},
		{"another key under the current id", MustKEK(t, "kek-1", 2), cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MustKind(t, v.RotateKEK(tt.kek, nil), tt.want)
		})
	}
	// An id the vault recorded with another key, not loaded now.
	v2 := MustOpenMem(t, MustKEK(t, "kek-1", 1))
	MustPut(t, v2, "Obs/1", 1, []byte("x"))
	if err := v2.RotateKEK(MustKEK(t, "kek-2", 2), nil); err != nil {
		t.Fatal(err)
	}
	v2.ring.Store(&keyring{primary: MustKEK(t, "kek-3", 3), byID: map[string]*KEK{"kek-3": MustKEK(t, "kek-3", 3)}})
	MustKind(t, v2.RotateKEK(MustKEK(t, "kek-2", 9), nil), cc.Integrity)
}
