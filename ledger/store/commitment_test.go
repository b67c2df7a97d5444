package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cometbft/cometbft/crypto/merkle"

	cc "carechain"
)

// refEntryHash is the spec's entry hash, written independently of hasher.
func refEntryHash(key string, value []byte) []byte {
	b := []byte("carechain-entry-v1")
	b = append(b, byte(len(key))) // keys in these tests are < 128 bytes: a one-byte uvarint
	b = append(b, key...)
	b = append(b, value...)
	s := sha256.Sum256(b)
	return s[:]
}

// refDigest is the spec's StateDigest of a whole state, with math/big.
func refDigest(state map[string]string) []byte {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	sum := new(big.Int)
	for k, v := range state {
		sum.Add(sum, new(big.Int).SetBytes(refEntryHash(k, []byte(v))))
	}
	sum.Mod(sum, mod)
	return sum.FillBytes(make([]byte, 32))
}

// refWritesRoot is the spec's WritesRoot of a block's final writes.
func refWritesRoot(ws []Write) []byte {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b Write) int { return strings.Compare(a.Key, b.Key) })
	var leaves [][]byte
	for _, w := range ws {
		l := append([]byte{byte(len(w.Key))}, w.Key...)
		if w.Deleted {
			l = append(l, 1)
			l = append(l, make([]byte, 32)...)
		} else {
			h := sha256.Sum256(w.Value)
			l = append(append(l, 0), h[:]...)
		}
		leaves = append(leaves, l)
	}
	return merkle.HashFromByteSlices(leaves)
}

func TestDigestArithmetic(t *testing.T) {
	mod := new(big.Int).Lsh(big.NewInt(1), 256)
	rng := rand.New(rand.NewSource(1))
	var d digest
	ref := new(big.Int)
	ones := bytes.Repeat([]byte{0xff}, 32)
	one := append(make([]byte, 31), 1)
	steps := [][]byte{ones, one, one, ones} // wrap around both ways first
	for range 200 {
		h := make([]byte, 32)
		rng.Read(h)
		steps = append(steps, h)
	}
	for i, h := range steps {
		var a [32]byte
		copy(a[:], h)
		if i%3 == 1 {
			d.sub(&a)
			ref.Sub(ref, new(big.Int).SetBytes(h))
		} else {
			d.add(&a)
			ref.Add(ref, new(big.Int).SetBytes(h))
		}
		ref.Mod(ref, mod)
		if got, want := d.bytes(), ref.FillBytes(make([]byte, 32)); !bytes.Equal(got, want) {
			t.Fatalf("step %d: digest %x, want %x", i, got, want)
		}
	}
	back, ok := digestFrom(d.bytes())
	if !ok || back != d {
		t.Errorf("digestFrom(bytes) = %v,%v, want %v", back, ok, d)
	}
}

func TestLeafAndEntryEncoding(t *testing.T) {
	xHash := sha256.Sum256([]byte("x"))
	cases := []struct {
		w    Write
		want []byte
	}{
		{set("ab", "x"), append([]byte{2, 'a', 'b', 0}, xHash[:]...)},
		{del("ab"), append([]byte{2, 'a', 'b', 1}, make([]byte, 32)...)},
		{Write{Key: "", Value: nil}, append([]byte{0, 0}, func() []byte { h := sha256.Sum256(nil); return h[:] }()...)},
	}
	for _, c := range cases {
		if got := Leaf(c.w); !bytes.Equal(got, c.want) {
			t.Errorf("Leaf(%+v) = %x, want %x", c.w, got, c.want)
		}
	}
	long := strings.Repeat("k", 200) // a two-byte uvarint length
	want := sha256.Sum256(append(append([]byte("carechain-entry-v1\xc8\x01"), long...), "v"...))
	if got := EntryHash(long, []byte("v")); !bytes.Equal(got, want[:]) {
		t.Errorf("EntryHash(long key) = %x, want %x", got, want)
	}
}

// TestAppHashGolden pins the commitment format: a change here changes every
// AppHash and forks the chain.
func TestAppHashGolden(t *testing.T) {
	s := MustOpenMem(t)
	s.SetGenesisHash(bytes.Repeat([]byte{0xaa}, 32))
	MustApply(t, s, set("did/alice", `{"k":1}`), set("did/bob", `{"k":2}`), del("did/carol"))
	app := MustApply(t, s, set("did/alice", `{"k":3}`), del("did/bob"))
	if got := hex.EncodeToString(app); got != goldenAppHash {
		t.Errorf("AppHash(2) = %s, want %s", got, goldenAppHash)
	}
}

const goldenAppHash = "d7481129814b788e2b6b92f3e0cce07fd23d601b99fdd1278d23f02ae07047de"

