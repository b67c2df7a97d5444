// Package cctest holds what the tests of the domain packages (identity,
// consent, records, access) share: an in-memory state that is the ledger's
// own write-buffering store.Overlay, helpers to copy, fork and compare
// states, a state whose reads fail, and the checks every handler must pass
// (a failure is a *cc.Error of a specific kind and leaves the state as it
// was; two runs on the same state agree).
//
// It is for tests only. It imports no domain package, so that each domain
// package's own tests can use it.
package cctest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	cc "carechain"
	"carechain/ledger/store"
)

// Key returns the deterministic Ed25519 key pair named name in the tests
// of package pkg: its seed is SHA-256("carechain-" + pkg + "-test/" +
// name), so that each package's fixture has DIDs of its own.
func Key(pkg, name string) (ed25519.PublicKey, ed25519.PrivateKey) {
	seed := sha256.Sum256([]byte("carechain-" + pkg + "-test/" + name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	return priv.Public().(ed25519.PublicKey), priv
}

// NewKV returns an empty in-memory state: an overlay over no parent, which
// iterates in ascending key order like the ledger's store.
func NewKV() *store.Overlay { return store.NewOverlay(nil) }

// Fork returns a state that reads through to kv and keeps its own writes,
// as the ledger runs a transaction. kv must not change while the fork is
// in use; Flush applies the fork's writes to kv.
func Fork(kv cc.Reader) *store.Overlay { return store.NewOverlay(kv) }

// Copy returns an independent copy of the live keys and values of kv.
func Copy(kv cc.Reader) *store.Overlay {
	c := NewKV()
	if err := kv.Iterate("", func(k string, v []byte) bool { c.Set(k, v); return true }); err != nil {
		panic("cctest.Copy: " + err.Error())
	}
	return c
}

// Keys returns the live keys of kv under prefix, in ascending order.
func Keys(kv cc.Reader, prefix string) []string {
	var ks []string
	if err := kv.Iterate(prefix, func(k string, _ []byte) bool { ks = append(ks, k); return true }); err != nil {
		panic("cctest.Keys: " + err.Error())
	}
	return ks
}

// Diff describes how state b differs from state a, a line per key: first
// "- key" for each key only in a and "~ key" for each changed value, then
// "+ key" for each key only in b, in key order. It returns "" if a and b
// hold the same keys and values.
func Diff(a, b cc.Reader) string {
	keys := append(Keys(a, ""), Keys(b, "")...)
	return diffAt(a, b, keys)
}

// forkDiff is Diff(a, b) for states that differ at most in the keys the
// forks among them wrote: the forks of one parent, or a fork and its
// parent. It reads only those keys.
func forkDiff(a, b cc.Reader, forks ...*store.Overlay) string {
	var keys []string
	for _, f := range forks {
		for _, w := range f.Writes() {
			keys = append(keys, w.Key)
		}
	}
	return diffAt(a, b, keys)
}

// diffAt is Diff(a, b) over keys alone.
func diffAt(a, b cc.Reader, keys []string) string {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	av, bv := make([][]byte, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		av[i], bv[i] = get(a, k), get(b, k)
	}
	var s strings.Builder
	for i, k := range keys {
		switch {
		case av[i] != nil && bv[i] == nil:
			s.WriteString("- " + k + "\n")
		case av[i] != nil && !bytes.Equal(av[i], bv[i]):
			s.WriteString("~ " + k + "\n")
		}
	}
	for i, k := range keys {
		if av[i] == nil && bv[i] != nil {
			s.WriteString("+ " + k + "\n")
		}
	}
	return s.String()
}

// get returns the value of key in kv, nil if it is absent.
func get(kv cc.Reader, key string) []byte {
	v, err := kv.Get(key)
	if err != nil {
		panic("cctest: reading the state: " + err.Error())
	}
	return v
}

// ErrDisk is the error of every read of a FailingKV.
var ErrDisk = errors.New("disk on fire")

// FailingKV is a state whose reads fail with ErrDisk, like a store with a
// broken disk. Writes go to the embedded overlay, where Keys(kv.Overlay,
// "") shows them.
type FailingKV struct{ *store.Overlay }

// NewFailingKV returns an empty FailingKV.
func NewFailingKV() FailingKV { return FailingKV{NewKV()} }

// Get fails with ErrDisk.
func (FailingKV) Get(string) ([]byte, error) { return nil, ErrDisk }

// Iterate fails with ErrDisk.
func (FailingKV) Iterate(string, func(string, []byte) bool) error { return ErrDisk }

// Apply runs h on kv as the ledger runs a transaction, in a fork of kv
// that is flushed into kv if h succeeds. If h fails, Apply checks that the
// error passes CheckError and that h changed nothing, and drops its writes.
func Apply(t testing.TB, h cc.Handler, ctx cc.TxContext, kv cc.KV, payload []byte) (cc.Result, error) {
	t.Helper()
	tx := Fork(kv)
	res, err := h(ctx, tx, payload)
	if err != nil {
		CheckError(t, err)
		if d := forkDiff(kv, tx, tx); d != "" {
			t.Errorf("%s rejected (%v) but wrote:\n%s", ctx.Type, err, d)
		}
		return res, err
	}
	tx.Flush(kv)
	return res, nil
}

// RunTwice runs h twice on base with the same ctx and payload, each run on
// its own fork, and fails t unless the runs agree (state, result and
// success) and, if h fails, its error is a *cc.Error of a specific kind
// other than Internal and the state is unchanged. It returns the first
// run's result, its fork (base plus the writes) and its error. label names
// the run in messages.
func RunTwice(t *testing.T, label string, h cc.Handler, ctx cc.TxContext, base cc.Reader, payload []byte) (cc.Result, *store.Overlay, error) {
	t.Helper()
	kv1, kv2 := Fork(base), Fork(base)
	res1, err1 := h(ctx, kv1, payload)
	res2, err2 := h(ctx, kv2, payload)
	if d := forkDiff(kv1, kv2, kv1, kv2); d != "" || !reflect.DeepEqual(res1, res2) || (err1 == nil) != (err2 == nil) {
		t.Fatalf("%s is not deterministic: %v, then %v\n%s", label, err1, err2, d)
	}
	if err1 == nil {
		return res1, kv1, nil
	}
	var ce *cc.Error
	if !errors.As(err1, &ce) {
		t.Fatalf("%s: error %v (%T) is not a *cc.Error", label, err1, err1)
	}
	if ce.Kind == 0 || ce.Kind == cc.Internal || ce.Kind == cc.Other {
		t.Fatalf("%s: error %v has kind %v", label, err1, ce.Kind)
	}
	if d := forkDiff(base, kv1, kv1); d != "" {
		t.Fatalf("%s rejected (%v) but wrote:\n%s", label, err1, d)
	}
	return res1, kv1, err1
}

// RunTwiceStrict is RunTwice with two more checks of a handler's
// contract: a rejected handler made no write at all (not even one that
// leaves a value as it was), and a successful one emitted an event and
// JSON Data. It returns the state after a successful run (a fork: base
// plus the writes), nil after a rejection.
func RunTwiceStrict(t *testing.T, label string, h cc.Handler, ctx cc.TxContext, base cc.Reader, payload []byte) *store.Overlay {
	t.Helper()
	res, kv, err := RunTwice(t, label, h, ctx, base, payload)
	if err != nil {
		if kv.Len() != 0 {
			t.Fatalf("%s rejected (%v) but wrote %v", label, err, kv.Writes())
		}
		return nil
	}
	if len(res.Events) == 0 || !json.Valid(res.Data) {
		t.Fatalf("%s succeeded without events or with bad data %q", label, res.Data)
	}
	return kv
}

// CheckError fails t unless err is a *cc.Error of a real kind, neither
// Internal nor Other.
func CheckError(t testing.TB, err error) {
	t.Helper()
	var ce *cc.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *cc.Error", err, err)
	}
	if ce.Kind == 0 || ce.Kind == cc.Internal || ce.Kind == cc.Other {
		t.Errorf("error %v has kind %v", err, ce.Kind)
	}
}

// WantKind fails t unless err has kind want.
func WantKind(t testing.TB, err error, want cc.Kind) {
	t.Helper()
	if got := cc.KindOf(err); got != want {
		t.Errorf("got error %v (kind %v), want kind %v", err, got, want)
	}
}

// DecodeData unmarshals a result's Data into a T.
func DecodeData[T any](t testing.TB, res cc.Result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.Data, &v); err != nil {
		t.Fatalf("result data %q: %v", res.Data, err)
	}
	return v
}

// Attr returns the value of key in the first event of type typ of res, ""
// if there is none.
func Attr(res cc.Result, typ, key string) string {
	for _, e := range res.Events {
		if e.Type != typ {
			continue
		}
		for _, a := range e.Attributes {
			if a.Key == key {
				return a.Value
			}
		}
	}
	return ""
}

// ReadCorpus returns the []byte values of the "go test fuzz v1" corpus
// files in dir.
func ReadCorpus(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")")
		v, err := strconv.Unquote(body)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a go test fuzz v1 []byte file", f)
		}
		out = append(out, v)
	}
	return out
}
