package records

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// TestGetAnchorDecodeCache checks that GetAnchor answers the same with
// the decode cache warm or cold, from the state of each call, and hands
// out anchors the caller may change.
func TestGetAnchorDecodeCache(t *testing.T) {
	kv := cctest.NewKV()
	a := cc.RecordAnchor{ID: "Observation/o1", Type: "Observation", Patient: "did:cc:abc", Org: "st-marys", Categories: []string{"a|b", "c|d"},
		Version: 2, PrevHash: []byte{1, 2}, ContentHash: []byte{3, 4}, Height: 7, Time: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	put := func(a cc.RecordAnchor) {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		kv.Set(anchorKey(a.ID), b)
	}
	put(a)
	decodedAnchors.Reset()
	for i, label := range []string{"cold", "warm"} {
		got, err := GetAnchor(kv, a.ID)
		if err != nil || !reflect.DeepEqual(*got, a) {
			t.Fatalf("%s: GetAnchor = %+v, %v; want %+v", label, got, err, a)
		}
		// The caller's copy: changing it changes nothing for the next call.
		got.Categories[0], got.ContentHash[0], got.Erased = "x|y", 9, true
		if entries, _, hits := decodedAnchors.Stats(); entries != 1 || hits != i {
			t.Errorf("%s: %d anchors cached, %d hits; want 1, %d", label, entries, hits, i)
		}
	}
	// SharedAnchor hands out the one decoded anchor, equal to GetAnchor's.
	s1, err1 := SharedAnchor(kv, a.ID)
	s2, err2 := SharedAnchor(kv, a.ID)
	if err1 != nil || err2 != nil || s1 != s2 || !reflect.DeepEqual(*s1, a) {
		t.Errorf("SharedAnchor = %p %+v, %v / %p, %v; want one value equal to %+v", s1, s1, err1, s2, err2, a)
	}
	if _, err := SharedAnchor(kv, "Observation/none"); !cc.Is(cc.NotFound, err) {
		t.Errorf("SharedAnchor of no record: %v, want NotFound", err)
	}
	// A new value under the same key is read and decoded anew.
	b := a
	b.Erased, b.ErasedAt = true, 12
	put(b)
	if got, err := GetAnchor(kv, a.ID); err != nil || !got.Erased || got.ErasedAt != 12 {
		t.Errorf("after erasure: %+v, %v", got, err)
	}
	kv.Delete(anchorKey(a.ID))
	if _, err := GetAnchor(kv, a.ID); !cc.Is(cc.NotFound, err) {
		t.Errorf("deleted: %v, want NotFound", err)
	}
	kv.Set(anchorKey("Observation/bad"), []byte(`{"id":`))
	if _, err := GetAnchor(kv, "Observation/bad"); !cc.Is(cc.Internal, err) {
		t.Errorf("undecodable: %v, want Internal", err)
	}
	if _, err := GetAnchor(cctest.NewFailingKV(), a.ID); !cc.Is(cc.Internal, err) {
		t.Errorf("failing store: %v, want Internal", err)
	}
}
