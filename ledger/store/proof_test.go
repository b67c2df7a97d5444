package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cometbft/cometbft/crypto/merkle"

	cc "carechain"
)

// MustProof returns the proof of key's latest write.
func MustProof(t testing.TB, s *Store, key string) *Proof {
	t.Helper()
	p, err := s.Proof(key)
	if err != nil {
		t.Fatalf("Proof(%q): %v", key, err)
	}
	return p
}

// MustAppHashAt returns the AppHash of committed block h.
func MustAppHashAt(t testing.TB, s *Store, h int64) []byte {
	t.Helper()
	m, err := s.BlockMeta(h)
	if err != nil {
		t.Fatalf("BlockMeta(%d): %v", h, err)
	}
	return m.AppHash
}

// TestProofsVerify proves every write of blocks of 1 to 17 writes (every
// Merkle tree shape up to 17 leaves) against its block's AppHash.
func TestProofsVerify(t *testing.T) {
	s := MustOpenMem(t)
	s.SetGenesisHash([]byte("genesis of any length"))
	for n := 1; n <= 17; n++ {
		var ws []Write
		for i := range n {
			k := fmt.Sprintf("r/%02d/%02d", n, i)
			if i%4 == 3 {
				ws = append(ws, del(k))
			} else {
				ws = append(ws, set(k, fmt.Sprintf("value %d of block %d", i, n)))
			}
		}
		MustApply(t, s, ws...)
	}
	for h := int64(1); h <= 17; h++ {
		ws, err := s.BlockWrites(h)
		if err != nil {
			t.Fatal(err)
		}
		want := MustAppHashAt(t, s, h)
		for _, w := range ws {
			p, err := s.ProofAt(w.Key, h)
			if err != nil {
				t.Fatalf("ProofAt(%q, %d): %v", w.Key, h, err)
			}
			if p.Deleted != w.Deleted || !bytes.Equal(p.Value, w.Value) || p.Height != h {
				t.Errorf("ProofAt(%q, %d) = %+v, want write %+v", w.Key, h, p, w)
			}
			if err := VerifyProofAgainst(p, want); err != nil {
				t.Errorf("VerifyProofAgainst(%q, %d): %v", w.Key, h, err)
			}
		}
	}
}

func TestProofLatestWrite(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("k", "v1"), set("other", "x"))
	MustApply(t, s, set("unrelated", "y"))
	app3 := MustApply(t, s, set("k", "v3"))
	app4 := MustApply(t, s, del("other"))
	// A key deleted, set again, then deleted again: its latest write moves
	// from the deletion record to the state entry and back.
	MustApply(t, s, set("back", "1"))
	MustApply(t, s, del("back"))
	app7 := MustApply(t, s, set("back", "2"))
	MustApply(t, s, set("again", "1"))
	MustApply(t, s, del("again"))
	MustApply(t, s, set("again", "2"))
	app11 := MustApply(t, s, del("again"))

	cases := []struct {
		key     string
		height  int64
		value   string
		deleted bool
		app     []byte
	}{
		{"k", 3, "v3", false, app3},
		{"other", 4, "", true, app4},
		{"back", 7, "2", false, app7},
		{"again", 11, "", true, app11},
	}
	for _, c := range cases {
		p := MustProof(t, s, c.key)
		if p.Height != c.height || string(p.Value) != c.value || p.Deleted != c.deleted {
			t.Errorf("Proof(%q) = height %d value %q deleted %v, want %d %q %v", c.key, p.Height, p.Value, p.Deleted, c.height, c.value, c.deleted)
		}
		got, err := VerifyProof(p)
		if err != nil || !bytes.Equal(got, c.app) {
			t.Errorf("VerifyProof(Proof(%q)) = %x, %v, want %x", c.key, got, err, c.app)
		}
	}
	old, err := s.ProofAt("k", 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(old.Value) != "v1" {
		t.Errorf("ProofAt(k, 1).Value = %q, want v1", old.Value)
	}
	if err := VerifyProofAgainst(old, MustAppHashAt(t, s, 1)); err != nil {
		t.Errorf("old proof: %v", err)
	}
	MustKind(t, VerifyProofAgainst(old, app3), cc.Integrity)

	notFound := []struct {
		key    string
		height int64
	}{
		{"never", -1}, {"k", 2}, {"k", 0}, {"k", 9}, {"never", 1},
	}
	for _, c := range notFound {
		var err error
		if c.height < 0 {
			_, err = s.Proof(c.key)
		} else {
			_, err = s.ProofAt(c.key, c.height)
		}
		if cc.KindOf(err) != cc.NotFound {
			t.Errorf("proof of %q at %d: error %v, want NotFound", c.key, c.height, err)
		}
	}
}

