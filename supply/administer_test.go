package supply

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	cc "carechain"
)

// TestAdministerPayloadRules checks the rules supply.administer applies
// before it touches stock or anchors; each refusal changes nothing. (The
// whole flow — stock, lots, fraud alerts, recalls, Synthea — runs on a
// real ledger in gatekeeper/immunize_test.go.)
func TestAdministerPayloadRules(t *testing.T) {
	e := newMasterEnv(t)
	anchor := obj{"id": "Immunization/imm-1", "type": "Immunization", "patient": string(patientA.did), "org": "clinic",
		"author": string(nurse.did), "version": 1, "content_hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
	payload := func(set obj) obj {
		p := obj{"org": "clinic", "anchors": []obj{anchor}, "administrations": []obj{{"record_id": "Immunization/imm-1", "lot": "LOT-1"}}}
		for k, v := range set {
			p[k] = v
		}
		return p
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not JSON", nurse, []byte(`{"org":`), cc.Malformed, ""},
		{"unknown field", nurse, payload(obj{"extra": 1}), cc.Malformed, "extra"},
		{"bad org id", nurse, payload(obj{"org": "Clinic!"}), cc.Invalid, "organization id"},
		{"no administrations", nurse, payload(obj{"administrations": []obj{}}), cc.Invalid, "administrations must list"},
		{"no anchors", nurse, payload(obj{"anchors": []obj{}}), cc.Invalid, "anchors must list"},
		{"an administration of a record not anchored here", nurse,
			payload(obj{"administrations": []obj{{"record_id": "Immunization/other"}}}), cc.Invalid, "anchored by this transaction"},
		{"an administration of an Observation", nurse,
			payload(obj{"anchors": []obj{{"id": "Observation/o", "type": "Observation", "version": 1}}, "administrations": []obj{{"record_id": "Observation/o"}}}), cc.Invalid, "new Immunization"},
		{"one record twice", nurse,
			payload(obj{"administrations": []obj{{"record_id": "Immunization/imm-1"}, {"record_id": "Immunization/imm-1"}}}), cc.Invalid, "listed twice"},
		{"a lot with a space", nurse, payload(obj{"administrations": []obj{{"record_id": "Immunization/imm-1", "lot": "LOT 1"}}}), cc.Invalid, "lot must be"},
		{"a class-level EPC", nurse, payload(obj{"administrations": []obj{{"record_id": "Immunization/imm-1", "epc": "urn:epc:idpat:sgtin:0614141.107346.*"}}}), cc.Invalid, "instance-level"},
		{"a year out of range", nurse, payload(obj{"administrations": []obj{{"record_id": "Immunization/imm-1", "year": 20260}}}), cc.Invalid, "out of range"},
		{"a signer without a clinical role", mfg, payload(nil), cc.Unauthorized, "clinical or node role"},
		{"another organization's clinic", dist, payload(nil), cc.Unauthorized, "clinical or node role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRejected(t, e, tt.signer, TypeAdminister, tt.payload, tt.kind, tt.msg)
		})
	}
}

// TestUsable pins when a dose may be taken from an item.
func TestUsable(t *testing.T) {
	tests := []struct {
		it   Item
		ok   bool
		why  string
		when string
	}{
		{Item{Status: StatusReceived, Expiry: "2026-01-05"}, true, "", "2026-01-05T23:59:59Z"},
		{Item{Status: StatusReceived, Expiry: "2026-01-05"}, false, "expired on 2026-01-05", "2026-01-06T00:00:00Z"},
		{Item{Status: StatusActive}, true, "", "2030-01-01T00:00:00Z"},
		{Item{Status: StatusInTransit, InTransitTo: "clinic"}, false, "in transit to clinic", "2026-01-01T00:00:00Z"},
		{Item{Status: StatusQuarantined}, false, "quarantined", "2026-01-01T00:00:00Z"},
		{Item{Status: StatusRecalled}, false, "recalled", "2026-01-01T00:00:00Z"},
		{Item{Status: StatusDecommissioned}, false, "decommissioned", "2026-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		ok, why := Usable(&tt.it, mustTime(t, tt.when))
		if ok != tt.ok || why != tt.why {
			t.Errorf("Usable(%+v at %s) = %v %q, want %v %q", tt.it, tt.when, ok, why, tt.ok, tt.why)
		}
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAnchorsPayload checks that the record.anchor payload built from the
// decoded anchors decodes to exactly what encoding/json's Marshal of the
// same values decodes to (it compacts and escapes HTML; the values are
// the same).
func TestAnchorsPayload(t *testing.T) {
	for _, anchors := range [][]json.RawMessage{
		{json.RawMessage(`{"id":"Immunization/a","version":1}`)},
		{json.RawMessage(`{"id":"a<b>&c","categories":["x", "y"]}`), json.RawMessage(`null`), json.RawMessage("{\n \"id\" : \"\\u00e9\\\"\"}")},
		{json.RawMessage(`{"id":"é☃𝄞"}`), json.RawMessage(`[1,2.5e3,true,false]`)},
	} {
		want, err := json.Marshal(map[string]any{"anchors": anchors})
		if err != nil {
			t.Fatal(err)
		}
		got := anchorsPayload(anchors)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("anchorsPayload = %s, decodes to %v; json.Marshal decodes to %v", got, g, w)
		}
	}
}
