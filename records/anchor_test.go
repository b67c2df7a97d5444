package records

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestAnchorVersions(t *testing.T) {
	e := newEnv(t)
	res := e.mustApply(t, doc, TypeAnchor, anchors(
		anchor("Observation/o1", nil),
		anchor("Practitioner/p1", obj{"type": "Practitioner", "patient": "", "categories": nil, "data_time": nil}),
	))
	if got, want := cctest.DecodeData[anchorResult](t, res), (anchorResult{Count: 2, Created: 2, Height: 10}); got != want {
		t.Errorf("data = %+v, want %+v", got, want)
	}
	if len(res.Events) != 1 || res.Events[0].Type != TypeAnchor {
		t.Errorf("events = %+v, want one %s", res.Events, TypeAnchor)
	}
	a := mustAnchor(t, e.kv, "Observation/o1")
	want := cc.RecordAnchor{
		ID: "Observation/o1", Type: "Observation", Patient: pat.did, Org: "st-marys", Author: doc.did, AuthorOrg: "st-marys",
		Categories: []string{"http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"},
		DataTime:   time.Date(2025, 2, 1, 8, 30, 0, 0, time.UTC),
		Version:    1, ContentHash: hash("Observation/o1@1"), Height: 10, Time: genTime,
	}
	if fmt.Sprint(*a) != fmt.Sprint(want) {
		t.Errorf("anchor =\n%+v\nwant\n%+v", *a, want)
	}

	// Two more versions in later blocks, the last by the node key.
	e.next()
	e.mustApply(t, doc, TypeAnchor, anchors(anchor("Observation/o1", obj{"version": 2, "prev_hash": b64(hash("Observation/o1@1")), "content_hash": b64(hash("v2"))})))
	e.next()
	e.mustApply(t, node, TypeAnchor, anchors(anchor("Observation/o1", obj{"version": 3, "prev_hash": b64(hash("v2")), "content_hash": b64(hash("v3"))})))
	hist, err := History(e.kv, "Observation/o1")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 {
		t.Fatalf("history has %d versions, want 3", len(hist))
	}
	for i, v := range hist {
		if v.Version != i+1 || v.Height != int64(10+i) {
			t.Errorf("history[%d] = version %d at %d, want %d at %d", i, v.Version, v.Height, i+1, 10+i)
		}
		if i > 0 && !bytes.Equal(v.PrevHash, hist[i-1].ContentHash) {
			t.Errorf("history[%d].prev_hash is not version %d's content hash", i, i)
		}
	}
	if got := mustAnchor(t, e.kv, "Observation/o1"); got.Version != 3 || !bytes.Equal(got.ContentHash, hash("v3")) {
		t.Errorf("latest = version %d, want 3 with the v3 hash", got.Version)
	}
	v2, err := GetVersion(e.kv, "Observation/o1", 2)
	if err != nil || !bytes.Equal(v2.ContentHash, hash("v2")) {
		t.Errorf("GetVersion(2) = %+v, %v", v2, err)
	}
	for _, v := range []int{0, 4, -1} {
		_, err := GetVersion(e.kv, "Observation/o1", v)
		cctest.WantKind(t, err, cc.NotFound)
	}
	for _, id := range []string{"Observation/none", "not an id", ""} {
		_, err := GetAnchor(e.kv, id)
		cctest.WantKind(t, err, cc.NotFound)
		_, err = History(e.kv, id)
		cctest.WantKind(t, err, cc.NotFound)
	}

	// The patient index lists patient records only, in id order.
	e.mustApply(t, labdoc, TypeAnchor, anchors(anchor("DiagnosticReport/d1", obj{"type": "DiagnosticReport", "org": "city-lab", "author": labdoc.did, "author_org": "city-lab"})))
	var ids []string
	if err := PatientRecords(e.kv, pat.did, func(a cc.RecordAnchor) bool { ids = append(ids, a.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"DiagnosticReport/d1", "Observation/o1"}; !slices.Equal(ids, want) {
		t.Errorf("PatientRecords = %v, want %v", ids, want)
	}
	ids = nil
	if err := PatientRecords(e.kv, pat.did, func(a cc.RecordAnchor) bool { ids = append(ids, a.ID); return false }); err != nil || len(ids) != 1 {
		t.Errorf("PatientRecords stopping early visited %v, %v", ids, err)
	}
	if err := PatientRecords(e.kv, pat2.did, func(cc.RecordAnchor) bool { t.Error("pat2 has records"); return true }); err != nil {
		t.Error(err)
	}
}

func TestAnchorRejections(t *testing.T) {
	base := newEnv(t)
	base.mustApply(t, doc, TypeAnchor, anchors(anchor("Observation/old", nil), anchor("Observation/gone", nil)))
	base.mustApply(t, pat, TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/gone"}})
	base.next()
	v2 := func(set obj) obj {
		s := obj{"id": "Observation/old", "version": 2, "prev_hash": b64(hash("Observation/old@1"))}
		for k, v := range set {
			s[k] = v
		}
		return anchor("Observation/old", s)
	}
	many := make([]obj, MaxAnchorsPerTx+1)
	for i := range many {
		many[i] = anchor(fmt.Sprintf("Observation/m%d", i), nil)
	}
	cats := make([]string, MaxCategories+1)
	for i := range cats {
		cats[i] = fmt.Sprintf("s|c%03d", i)
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"not an object", doc, []byte(`[]`), cc.Malformed},
		{"trailing data", doc, []byte(`{"anchors":[]} {}`), cc.Malformed},
		{"unknown field", doc, obj{"anchors": []obj{anchor("Observation/n", nil)}, "extra": 1}, cc.Malformed},
		{"anchors not array", doc, obj{"anchors": "x"}, cc.Malformed},
		{"case-variant anchor field", doc, []byte(`{"anchors":[{"ID":"Observation/n"}]}`), cc.Malformed},
		{"duplicate anchor field", doc, []byte(`{"anchors":[{"id":"Observation/n","id":"Observation/m"}]}`), cc.Malformed},
		{"version not integer", doc, anchors(anchor("Observation/n", obj{"version": 1.5})), cc.Malformed},
		{"no anchors", doc, anchors(), cc.Invalid},
		{"too many anchors", doc, anchors(many...), cc.Invalid},
		{"id with space", doc, anchors(anchor("Observation/a b", nil)), cc.Invalid},
		{"id without type", doc, anchors(anchor("o1", nil)), cc.Invalid},
		{"id with two slashes", doc, anchors(anchor("Observation/a/b", nil)), cc.Invalid},
		{"id too long", doc, anchors(anchor("Observation/"+strings.Repeat("x", MaxIDLen), nil)), cc.Invalid},
		{"type mismatch", doc, anchors(anchor("Condition/c1", nil)), cc.Invalid},
		{"directory with patient", doc, anchors(anchor("Location/l1", obj{"type": "Location"})), cc.Invalid},
		{"record without patient", doc, anchors(anchor("Observation/n", obj{"patient": ""})), cc.Invalid},
		{"bad org", doc, anchors(anchor("Observation/n", obj{"org": "St Marys"})), cc.Invalid},
		{"bad author", doc, anchors(anchor("Observation/n", obj{"author": "did:web:x"})), cc.Invalid},
		{"bad node", doc, anchors(anchor("Observation/n", obj{"node": "a b"})), cc.Invalid},
		{"unsorted categories", doc, anchors(anchor("Observation/n", obj{"categories": []string{"s|b", "s|a"}})), cc.Invalid},
		{"repeated category", doc, anchors(anchor("Observation/n", obj{"categories": []string{"s|a", "s|a"}})), cc.Invalid},
		{"category without system", doc, anchors(anchor("Observation/n", obj{"categories": []string{"vital-signs"}})), cc.Invalid},
		{"too many categories", doc, anchors(anchor("Observation/n", obj{"categories": cats})), cc.Invalid},
		{"bad data_time", doc, anchors(anchor("Observation/n", obj{"data_time": "2025-02-01"})), cc.Invalid},
		{"version 0", doc, anchors(anchor("Observation/n", obj{"version": 0})), cc.Invalid},
		{"version 1 with prev_hash", doc, anchors(anchor("Observation/n", obj{"prev_hash": b64(hash("x"))})), cc.Invalid},
		{"version 2 without prev_hash", doc, anchors(v2(obj{"prev_hash": nil})), cc.Invalid},
		{"short content hash", doc, anchors(anchor("Observation/n", obj{"content_hash": b64(hash("x")[:31])})), cc.Invalid},
		{"base64url content hash", doc, anchors(anchor("Observation/n", obj{"content_hash": strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(hash("x"))), "=")})), cc.Invalid},
		{"duplicate id", doc, anchors(anchor("Observation/n", nil), anchor("Observation/n", nil)), cc.Invalid},
		{"admin without clinical role", hadmin, anchors(anchor("Observation/n", nil)), cc.Unauthorized},
		{"another organization's clinician", labdoc, anchors(anchor("Observation/n", nil)), cc.Unauthorized},
		{"one anchor for another organization", doc, anchors(anchor("Observation/n", nil), anchor("Observation/m", obj{"org": "city-lab"})), cc.Unauthorized},
		{"unknown organization", doc, anchors(anchor("Observation/n", obj{"org": "nowhere"})), cc.Unauthorized},
		{"patient signer", pat, anchors(anchor("Observation/n", nil)), cc.Unauthorized},
		{"unknown author", doc, anchors(anchor("Observation/n", obj{"author": nobody.did})), cc.NotFound},
		{"unknown author_org", doc, anchors(anchor("Observation/n", obj{"author_org": "nowhere"})), cc.NotFound},
		{"unregistered patient", doc, anchors(anchor("Observation/n", obj{"patient": stranger.did})), cc.NotFound},
		{"version 2 of a new record", doc, anchors(anchor("Observation/n", obj{"version": 2, "prev_hash": b64(hash("x"))})), cc.Conflict},
		{"version 1 again", doc, anchors(anchor("Observation/old", nil)), cc.Conflict},
		{"skipped version", doc, anchors(v2(obj{"version": 3})), cc.Conflict},
		{"wrong prev_hash", doc, anchors(v2(obj{"prev_hash": b64(hash("other"))})), cc.Conflict},
		{"patient changed", doc, anchors(v2(obj{"patient": pat2.did})), cc.Conflict},
		{"organization changed", doc, anchors(v2(obj{"org": "city-lab", "author": labdoc.did})), cc.Unauthorized},
		{"organization changed by its clinician", labdoc, anchors(v2(obj{"org": "city-lab"})), cc.Conflict},
		{"erased record", doc, anchors(anchor("Observation/gone", obj{"version": 2, "prev_hash": b64(hash("Observation/gone@1"))})), cc.Gone},
		{"valid anchor then a conflict", doc, anchors(anchor("Observation/n", nil), anchor("Observation/old", nil)), cc.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{kv: cctest.Copy(base.kv), height: base.height, time: base.time}
			_, err := e.apply(t, tt.signer, TypeAnchor, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

func TestAnchorSuspendedOrganization(t *testing.T) {
	e := newEnv(t)
	e.mustApply(t, gov, "gov.propose", obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	_, err := e.apply(t, doc, TypeAnchor, anchors(anchor("Observation/n", nil)))
	cctest.WantKind(t, err, cc.Unauthorized)
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"Observation/1", true},
		{"Patient/a-b.c_d", true},
		{"Observation/" + strings.Repeat("x", MaxIDLen-len("Observation/")), true},
		{"Observation/" + strings.Repeat("x", MaxIDLen-len("Observation/")+1), false},
		{"Observation/", false},
		{"/x", false},
		{"observation/x", false},
		{"Obs3rvation/x", false},
		{"Observation/x/y", false},
		{"Observation/x\ty", false},
		{"Observation/é", false},
		{"Observation", false},
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestIsDirectoryType(t *testing.T) {
	if !slices.IsSorted(directoryTypes) {
		t.Fatal("directoryTypes is not sorted")
	}
	for typ, want := range map[string]bool{"Practitioner": true, "Substance": true, "Observation": false, "Patient": false, "": false} {
		if got := IsDirectoryType(typ); got != want {
			t.Errorf("IsDirectoryType(%q) = %v, want %v", typ, got, want)
		}
	}
}