func TestProofJSONRoundTrip(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("a", "1"), set("b", "2"), set("c", "3"))
	app := MustApply(t, s, set("b", "two"), del("c"), set("d", ""))
	for _, key := range []string{"b", "c", "d"} {
		b, err := json.Marshal(MustProof(t, s, key))
		if err != nil {
			t.Fatal(err)
		}
		var p Proof
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if err := VerifyProofAgainst(&p, app); err != nil {
			t.Errorf("%s: decoded proof %s: %v", key, b, err)
		}
	}
}

// TestTamperedProofs flips every byte of every field of a proof, one at a
// time, and expects an Integrity error each time.
func TestTamperedProofs(t *testing.T) {
	s := MustOpenMem(t)
	s.SetGenesisHash(bytes.Repeat([]byte{7}, 32))
	MustApply(t, s, set("x", "0"))
	var ws []Write
	for i := range 6 {
		ws = append(ws, set(fmt.Sprintf("k/%d", i), fmt.Sprintf("value-%d", i)))
	}
	ws = append(ws, del("x"))
	app := MustApply(t, s, ws...)

	for _, key := range []string{"k/2", "x"} {
		orig := MustProof(t, s, key)
		if err := VerifyProofAgainst(orig, app); err != nil {
			t.Fatalf("untampered proof of %q: %v", key, err)
		}
		type mutation struct {
			name string
			f    func(p *Proof)
		}
		var ms []mutation
		flips := func(name string, field func(p *Proof) []byte) {
			for i := range len(field(orig)) {
				ms = append(ms, mutation{fmt.Sprintf("%s[%d]", name, i), func(p *Proof) { field(p)[i] ^= 0x01 }})
			}
		}
		flips("value", func(p *Proof) []byte { return p.Value })
		flips("prev_app_hash", func(p *Proof) []byte { return p.PrevAppHash })
		flips("state_digest", func(p *Proof) []byte { return p.StateDigest })
		flips("writes_root", func(p *Proof) []byte { return p.WritesRoot })
		flips("app_hash", func(p *Proof) []byte { return p.AppHash })
		flips("leaf_hash", func(p *Proof) []byte { return p.Merkle.LeafHash })
		for a := range orig.Merkle.Aunts {
			flips(fmt.Sprintf("aunt%d", a), func(p *Proof) []byte { return p.Merkle.Aunts[a] })
		}
		ms = append(ms,
			mutation{"key byte", func(p *Proof) { p.Key = p.Key[:len(p.Key)-1] + "9" }},
			mutation{"key longer", func(p *Proof) { p.Key += "/" }},
			mutation{"deleted flag", func(p *Proof) { p.Deleted = !p.Deleted }},
			mutation{"value added", func(p *Proof) { p.Value = append(p.Value, 'z') }},
			mutation{"value to another key's", func(p *Proof) { p.Value = []byte("value-3") }},
			mutation{"index", func(p *Proof) { p.Merkle.Index ^= 1 }},
			mutation{"total too small", func(p *Proof) { p.Merkle.Total = p.Merkle.Index }},
			mutation{"aunt dropped", func(p *Proof) { p.Merkle.Aunts = p.Merkle.Aunts[1:] }},
			mutation{"no merkle", func(p *Proof) { p.Merkle = nil }},
			mutation{"height zero", func(p *Proof) { p.Height = 0 }},
			mutation{"short digest", func(p *Proof) { p.StateDigest = p.StateDigest[1:] }},
			mutation{"prev app hash dropped", func(p *Proof) { p.PrevAppHash = nil }},
		)
		for _, m := range ms {
			p := cloneProof(orig)
			m.f(p)
			_, err := VerifyProof(p)
			if cc.KindOf(err) != cc.Integrity {
				t.Errorf("%s: %s: VerifyProof error %v, want Integrity", key, m.name, err)
			}
		}
		// Height is not hashed, and Merkle.Total is only a position hint
		// (RFC 6962 paths do not always fix it): the leaf and the hashes are
		// what is proven, and a proof moved to another height is caught by
		// the header comparison.
		p := cloneProof(orig)
		p.Height = 1
		MustKind(t, VerifyProofAgainst(p, MustAppHashAt(t, s, 1)), cc.Integrity)
	}
}

func cloneProof(p *Proof) *Proof {
	q := *p
	q.Value = bytes.Clone(p.Value)
	q.PrevAppHash = bytes.Clone(p.PrevAppHash)
	q.StateDigest = bytes.Clone(p.StateDigest)
	q.WritesRoot = bytes.Clone(p.WritesRoot)
	q.AppHash = bytes.Clone(p.AppHash)
	m := *p.Merkle
	m.LeafHash = bytes.Clone(m.LeafHash)
	m.Aunts = make([][]byte, len(p.Merkle.Aunts))
	for i, a := range p.Merkle.Aunts {
		m.Aunts[i] = bytes.Clone(a)
	}
	q.Merkle = &m
	return &q
}

