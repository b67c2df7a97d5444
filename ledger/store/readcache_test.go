package store

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestReadCacheFollowsCommits: committed reads are cached (values and
// absences), and every kind of committed change — a new key, an update, a
// deletion, an empty value — is visible through the cache right after
// Commit, as it is in Pebble.
func TestReadCacheFollowsCommits(t *testing.T) {
	s := MustOpenMem(t)
	r := s.Committed()
	MustApply(t, s, set("a", "1"), set("b", "2"))
	steps := []struct {
		name   string
		writes []Write
		want   map[string]*string
	}{
		{"first reads", nil, map[string]*string{"a": ptr("1"), "b": ptr("2"), "c": nil}},
		{"absent key created", []Write{set("c", "3")}, map[string]*string{"a": ptr("1"), "c": ptr("3")}},
		{"update and delete", []Write{set("a", "10"), del("b")}, map[string]*string{"a": ptr("10"), "b": nil, "c": ptr("3")}},
		{"empty value is present", []Write{set("b", "")}, map[string]*string{"b": ptr("")}},
		{"unrelated block", []Write{set("z", "26")}, map[string]*string{"a": ptr("10"), "b": ptr(""), "c": ptr("3")}},
	}
	for _, st := range steps {
		if st.writes != nil {
			MustApply(t, s, st.writes...)
		}
		for round := range 2 { // the second round is answered from the cache
			for k, want := range st.want {
				got, err := r.Get(k)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case want == nil && got != nil:
					t.Errorf("%s, round %d: Get(%q) = %q, want absent", st.name, round, k, got)
				case want != nil && (got == nil || string(got) != *want):
					t.Errorf("%s, round %d: Get(%q) = %q (nil %v), want %q", st.name, round, k, got, got == nil, *want)
				}
			}
		}
	}
	if n := s.reads.len(); n == 0 {
		t.Errorf("nothing cached after repeated reads")
	}
	// FinalizeBlock takes old values from the cache: the digest it kept
	// must match one recomputed from every entry.
	if err := s.VerifyState(); err != nil {
		t.Errorf("state digest after cached blocks: %v", err)
	}
}

// TestReadCacheValuesAreCopies: a caller modifying a returned value does
// not change what the next reader gets.
func TestReadCacheValuesAreCopies(t *testing.T) {
	s := MustOpenMem(t)
	MustApply(t, s, set("k", "value"))
	for range 2 {
		v, err := s.Committed().Get("k")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(v), "value"; got != want {
			t.Fatalf("Get = %q, want %q", got, want)
		}
		v[0] = 'X'
	}
}

// TestReadCacheBounded: the cache never holds more than its byte bound,
// and a value too large to cache is still read correctly.
func TestReadCacheBounded(t *testing.T) {
	c := newReadCache(64 * 1024)
	for i := range 10_000 {
		_, _, gen := c.get(strconv.Itoa(i))
		c.put(strconv.Itoa(i), cachedValue{value: make([]byte, 100), present: true}, gen)
		if c.bytes+c.oldBytes > c.maxBytes {
			t.Fatalf("after %d puts: %d + %d bytes cached, bound %d", i+1, c.bytes, c.oldBytes, c.maxBytes)
		}
	}
	// The most recent puts are still cached (in either generation); the
	// first ones are gone.
	for _, k := range []string{"9999", "9900"} {
		if _, ok, _ := c.get(k); !ok {
			t.Errorf("recent key %s not cached", k)
		}
	}
	if _, ok, _ := c.get("0"); ok {
		t.Errorf("the first key is still cached after 10,000 puts of 100 bytes in 64 KiB")
	}
	_, _, gen := c.get("huge")
	c.put("huge", cachedValue{value: make([]byte, 64*1024), present: true}, gen)
	if _, ok, _ := c.get("huge"); ok {
		t.Errorf("a value of the whole bound was cached")
	}
}

