package store

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	cc "carechain"
)

// kvPair is one visited entry.
type kvPair struct{ K, V string }

// MustCollect iterates r under prefix, stopping after limit entries when
// limit > 0, and returns what it saw.
func MustCollect(t testing.TB, r cc.Reader, prefix string, limit int) []kvPair {
	t.Helper()
	var out []kvPair
	err := r.Iterate(prefix, func(k string, v []byte) bool {
		out = append(out, kvPair{k, string(v)})
		return limit <= 0 || len(out) < limit
	})
	if err != nil {
		t.Fatalf("Iterate(%q): %v", prefix, err)
	}
	return out
}

// MustGet returns r's value of key as a string and whether it was present.
func MustGet(t testing.TB, r cc.Reader, key string) (string, bool) {
	t.Helper()
	v, err := r.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v), v != nil
}

// parentKinds builds the same parent state as a plain overlay and as
// committed store state, so overlay semantics are checked over both.
var parentKinds = []struct {
	name  string
	build func(t *testing.T, entries map[string]string) cc.Reader
}{
	{"overlay", func(t *testing.T, entries map[string]string) cc.Reader {
		p := NewOverlay(nil)
		for k, v := range entries {
			p.Set(k, []byte(v))
		}
		return p
	}},
	{"committed", func(t *testing.T, entries map[string]string) cc.Reader {
		s := MustOpenMem(t)
		for k, v := range entries {
			s.Working().Set(k, []byte(v))
		}
		MustCommit(t, s)
		return s.Committed()
	}},
}

func TestOverlaySemantics(t *testing.T) {
	parentEntries := map[string]string{"a/1": "p1", "a/2": "p2", "a/3": "p3", "b/1": "pb", "ab": "pab"}
	for _, pk := range parentKinds {
		t.Run(pk.name, func(t *testing.T) {
			o := NewOverlay(pk.build(t, parentEntries))
			o.Set("a/2", []byte("c2"))
			o.Delete("a/3")
			o.Set("a/0", []byte("c0"))
			o.Set("a/4", []byte("c4"))
			o.Delete("zz") // absent in the parent
			o.Set("b/0", []byte("cb"))
			o.Set("tmp", []byte("x"))
			o.Delete("tmp") // set then delete: a deletion

			gets := []struct {
				key     string
				want    string
				present bool
			}{
				{"a/0", "c0", true},
				{"a/1", "p1", true},
				{"a/2", "c2", true},
				{"a/3", "", false},
				{"zz", "", false},
				{"tmp", "", false},
				{"nope", "", false},
			}
			for _, g := range gets {
				got, ok := MustGet(t, o, g.key)
				if got != g.want || ok != g.present {
					t.Errorf("Get(%q) = %q,%v, want %q,%v", g.key, got, ok, g.want, g.present)
				}
			}

			iters := []struct {
				prefix string
				limit  int
				want   []kvPair
			}{
				{"a/", 0, []kvPair{{"a/0", "c0"}, {"a/1", "p1"}, {"a/2", "c2"}, {"a/4", "c4"}}},
				{"a/", 2, []kvPair{{"a/0", "c0"}, {"a/1", "p1"}}},
				{"a/", 3, []kvPair{{"a/0", "c0"}, {"a/1", "p1"}, {"a/2", "c2"}}},
				{"a", 0, []kvPair{{"a/0", "c0"}, {"a/1", "p1"}, {"a/2", "c2"}, {"a/4", "c4"}, {"ab", "pab"}}},
				{"b/", 0, []kvPair{{"b/0", "cb"}, {"b/1", "pb"}}},
				{"b/", 1, []kvPair{{"b/0", "cb"}}},
				{"c/", 0, nil},
				{"", 0, []kvPair{{"a/0", "c0"}, {"a/1", "p1"}, {"a/2", "c2"}, {"a/4", "c4"}, {"ab", "pab"}, {"b/0", "cb"}, {"b/1", "pb"}}},
				{"", 1, []kvPair{{"a/0", "c0"}}},
			}
			for _, it := range iters {
				got := MustCollect(t, o, it.prefix, it.limit)
				if !slices.Equal(got, it.want) {
					t.Errorf("Iterate(%q, limit %d) = %v, want %v", it.prefix, it.limit, got, it.want)
				}
			}

			wantWrites := []Write{
				{Key: "a/0", Value: []byte("c0")},
				{Key: "a/2", Value: []byte("c2")},
				{Key: "a/3", Deleted: true},
				{Key: "a/4", Value: []byte("c4")},
				{Key: "b/0", Value: []byte("cb")},
				{Key: "tmp", Deleted: true},
				{Key: "zz", Deleted: true},
			}
			if got := o.Writes(); !equalWrites(got, wantWrites) {
				t.Errorf("Writes() = %v, want %v", got, wantWrites)
			}
			if got, want := o.Len(), len(wantWrites); got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			o.Discard()
			if got := o.Writes(); len(got) != 0 {
				t.Errorf("Writes() after Discard = %v, want none", got)
			}
			if got, ok := MustGet(t, o, "a/3"); got != "p3" || !ok {
				t.Errorf("Get(a/3) after Discard = %q,%v, want p3,true", got, ok)
			}
		})
	}
}