// TestIncrementalDigestMatchesRecompute drives many seeded random blocks and
// checks, at every height, the incremental digest against a full scan and
// against an independent math/big computation, and the AppHash against the
// spec formula.
func TestIncrementalDigestMatchesRecompute(t *testing.T) {
	s := MustOpenMem(t)
	rng := rand.New(rand.NewSource(42))
	model := map[string]string{}
	prev := []byte(nil)
	for h := int64(1); h <= 60; h++ {
		n := rng.Intn(40)
		var ws []Write
		for range n {
			k := fmt.Sprintf("%c/%d", 'a'+rune(rng.Intn(4)), rng.Intn(120))
			switch rng.Intn(4) {
			case 0:
				ws = append(ws, del(k))
			case 1:
				ws = append(ws, set(k, "")) // empty value
			default:
				ws = append(ws, set(k, fmt.Sprint(rng.Int63())))
			}
		}
		apply(s.Working(), ws)
		final := s.Working().Writes()
		for _, w := range ws {
			if w.Deleted {
				delete(model, w.Key)
			} else {
				model[w.Key] = string(w.Value)
			}
		}
		app := MustCommit(t, s)
		recomputed, err := s.RecomputeDigest()
		if err != nil {
			t.Fatal(err)
		}
		want := refDigest(model)
		if got := s.StateDigest(); !bytes.Equal(got, recomputed) || !bytes.Equal(got, want) {
			t.Fatalf("height %d: incremental %x, recomputed %x, reference %x", h, got, recomputed, want)
		}
		wantApp := sha256.Sum256(slices.Concat([]byte("carechain-apphash-v1"), prev, refWritesRoot(final), want))
		if len(final) == 0 && len(prev) > 0 {
			copy(wantApp[:], prev) // a block without writes keeps the AppHash
		}
		if !bytes.Equal(app, wantApp[:]) {
			t.Fatalf("height %d: AppHash %x, want %x", h, app, wantApp)
		}
		prev = app
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("VerifyState: %v", err)
	}
}

// TestTamperedStateEntry changes state entries behind the store's back: a
// full scan must no longer match the committed digest.
func TestTamperedStateEntry(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(b *pebble.Batch) error
	}{
		{"changed value", func(b *pebble.Batch) error {
			return b.Set(stateKey("b"), appendStateValue(nil, 1, []byte("forged")), nil)
		}},
		{"removed entry", func(b *pebble.Batch) error { return b.Delete(stateKey("a"), nil) }},
		{"added entry", func(b *pebble.Batch) error { return b.Set(stateKey("z"), appendStateValue(nil, 1, []byte("1")), nil) }},
		{"truncated entry", func(b *pebble.Batch) error { return b.Set(stateKey("b"), []byte("2"), nil) }},
		{"changed digest", func(b *pebble.Batch) error {
			m := &BlockMeta{Height: 1, WritesRoot: make([]byte, 32), StateDigest: make([]byte, 32), AppHash: make([]byte, 32)}
			return b.Set(blockKey(1), encodeMeta(m), nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := MustOpenMem(t)
			MustApply(t, s, set("a", "1"), set("b", "2"))
			before := s.StateDigest()
			b := s.db.NewBatch()
			if err := c.tamper(b); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(pebble.Sync); err != nil {
				t.Fatal(err)
			}
			got, err := s.RecomputeDigest()
			if c.name == "truncated entry" {
				MustKind(t, err, cc.Integrity)
				_, err = s.Committed().Get("b")
				MustKind(t, err, cc.Integrity)
				MustKind(t, s.Committed().Iterate("", func(string, []byte) bool { return true }), cc.Integrity)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.name != "changed digest" && bytes.Equal(got, before) {
				t.Errorf("RecomputeDigest after tampering = stored digest %x", got)
			}
			MustKind(t, s.VerifyState(), cc.Integrity)
		})
	}
}

func TestEmptyBlockKeepsAppHash(t *testing.T) {
	s, err := OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Working().Set("a", []byte("1"))
	h1, err := s.FinalizeBlock(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	h2, err := s.FinalizeBlock(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h1, h2) {
		t.Errorf("empty block changed the AppHash: %x → %x", h1, h2)
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("VerifyState after an empty block: %v", err)
	}
	s.Working().Set("a", []byte("2"))
	h3, _ := s.FinalizeBlock(3)
	if bytes.Equal(h3, h2) {
		t.Errorf("a block with writes kept the AppHash")
	}
}

// TestSetSharedSums: writes handed over with their precomputed Sums give
// the same AppHash and proofs as plain writes, also when a later plain
// write replaces one of them in the same block (its Sums are dropped).
func TestSetSharedSums(t *testing.T) {
	plain, summed := MustOpenMem(t), MustOpenMem(t)
	for h := 1; h <= 3; h++ {
		ws := []Write{set(fmt.Sprintf("k/%d/a", h), "1"), set("k/shared", fmt.Sprint("v", h)), set("k/replaced", "old"), del(fmt.Sprintf("k/%d/a", h-1))}
		sums := SumsOf(ws)
		if sums[3] != nil {
			t.Fatal("a deletion has Sums")
		}
		for i, w := range ws {
			if w.Deleted {
				plain.Working().Delete(w.Key)
				summed.Working().Delete(w.Key)
				continue
			}
			plain.Working().Set(w.Key, w.Value)
			summed.Working().SetSharedSums(w.Key, w.Value, sums[i])
		}
		plain.Working().Set("k/replaced", []byte(fmt.Sprint("new", h)))
		summed.Working().Set("k/replaced", []byte(fmt.Sprint("new", h)))
		want, err := plain.FinalizeBlock(int64(h))
		if err != nil {
			t.Fatal(err)
		}
		got, err := summed.FinalizeBlock(int64(h))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("height %d: AppHash %x with Sums, %x without", h, got, want)
		}
		for _, s := range []*Store{plain, summed} {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		p, err := summed.Proof("k/shared")
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyProofAgainst(p, got); err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
	}
	// Sums that are not the value's change the AppHash: they are used.
	plain.Working().Set("k/x", []byte("1"))
	summed.Working().SetSharedSums("k/x", []byte("1"), SumsOf([]Write{set("k/x", "2")})[0])
	want, _ := plain.FinalizeBlock(4)
	if got, _ := summed.FinalizeBlock(4); bytes.Equal(got, want) {
		t.Error("wrong Sums gave the right AppHash: FinalizeBlock hashed the value itself")
	}
}
