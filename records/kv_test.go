package records

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	cc "carechain"
)

// memKV is an in-memory cc.KV for tests: a map whose Iterate visits keys in
// ascending byte order, like the real store.
type memKV struct{ m map[string][]byte }

var _ cc.KV = (*memKV)(nil)

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (s *memKV) Get(key string) ([]byte, error) {
	v, ok := s.m[key]
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

func (s *memKV) Set(key string, value []byte) { s.m[key] = append([]byte{}, value...) }

func (s *memKV) Delete(key string) { delete(s.m, key) }

func (s *memKV) Iterate(prefix string, fn func(key string, value []byte) bool) error {
	for _, k := range s.keys(prefix) {
		if !fn(k, append([]byte{}, s.m[k]...)) {
			break
		}
	}
	return nil
}

// keys returns the sorted keys under prefix.
func (s *memKV) keys(prefix string) []string {
	var ks []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// clone returns an independent copy of s.
func (s *memKV) clone() *memKV {
	c := newMemKV()
	for k, v := range s.m {
		c.m[k] = append([]byte{}, v...)
	}
	return c
}

// diff describes how s differs from other ("" if equal).
func (s *memKV) diff(other *memKV) string {
	var b strings.Builder
	for _, k := range s.keys("") {
		if v, ok := other.m[k]; !ok {
			b.WriteString("- " + k + "\n")
		} else if !bytes.Equal(v, s.m[k]) {
			b.WriteString("~ " + k + "\n")
		}
	}
	for _, k := range other.keys("") {
		if _, ok := s.m[k]; !ok {
			b.WriteString("+ " + k + "\n")
		}
	}
	return b.String()
}

// failingKV is a state whose reads fail, like a store with a broken disk.
type failingKV struct{ *memKV }

var errDisk = errors.New("disk on fire")

func (failingKV) Get(string) ([]byte, error) { return nil, errDisk }

func (failingKV) Iterate(string, func(string, []byte) bool) error { return errDisk }

func TestMemKVIterateSorted(t *testing.T) {
	kv := newMemKV()
	for _, k := range []string{"a/c", "a/a", "b/a", "a/b"} {
		kv.Set(k, []byte(k))
	}
	var got []string
	if err := kv.Iterate("a/", func(k string, _ []byte) bool { got = append(got, k); return len(got) < 2 }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/a", "a/b"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