func equalWrites(a, b []Write) bool {
	return slices.EqualFunc(a, b, func(x, y Write) bool {
		return x.Key == y.Key && x.Deleted == y.Deleted && string(x.Value) == string(y.Value)
	})
}

func TestOverlayValuesAreCopied(t *testing.T) {
	o := NewOverlay(nil)
	in := []byte("abc")
	o.Set("k", in)
	in[0] = 'X'
	got, _ := o.Get("k")
	if string(got) != "abc" {
		t.Fatalf("Get after caller changed its slice = %q, want abc", got)
	}
	got[0] = 'Y'
	if again, _ := MustGet(t, o, "k"); again != "abc" {
		t.Errorf("Get after caller changed the result = %q, want abc", again)
	}
	o.Set("empty", nil)
	if v, err := o.Get("empty"); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get(empty) = %v,%v, want a present empty value", v, err)
	}
}

func TestOverlayWritesDuringIterate(t *testing.T) {
	o := NewOverlay(nil)
	for i := range 5 {
		o.Set(fmt.Sprintf("k/%d", i), []byte("v"))
	}
	var seen []string
	err := o.Iterate("k/", func(k string, _ []byte) bool {
		seen = append(seen, k)
		o.Set(k+"x", []byte("new")) // would be visited if the iteration saw it
		o.Delete("k/4")
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k/0", "k/1", "k/2", "k/3", "k/4"}; !slices.Equal(seen, want) {
		t.Errorf("visited %v, want %v", seen, want)
	}
	if _, ok := MustGet(t, o, "k/4"); ok {
		t.Errorf("k/4 still present after Delete")
	}
}

func TestOverlayNestedFlush(t *testing.T) {
	s := MustOpenMem(t)
	s.Working().Set("x/keep", []byte("base"))
	s.Working().Set("x/gone", []byte("base"))
	MustCommit(t, s)

	block := s.Working()
	tx := NewOverlay(block)
	inner := NewOverlay(tx)
	inner.Set("x/new", []byte("inner"))
	inner.Delete("x/gone")
	if _, ok := MustGet(t, tx, "x/new"); ok {
		t.Fatalf("tx sees inner write before Flush")
	}
	inner.Flush(tx)
	if inner.Len() != 0 {
		t.Errorf("inner not empty after Flush")
	}
	tx.Set("x/keep", []byte("tx"))
	failed := NewOverlay(block)
	failed.Set("x/failed", []byte("no"))
	failed.Discard()
	failed.Flush(block) // flushing an emptied overlay writes nothing

	if got := MustCollect(t, block, "x/", 0); !slices.Equal(got, []kvPair{{"x/gone", "base"}, {"x/keep", "base"}}) {
		t.Errorf("block before tx flush = %v", got)
	}
	tx.Flush(block)
	want := []kvPair{{"x/keep", "tx"}, {"x/new", "inner"}}
	if got := MustCollect(t, block, "x/", 0); !slices.Equal(got, want) {
		t.Errorf("block after flush = %v, want %v", got, want)
	}
	if got := MustCollect(t, s.Committed(), "x/", 0); !slices.Equal(got, []kvPair{{"x/gone", "base"}, {"x/keep", "base"}}) {
		t.Errorf("committed changed before Commit: %v", got)
	}
	wantWrites := []Write{{Key: "x/gone", Deleted: true}, {Key: "x/keep", Value: []byte("tx")}, {Key: "x/new", Value: []byte("inner")}}
	if got := block.Writes(); !equalWrites(got, wantWrites) {
		t.Errorf("block writes = %v, want %v", got, wantWrites)
	}

	// Flush into a KV that is not an Overlay goes through Set/Delete.
	rec := &recordingKV{Overlay: NewOverlay(nil)}
	src := NewOverlay(nil)
	src.Set("b", []byte("2"))
	src.Delete("c")
	src.Set("a", []byte("1"))
	src.Flush(rec)
	if want := []string{"set a", "set b", "delete c"}; !slices.Equal(rec.calls, want) {
		t.Errorf("Flush calls = %v, want %v", rec.calls, want)
	}
}

// recordingKV is a cc.KV that is not an *Overlay and logs its writes.
type recordingKV struct {
	*Overlay
	calls []string
}

func (r *recordingKV) Set(k string, v []byte) {
	r.calls = append(r.calls, "set "+k)
	r.Overlay.Set(k, v)
}

func (r *recordingKV) Delete(k string) {
	r.calls = append(r.calls, "delete "+k)
	r.Overlay.Delete(k)
}

// TestOverlayMatchesModel drives three stacked overlays with seeded random
// operations and compares every read with a plain map model.
func TestOverlayMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("%c/%d", 'a'+rune(i%3), i)
	}
	base := NewOverlay(nil)
	mid := NewOverlay(base)
	top := NewOverlay(mid)
	layers := []*Overlay{base, mid, top}
	models := []map[string]string{{}, {}, {}} // what each layer shows
	for step := range 20000 {
		l := rng.Intn(3)
		k := keys[rng.Intn(len(keys))]
		switch op := rng.Intn(12); {
		case op == 10:
			layers[l].Forget(k)
			for j := l; j < 3; j++ {
				if j == l || !overrides(layers[l+1:j+1], k) {
					if v, ok := lower(models, l, k); ok {
						models[j][k] = v
					} else {
						delete(models[j], k)
					}
				}
			}
		case op == 11:
			got := layers[l].Keys()
			var want []string
			for key := range layers[l].items {
				want = append(want, key)
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d layer %d Keys = %q, want %q", step, l, got, want)
			}
		case op < 5:
			v := fmt.Sprint(step)
			layers[l].Set(k, []byte(v))
			for j := l; j < 3; j++ {
				if j == l || !overrides(layers[l+1:j+1], k) {
					models[j][k] = v
				}
			}
		case op < 8:
			layers[l].Delete(k)
			for j := l; j < 3; j++ {
				if j == l || !overrides(layers[l+1:j+1], k) {
					delete(models[j], k)
				}
			}
		case op < 9 && l > 0:
			layers[l].Flush(layers[l-1])
			models[l-1] = copyMap(models[l])
		default:
			prefix := []string{"", "a", "b/", "c/1", "zz"}[rng.Intn(5)]
			got := MustCollect(t, layers[l], prefix, 0)
			if want := modelIter(models[l], prefix); !slices.Equal(got, want) {
				t.Fatalf("step %d layer %d Iterate(%q) = %v, want %v", step, l, prefix, got, want)
			}
		}
		got, ok := MustGet(t, layers[l], k)
		if want, wantOK := models[l][k]; got != want || ok != wantOK {
			t.Fatalf("step %d layer %d Get(%q) = %q,%v, want %q,%v", step, l, k, got, ok, want, wantOK)
		}
	}
}

