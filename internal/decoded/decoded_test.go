package decoded

import (
	"fmt"
	"slices"
	"testing"
)

type rec struct {
	N    int      `json:"n"`
	Tags []string `json:"tags"`
}

func cloneRec(r *rec) *rec { c := *r; c.Tags = slices.Clone(r.Tags); return &c }

func TestDecode(t *testing.T) {
	c := New(1<<10, cloneRec)
	tests := []struct {
		name, in string
		want     *rec
		err      bool
	}{
		{"cold", `{"n":1,"tags":["a","b"]}`, &rec{N: 1, Tags: []string{"a", "b"}}, false},
		{"warm", `{"n":1,"tags":["a","b"]}`, &rec{N: 1, Tags: []string{"a", "b"}}, false},
		{"other bytes", `{"n":2}`, &rec{N: 2}, false},
		{"bad", `{"n":`, nil, true},
		{"bad again", `{"n":`, nil, true},
	}
	for _, tt := range tests {
		got, err := c.Decode([]byte(tt.in))
		if (err != nil) != tt.err || (err == nil && (got.N != tt.want.N || !slices.Equal(got.Tags, tt.want.Tags))) {
			t.Fatalf("%s: Decode = %+v, %v; want %+v (error %v)", tt.name, got, err, tt.want, tt.err)
		}
		if got != nil && len(got.Tags) > 0 {
			got.Tags[0] = "changed" // the caller's copy
		}
	}
	if entries, _, hits := c.Stats(); entries != 2 || hits != 1 {
		t.Errorf("entries %d, hits %d; want 2, 1", entries, hits)
	}
}

// TestShared: Shared hands every caller the one decoded value (no copy),
// the same one Decode copies from; bad bytes are an error, never cached.
func TestShared(t *testing.T) {
	c := New(1<<10, cloneRec)
	b := []byte(`{"n":3,"tags":["x"]}`)
	first, err := c.Shared(b)
	if err != nil || first.N != 3 || !slices.Equal(first.Tags, []string{"x"}) {
		t.Fatalf("Shared = %+v, %v", first, err)
	}
	again, err := c.Shared(append([]byte(nil), b...))
	if err != nil || again != first {
		t.Errorf("second Shared = %p, %v; want the same value %p", again, err, first)
	}
	copied, err := c.Decode(b)
	if err != nil || copied == first || copied.N != 3 || !slices.Equal(copied.Tags, first.Tags) {
		t.Errorf("Decode after Shared = %+v (%p), %v; want an equal copy of %p", copied, copied, err, first)
	}
	if _, err := c.Shared([]byte(`{"n":`)); err == nil {
		t.Error("Shared of bad bytes: no error")
	}
	if entries, _, hits := c.Stats(); entries != 1 || hits != 2 {
		t.Errorf("entries %d, hits %d; want 1, 2", entries, hits)
	}
}

func TestGenerations(t *testing.T) {
	c := New(64, cloneRec)
	first := []byte(`{"n":0}`)
	for i := range 100 {
		b := fmt.Appendf(nil, `{"n":%d}`, i)
		if got, err := c.Decode(b); err != nil || got.N != i {
			t.Fatalf("Decode(%s) = %+v, %v", b, got, err)
		}
		if _, err := c.Decode(first); err != nil { // in use: survives rotations
			t.Fatal(err)
		}
		entries, cost, _ := c.Stats()
		if cost > 64 || entries > 2*64 {
			t.Fatalf("cost %d, entries %d over the bound", cost, entries)
		}
	}
	c.mu.Lock()
	_, kept := c.cur[string(first)]
	c.mu.Unlock()
	if !kept {
		t.Error("an entry in use was dropped")
	}
}
