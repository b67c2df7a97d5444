package cctest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	cc "carechain"
)

func TestKeysAndDiff(t *testing.T) {
	a := NewKV()
	for _, k := range []string{"a/c", "a/a", "b/a", "a/b", "c"} {
		a.Set(k, []byte(k))
	}
	a.Delete("c")
	if got, want := Keys(a, "a/"), []string{"a/a", "a/b", "a/c"}; !slices.Equal(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
	b := Copy(a)
	if d := Diff(a, b); d != "" {
		t.Errorf("copy differs:\n%s", d)
	}
	b.Delete("a/a")
	b.Set("a/b", []byte("x"))
	b.Set("d", nil)
	a.Set("a/c", []byte("changed after the copy"))
	if got, want := Diff(a, b), "- a/a\n~ a/b\n~ a/c\n+ d\n"; got != want {
		t.Errorf("Diff = %q, want %q", got, want)
	}
}

// forkDiff must agree with Diff on forks of one parent.
func TestForkDiffIsDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	key := func() string { return fmt.Sprintf("k/%d", r.IntN(20)) }
	for range 200 {
		base := NewKV()
		for range 10 {
			base.Set(key(), []byte{byte(r.IntN(3))})
		}
		f1, f2 := Fork(base), Fork(base)
		for _, f := range []cc.KV{f1, f2} {
			for range r.IntN(6) {
				if r.IntN(3) == 0 {
					f.Delete(key())
				} else {
					f.Set(key(), []byte{byte(r.IntN(3))})
				}
			}
		}
		if got, want := forkDiff(f1, f2, f1, f2), Diff(f1, f2); got != want {
			t.Fatalf("forkDiff(f1, f2) = %q, Diff = %q", got, want)
		}
		if got, want := forkDiff(base, f1, f1), Diff(base, f1); got != want {
			t.Fatalf("forkDiff(base, f1) = %q, Diff = %q", got, want)
		}
	}
}

func TestApply(t *testing.T) {
	kv := NewKV()
	ok := func(_ cc.TxContext, kv cc.KV, p json.RawMessage) (cc.Result, error) {
		kv.Set("k", p)
		return cc.Result{}, nil
	}
	if _, err := Apply(t, ok, cc.TxContext{Type: "ok"}, kv, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, _ := kv.Get("k"); string(v) != "v" {
		t.Errorf("a successful handler's write is %q, want v", v)
	}
	fail := func(cc.TxContext, cc.KV, json.RawMessage) (cc.Result, error) {
		return cc.Result{}, cc.Errorf("fail", cc.Invalid, "no")
	}
	_, err := Apply(t, fail, cc.TxContext{Type: "fail"}, kv, nil)
	WantKind(t, err, cc.Invalid)
}

func TestFailingKV(t *testing.T) {
	kv := NewFailingKV()
	if _, err := kv.Get("k"); !errors.Is(err, ErrDisk) {
		t.Errorf("Get: %v", err)
	}
	if err := kv.Iterate("", func(string, []byte) bool { return true }); !errors.Is(err, ErrDisk) {
		t.Errorf("Iterate: %v", err)
	}
	kv.Set("k", nil)
	if got := Keys(kv.Overlay, ""); !slices.Equal(got, []string{"k"}) {
		t.Errorf("writes = %v", got)
	}
}