// lower returns what the layer below l shows for k.
func lower(models []map[string]string, l int, k string) (string, bool) {
	if l == 0 {
		return "", false
	}
	v, ok := models[l-1][k]
	return v, ok
}

// overrides reports whether any of the overlays has its own write of k.
func overrides(os []*Overlay, k string) bool {
	for _, o := range os {
		if _, ok := o.items[k]; ok {
			return true
		}
	}
	return false
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func modelIter(m map[string]string, prefix string) []kvPair {
	var out []kvPair
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kvPair{k, v})
		}
	}
	slices.SortFunc(out, func(a, b kvPair) int { return strings.Compare(a.K, b.K) })
	return out
}

func TestOverlayForgetAndKeys(t *testing.T) {
	o := NewOverlay(parentKinds[0].build(t, map[string]string{"a": "pa", "b": "pb"}))
	o.Set("a", []byte("ca"))
	o.Delete("b")
	o.Set("c", []byte("cc"))
	if got := o.Keys(); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("Keys = %q", got)
	}
	o.Forget("a")
	o.Forget("b")
	o.Forget("nope")
	for k, want := range map[string]string{"a": "pa", "b": "pb", "c": "cc"} {
		if got, ok := MustGet(t, o, k); !ok || got != want {
			t.Errorf("after Forget, Get(%q) = %q,%v, want %q", k, got, ok, want)
		}
	}
	if w := o.Writes(); len(w) != 1 || w[0].Key != "c" {
		t.Fatalf("Writes after Forget = %+v", w)
	}
	var seen []string
	if err := o.Iterate("", func(k string, _ []byte) bool { seen = append(seen, k); return true }); err != nil || len(seen) != 3 {
		t.Fatalf("Iterate after Forget: %v %q", err, seen)
	}
}