// TestReadCacheStaleReadNotCached: a value read from Pebble before a block
// commits is not cached once the commit has begun (the generation moved),
// so the next read sees the committed value.
func TestReadCacheStaleReadNotCached(t *testing.T) {
	c := newReadCache(1 << 20)
	_, _, gen := c.get("k") // a reader misses and goes to Pebble …
	c.begin([]Write{set("k", "new")})
	c.put("k", cachedValue{value: []byte("old"), present: true}, gen) // … and returns during the commit
	c.end(true)
	if v, ok, _ := c.get("k"); ok {
		t.Errorf("stale read cached: %q", v.value)
	}
	_, _, gen = c.get("k")
	c.begin(nil)
	c.put("k", cachedValue{value: []byte("new"), present: true}, gen)
	if _, ok, _ := c.get("k"); ok {
		t.Errorf("a read during a commit was cached")
	}
	c.end(true)
}

// TestReadCacheMonotonicUnderCommits: readers running beside a stream of
// commits (under -race) never see a counter go back, and end at the last
// committed value.
func TestReadCacheMonotonicUnderCommits(t *testing.T) {
	s := MustOpenMem(t)
	const blocks = 200
	keys := []string{"n/a", "n/b", "n/c"}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	done := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := map[string]int{}
			for _, k := range keys {
				last[k] = -1 // absent
			}
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, k := range keys {
					v, err := s.Committed().Get(k)
					if err != nil {
						errs <- err
						return
					}
					n := -1
					if v != nil {
						n, _ = strconv.Atoi(string(v))
					}
					if n < last[k] {
						errs <- fmt.Errorf("%s went back from %d to %d", k, last[k], n)
						return
					}
					last[k] = n
				}
			}
		}()
	}
	for i := range blocks {
		var ws []Write
		for _, k := range keys {
			ws = append(ws, set(k, strconv.Itoa(i)))
		}
		MustApply(t, s, ws...)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, err := s.Committed().Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(v), strconv.Itoa(blocks-1); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestReadCacheWriteThrough: a key cached when a block writes it is
// cached again with the block's value (or absence) after a successful
// commit; a key nobody read is not cached; a failed commit caches nothing.
func TestReadCacheWriteThrough(t *testing.T) {
	tests := []struct {
		name      string
		cached    []string // keys read (cached) before the block
		writes    []Write
		committed bool
		want      map[string]*string // cached after end; nil means cached absent
		notCached []string
	}{
		{"update of a read key", []string{"a"}, []Write{set("a", "2")}, true, map[string]*string{"a": ptr("2")}, nil},
		{"creation of a probed key", []string{"new"}, []Write{set("new", "v")}, true, map[string]*string{"new": ptr("v")}, nil},
		{"deletion of a read key", []string{"a"}, []Write{del("a")}, true, map[string]*string{"a": nil}, nil},
		{"empty value", []string{"a"}, []Write{set("a", "")}, true, map[string]*string{"a": ptr("")}, nil},
		{"unread key not cached", nil, []Write{set("idx", "true")}, true, nil, []string{"idx"}},
		{"failed commit", []string{"a"}, []Write{set("a", "2")}, false, nil, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newReadCache(1 << 20)
			for _, k := range tt.cached {
				_, _, gen := c.get(k)
				c.put(k, cachedValue{value: []byte("old"), present: true}, gen)
			}
			c.begin(tt.writes)
			for _, w := range tt.writes {
				if _, ok, _ := c.get(w.Key); ok {
					t.Errorf("%s answered from the cache during the commit", w.Key)
				}
			}
			c.end(tt.committed)
			for k, want := range tt.want {
				v, ok, _ := c.get(k)
				switch {
				case !ok:
					t.Errorf("%s not cached after the commit", k)
				case want == nil && v.present:
					t.Errorf("%s cached as %q, want absent", k, v.value)
				case want != nil && (!v.present || string(v.value) != *want):
					t.Errorf("%s cached as %q (present %v), want %q", k, v.value, v.present, *want)
				}
			}
			for _, k := range tt.notCached {
				if v, ok, _ := c.get(k); ok {
					t.Errorf("%s cached (%q), want not cached", k, v.value)
				}
			}
			if c.bytes < 0 || c.bytes > c.maxBytes {
				t.Errorf("bytes = %d", c.bytes)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// TestReadCacheSkipsFilteredAbsences: a key the key filter has never seen
// is answered absent without entering the cache (a new DID, record or
// sequence — most reads of an admission would otherwise fill the cache with
// absences that are read once); a deleted key, which the filter still
// holds, is looked up in Pebble and its absence cached.
func TestReadCacheSkipsFilteredAbsences(t *testing.T) {
	s := MustOpenMem(t)
	r := s.Committed()
	MustApply(t, s, set("gone", "1"))
	MustApply(t, s, del("gone"))
	for i := range 1000 {
		if v, err := r.Get("new/" + strconv.Itoa(i)); err != nil || v != nil {
			t.Fatalf("Get(new/%d) = %q, %v; want absent", i, v, err)
		}
	}
	if got, want := s.reads.len(), 0; got != want {
		t.Errorf("cached reads after 1000 never-written keys = %d, want %d", got, want)
	}
	if v, err := r.Get("gone"); err != nil || v != nil {
		t.Fatalf("Get(gone) = %q, %v; want absent", v, err)
	}
	if c, ok, _ := s.reads.get("gone"); !ok || c.present {
		t.Errorf("deleted key: cached %v present %v, want a cached absence", ok, c.present)
	}
}

// TestReadCacheHotPrefixes: what a block writes under a hot prefix is
// cached once it is committed (values, updates and deletions, as Pebble
// has them); keys under other prefixes enter the cache only when read.
func TestReadCacheHotPrefixes(t *testing.T) {
	s := MustOpenMem(t)
	s.CacheWritesUnder("i/")
	cached := func(key string) (cachedValue, bool) {
		v, ok, _ := s.reads.get(key)
		return v, ok
	}
	MustApply(t, s, set("i/1", "a"), set("i/2", "b"), set("x/1", "c"))
	for _, tt := range []struct {
		key, want string
	}{{"i/1", "a"}, {"i/2", "b"}} {
		if v, ok := cached(tt.key); !ok || !v.present || string(v.value) != tt.want {
			t.Errorf("after the first block, cache of %s = %q (cached %v, present %v), want %q", tt.key, v.value, ok, v.present, tt.want)
		}
	}
	if _, ok := cached("x/1"); ok {
		t.Errorf("x/1 is cached although nobody read it and its prefix is not hot")
	}
	MustApply(t, s, set("i/1", "a2"), del("i/2"))
	if v, ok := cached("i/1"); !ok || string(v.value) != "a2" {
		t.Errorf("after an update, cache of i/1 = %q (cached %v), want a2", v.value, ok)
	}
	if v, ok := cached("i/2"); !ok || v.present {
		t.Errorf("after a deletion, cache of i/2 = %+v (cached %v), want an absence", v, ok)
	}
	r := s.Committed()
	for key, want := range map[string]string{"i/1": "a2", "x/1": "c"} {
		if got, err := r.Get(key); err != nil || string(got) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
	if got, _ := r.Get("i/2"); got != nil {
		t.Errorf("Get(i/2) = %q, want absent", got)
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("state digest: %v", err)
	}
}

// TestReadCacheOldGeneration: an entry that moved to the old generation is
// still answered, and a block that writes it drops it there too, so a
// read after the block returns the new value, from Pebble or the cache.
func TestReadCacheOldGeneration(t *testing.T) {
	s := MustOpenMem(t)
	s.reads = newReadCache(8 * 1024) // 4 KiB per generation
	r := s.Committed()
	MustApply(t, s, set("k", "old"))
	if v, _ := r.Get("k"); string(v) != "old" {
		t.Fatalf("Get(k) = %q", v)
	}
	// Fill the current generation until k is in the old one.
	var writes []Write
	for i := range 60 { // 87 bytes each with the entry overhead: ~47 per generation
		writes = append(writes, set(fmt.Sprintf("f%02d", i), string(make([]byte, 20))))
	}
	MustApply(t, s, writes...)
	for _, w := range writes {
		if _, err := r.Get(w.Key); err != nil {
			t.Fatal(err)
		}
	}
	s.reads.mu.Lock()
	_, inOld := s.reads.old["k"]
	s.reads.mu.Unlock()
	if !inOld {
		t.Fatalf("k is not in the old generation; the test needs it there")
	}
	MustApply(t, s, set("k", "new"))
	for round := range 2 {
		if v, _ := r.Get("k"); string(v) != "new" {
			t.Errorf("round %d: Get(k) = %q after a block wrote new, want new", round, v)
		}
	}
	if err := s.VerifyState(); err != nil {
		t.Errorf("state digest: %v", err)
	}
}