// TestTamperedStoredWrites changes a stored write of a block: the store must
// refuse to build a proof from it.
func TestTamperedStoredWrites(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("a", "1"), set("b", "2"))
	store := func(ws ...Write) {
		t.Helper()
		if err := s.db.Set(writesKey(1), encodeWritesRecord(ws, false), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	store(set("a", "1"), set("b", "forged"))
	_, err := s.ProofAt("a", 1)
	MustKind(t, err, cc.Integrity)
	store(set("a", "1"), set("b", "2"), set("c", "extra"))
	_, err = s.BlockWrites(1)
	MustKind(t, err, cc.Integrity)
	store(set("b", "2"), set("a", "1"))
	_, err = s.BlockWrites(1)
	MustKind(t, err, cc.Integrity)
	store(set("a", "1"), set("b", "2"))
	b, _ := s.rawGet(writesKey(1))
	for _, cut := range []int{1, 3, len(b) - 1} {
		if err := s.db.Set(writesKey(1), b[:cut], pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_, err = s.BlockWrites(1)
		MustKind(t, err, cc.Integrity)
	}
	// An unknown codec, and a plain record whose body is the writes with
	// one flipped: refused as well.
	snappyBlock := append([]byte{writesMinLZ, 6}, 4, 12, 'a', 'b', 'c', 'd') // a Snappy block, not MinLZ
	for _, rec := range [][]byte{
		append([]byte{7}, b[1:]...),
		snappyBlock,
		append([]byte{writesPlain}, encodeWritesRecord([]Write{set("a", "1"), set("b", "3")}, true)...),
	} {
		if err := s.db.Set(writesKey(1), rec, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		_, err = s.ProofAt("a", 1)
		MustKind(t, err, cc.Integrity)
	}
	if err := s.db.Delete(writesKey(1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_, err = s.BlockWrites(1)
	MustKind(t, err, cc.Integrity)
}

// TestWritesRecordRoundTrip: every block's writes — values, empty values,
// deletions, binary keys — come back from the stored record as written.
func TestWritesRecordRoundTrip(t *testing.T) {
	tests := [][]Write{
		nil,
		{set("a", "")},
		{del("a")},
		{set("a", "1"), del("b"), set("c", strings.Repeat("v", 300)), set("d\x00\xff", "\x00")},
		{set("big", strings.Repeat("x", writesChunk)), set("tail", "more than one MinLZ block")},
	}
	for _, ws := range tests {
		var b []byte
		for _, w := range ws {
			b = appendWrite(b, w)
		}
		if len(b) > writesSize(ws) {
			t.Errorf("%v: %d bytes, writesSize says %d", ws, len(b), writesSize(ws))
		}
		for _, rec := range []struct {
			name  string
			b     []byte
			plain bool
		}{
			{"v3", encodeWritesRecord(ws, true), true},
			{"v4", encodeWritesRecord(ws, false), false},
			{"v4 plain codec", append([]byte{writesPlain}, b...), false},
		} {
			got, err := decodeWritesRecord(rec.b, rec.plain)
			if err != nil {
				t.Fatalf("%s %v: %v", rec.name, ws, err)
			}
			if len(got) != len(ws) {
				t.Fatalf("%s: decoded %d writes, want %d", rec.name, len(got), len(ws))
			}
			for i := range ws {
				if got[i].Key != ws[i].Key || got[i].Deleted != ws[i].Deleted || !bytes.Equal(got[i].Value, ws[i].Value) {
					t.Errorf("%s: write %d = %+v, want %+v", rec.name, i, got[i], ws[i])
				}
			}
		}
		if rec := encodeWritesRecord(ws, false); rec[0] != writesMinLZ {
			t.Errorf("v4 record starts with codec %d, want %d (MinLZ)", rec[0], writesMinLZ)
		}
	}
}

// TestWritesRecordCompressed: a v4 store keeps a block's writes compressed
// (a block of similar keys and values shrinks several times) and gives them
// back exactly, proofs included.
func TestWritesRecordCompressed(t *testing.T) {
	s := MustOpenMem(t)
	var ws []Write
	for i := range 1000 {
		ws = append(ws, set(fmt.Sprintf("sup/i/urn:epc:id:sgtin:0614141.107346.%06d", i), fmt.Sprintf(`{"owner":"acme-logistics","status":"active","lot":"LOT-1","n":%d}`, i)))
	}
	MustApply(t, s, ws...)
	rec, err := s.rawGet(writesKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if plain := len(encodeWritesRecord(ws, true)); len(rec)*4 > plain {
		t.Errorf("stored writes record is %d bytes, the plain encoding %d: want it compressed at least 4×", len(rec), plain)
	}
	got, err := s.BlockWrites(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ws) {
		t.Fatalf("got %d writes, want %d", len(got), len(ws))
	}
	for i := range ws {
		if got[i].Key != ws[i].Key || !bytes.Equal(got[i].Value, ws[i].Value) {
			t.Fatalf("write %d = %+v, want %+v", i, got[i], ws[i])
		}
	}
	p, err := s.ProofAt(ws[500].Key, 1)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := s.BlockMeta(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProofAgainst(p, meta.AppHash); err != nil {
		t.Fatal(err)
	}
}

// TestLayoutV3Continues: a store created in layout v3 (uncompressed block
// writes) opens with this version, continues in v3 — its version record
// unchanged, new blocks' writes stored plain — and proves old and new
// writes alike.
func TestLayoutV3Continues(t *testing.T) {
	dir := t.TempDir()
	s := MustOpen(t, dir)
	s.plainWrites = true // as a v3 program created it
	MustApply(t, s, set("a", "1"), set("b", "2"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, dir)
	defer s.Close()
	if !s.plainWrites {
		t.Fatal("a v3 store was not opened as v3")
	}
	MustApply(t, s, set("a", "3"), del("b"))
	v, err := s.rawGet(keyVersion)
	if err != nil || string(v) != formatV3 {
		t.Fatalf("layout version %q, %v; want %q", v, err, formatV3)
	}
	for h := int64(1); h <= 2; h++ {
		rec, err := s.rawGet(writesKey(h))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeWrites(rec); err != nil {
			t.Errorf("block %d: the v3 record does not decode as plain writes: %v", h, err)
		}
		meta, err := s.BlockMeta(h)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.ProofAt("a", h)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyProofAgainst(p, meta.AppHash); err != nil {
			t.Errorf("block %d: %v", h, err)
		}
	}
}

// TestWritesRootMatchesLibrary: the root FinalizeBlock computes from leaf
// hashes (its own or an admission's Sums) is merkle.HashFromByteSlices of
// the leaves, for 0 to 70 leaves.
func TestWritesRootMatchesLibrary(t *testing.T) {
	x := newHasher()
	for n := 0; n <= 70; n++ {
		var leaves, hashes [][]byte
		var ws []Write
		for i := range n {
			w := set(fmt.Sprintf("k/%03d", i), fmt.Sprint(i*i))
			ws = append(ws, w)
			leaves = append(leaves, Leaf(w))
			hashes = append(hashes, x.leafHash(Leaf(w)))
		}
		want := merkle.HashFromByteSlices(leaves)
		if got := writesRoot(x.h, hashes); !bytes.Equal(got, want) {
			t.Fatalf("n=%d: root %x, library %x", n, got, want)
		}
		for i, s := range SumsOf(ws) {
			hashes[i] = s.leaf[:]
		}
		if got := writesRoot(x.h, hashes); !bytes.Equal(got, want) {
			t.Fatalf("n=%d: root from Sums %x, library %x", n, got, want)
		}
	}
}

// TestMerkleProofMatchesLibrary checks the single-leaf proof builder
// against the CometBFT merkle library for every tree of 1 to 70 leaves and
// every leaf.
func TestMerkleProofMatchesLibrary(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = Leaf(set(fmt.Sprintf("k/%03d", i), fmt.Sprint(i*i)))
		}
		wantRoot, wantProofs := merkle.ProofsFromByteSlices(leaves)
		if lib := merkle.HashFromByteSlices(leaves); !bytes.Equal(lib, wantRoot) {
			t.Fatalf("n=%d: library roots disagree", n)
		}
		for i := range leaves {
			root, p := merkleProof(leaves, i)
			w := wantProofs[i]
			if !bytes.Equal(root, wantRoot) || p.Total != w.Total || p.Index != w.Index ||
				!bytes.Equal(p.LeafHash, w.LeafHash) || !slices.EqualFunc(p.Aunts, w.Aunts, bytes.Equal) {
				t.Fatalf("n=%d i=%d: proof %+v root %x, library %+v root %x", n, i, p, root, w, wantRoot)
			}
			if err := p.Verify(root, leaves[i]); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
		}
	}
}

// encodeWritesRecord is a fresh recordBuffers' encode of writes.
func encodeWritesRecord(writes []Write, plain bool) []byte {
	var buf recordBuffers
	return buf.encode(writes, plain)
}