// TestOverlayForgetTagged: ForgetTagged drops a key only when its last
// write came from a FlushTagged with that tag; any later write, tagged
// otherwise or untagged, keeps it.
func TestOverlayForgetTagged(t *testing.T) {
	dst := NewOverlay(parentKinds[0].build(t, map[string]string{"a": "pa", "d": "pd"}))
	flush := func(tag uint64, kv map[string]string) {
		src := NewOverlay(dst)
		for k, v := range kv {
			if v == "" {
				src.Delete(k)
			} else {
				src.Set(k, []byte(v))
			}
		}
		src.FlushTagged(dst, tag)
		if src.Len() != 0 {
			t.Fatalf("FlushTagged left %d writes in the source", src.Len())
		}
	}
	flush(1, map[string]string{"a": "1", "b": "1", "d": ""})
	flush(2, map[string]string{"b": "2", "c": "2"})
	dst.Set("c", []byte("untagged"))
	for _, tt := range []struct {
		key  string
		tag  uint64
		want bool
	}{
		{"a", 2, false}, {"a", 1, true}, {"a", 1, false}, // forgotten once
		{"b", 1, false}, {"b", 2, true},
		{"c", 2, false}, {"c", 0, true}, // an untagged write has tag 0
		{"d", 1, true}, {"nope", 1, false},
	} {
		if got := dst.ForgetTagged(tt.key, tt.tag); got != tt.want {
			t.Errorf("ForgetTagged(%q, %d) = %v, want %v", tt.key, tt.tag, got, tt.want)
		}
	}
	for k, want := range map[string]string{"a": "pa", "d": "pd"} {
		if got, ok := MustGet(t, dst, k); !ok || got != want {
			t.Errorf("Get(%q) = %q,%v, want the parent's %q", k, got, ok, want)
		}
	}
	if dst.Len() != 0 {
		t.Errorf("%d writes left, want none: %+v", dst.Len(), dst.Writes())
	}
}

// TestOverlaySetShared: SetShared stores the value as Set does (nil is a
// present empty value), only without copying it.
func TestOverlaySetShared(t *testing.T) {
	o := NewOverlay(nil)
	v := []byte("shared")
	o.SetShared("a", v)
	o.SetShared("b", nil)
	if got, ok := MustGet(t, o, "a"); !ok || got != "shared" {
		t.Errorf("Get(a) = %q,%v", got, ok)
	}
	if got, ok := MustGet(t, o, "b"); !ok || got != "" {
		t.Errorf("Get(b) = %q,%v, want a present empty value", got, ok)
	}
	if w := o.Writes(); len(w) != 2 || &w[0].Value[0] != &v[0] {
		t.Errorf("Writes = %+v: the value was copied", w)
	}
}
