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
