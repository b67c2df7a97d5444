package access

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/consent"
	"carechain/internal/cctest"
	"carechain/records"
)

// permitClindoc is a provision letting clindoc read for treatment.
var permitClindoc = obj{"type": "permit", "actors": []obj{{"did": clindoc.did}}, "actions": []string{"read"}, "purposes": []string{"TREAT"}}

func TestLogConsentedRead(t *testing.T) {
	e := newEnv(t)
	cid := e.grant(t, pat, permitClindoc)
	e.next()
	r := e.request(clindoc, pat, "TREAT", "Observation/o1", "Observation/o2")
	s := mustSign(t, r, clindoc)
	_, hash, err := VerifyRead(e.kv, s)
	if err != nil {
		t.Fatal(err)
	}
	got := e.logTx(t, node, logEv(s, "Observation/o1", "Observation/o2"))
	want := []EventResult{{ID: EventID(hash), Status: StatusLogged, Basis: cc.BasisConsent, Ref: cid}}
	if !slices.Equal(got, want) {
		t.Fatalf("results = %+v, want %+v", got, want)
	}
	log, err := AccessLog(e.kv, pat.did)
	if err != nil || len(log) != 1 {
		t.Fatalf("AccessLog = %+v, %v; want one event", log, err)
	}
	ev := log[0]
	wantEv := cc.AccessEvent{
		ID: EventID(hash), Patient: pat.did, Accessor: clindoc.did, Org: "clinic",
		Records: []string{"Observation/o1", "Observation/o2"}, Action: ActionRead, Purpose: "TREAT",
		Basis: cc.BasisConsent, Ref: cid, Request: hash, Height: e.height, Time: e.time,
	}
	if b1, b2 := mustJSON(t, ev), mustJSON(t, wantEv); !bytes.Equal(b1, b2) {
		t.Errorf("event =\n%s\nwant\n%s", b1, b2)
	}
	// The logged request is the requester's signed read: it verifies again
	// and hashes to the event's Request.
	lr, err := GetLoggedRequest(e.kv, ev.Request)
	if err != nil {
		t.Fatal(err)
	}
	if lr.Event != ev.ID || lr.Patient != pat.did || lr.Height != e.height {
		t.Errorf("logged request = %+v", lr)
	}
	r2, h2, err := VerifyRead(e.kv, lr.Read)
	if err != nil || !bytes.Equal(h2, hash) || r2.Nonce != r.Nonce {
		t.Errorf("the logged read does not verify to the same request: %v", err)
	}
	if _, err := GetLoggedRequest(e.kv, []byte("nope")); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetLoggedRequest(unknown) = %v, want NotFound", err)
	}
	if ns, _ := records.Notifications(e.kv, pat.did); len(ns) != 0 {
		t.Errorf("a consented read notified the patient: %+v", ns)
	}
}

func TestLogDeniedReads(t *testing.T) {
	e := newEnv(t)
	cid := e.grant(t, pat, permitClindoc)
	e.next()
	// pat2 never consented.
	s := mustSign(t, e.request(clindoc, pat2, "TREAT", "Observation/q1"), clindoc)
	if got := e.logTx(t, node, logEv(s, "Observation/q1")); got[0].Status != StatusDenied {
		t.Errorf("unconsented read: %+v, want denied", got)
	}
	// The consent covers TREAT, not research.
	s = mustSign(t, e.request(clindoc, pat, "HRESEARCH", "Observation/o1"), clindoc)
	if got := e.logTx(t, node, logEv(s, "Observation/o1")); got[0].Status != StatusDenied {
		t.Errorf("read for another purpose: %+v, want denied", got)
	}
	// After revocation (committed), the same kind of read is denied.
	e.mustApply(t, pat, consent.TypeRevoke, obj{"id": cid})
	e.next()
	s = mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc)
	if got := e.logTx(t, node, logEv(s, "Observation/o1")); got[0].Status != StatusDenied {
		t.Errorf("read after revocation: %+v, want denied", got)
	}
	if log, _ := AccessLog(e.kv, pat.did); len(log) != 0 {
		t.Errorf("denied reads were logged: %+v", log)
	}
	if keys := cctest.Keys(e.kv, "access/req/"); len(keys) != 0 {
		t.Errorf("denied reads were recorded: %v", keys)
	}
}

func TestLogStatuses(t *testing.T) {
	e := newEnv(t)
	e.grant(t, pat, permitClindoc)
	e.mustApply(t, pat, records.TypeErase, obj{"patient": pat.did, "ids": []string{"Condition/c1"}})
	e.next()
	req := func(mod func(*ReadRequest)) ReadRequest {
		r := e.request(clindoc, pat, "TREAT", "Observation/o1")
		mod(&r)
		return r
	}
	logged := mustSign(t, req(func(*ReadRequest) {}), clindoc)
	e.logTx(t, node, logEv(logged, "Observation/o1"))
	tampered := mustSign(t, req(func(*ReadRequest) {}), clindoc)
	tampered.Request = bytes.Replace(tampered.Request, []byte("TREAT"), []byte("ETREAT"), 1)
	own := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1"), pat)
	tests := []struct {
		name           string
		ev             obj
		status, reason string
	}{
		{"replay", logEv(logged, "Observation/o1"), StatusReplay, "logged before"},
		{"stale: issued 11 minutes ago", logEv(mustSign(t, req(func(r *ReadRequest) { r.Issued = e.time.Add(-11 * time.Minute) }), clindoc), "Observation/o1"), StatusStale, "issued"},
		{"stale: issued 11 minutes ahead", logEv(mustSign(t, req(func(r *ReadRequest) { r.Issued = e.time.Add(11 * time.Minute) }), clindoc), "Observation/o1"), StatusStale, "issued"},
		{"fresh: issued 10 minutes ago", logEv(mustSign(t, req(func(r *ReadRequest) { r.Issued = e.time.Add(-10 * time.Minute) }), clindoc), "Observation/o1"), StatusLogged, ""},
		{"signed by another key", logEv(mustSign(t, req(func(*ReadRequest) {}), doc), "Observation/o1"), StatusInvalid, "bad_signature"},
		{"tampered request", logEv(tampered, "Observation/o1"), StatusInvalid, "bad_signature"},
		{"unknown requester", logEv(mustSign(t, req(func(r *ReadRequest) { r.Requester = newActor("ghost").did }), newActor("ghost")), "Observation/o1"), StatusInvalid, "unknown_signer"},
		{"another chain", logEv(mustSign(t, req(func(r *ReadRequest) { r.ChainID = "other" }), clindoc), "Observation/o1"), StatusInvalid, "wrong_chain"},
		{"record not requested", logEv(mustSign(t, req(func(*ReadRequest) {}), clindoc), "Observation/o2"), StatusInvalid, "not_requested"},
		{"unknown record", logEv(mustSign(t, req(func(r *ReadRequest) { r.Records = []string{"Observation/zz"} }), clindoc), "Observation/zz"), StatusInvalid, "unknown_record"},
		{"another patient's record", logEv(mustSign(t, req(func(r *ReadRequest) { r.Records = []string{"Observation/q1"} }), clindoc), "Observation/q1"), StatusInvalid, "other_patient"},
		{"not a member of the named org", logEv(mustSign(t, req(func(r *ReadRequest) { r.Org = "st-marys" }), clindoc), "Observation/o1"), StatusInvalid, "not_member"},
		{"erased record", logEv(mustSign(t, req(func(r *ReadRequest) { r.Records = []string{"Condition/c1"} }), clindoc), "Condition/c1"), StatusDenied, "erased"},
		{"the patient's own read", logEv(own, "Observation/o1"), StatusLogged, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.clone()
			got := c.logTx(t, node, tt.ev)
			if got[0].Status != tt.status || !strings.HasPrefix(got[0].Reason, tt.reason) {
				t.Errorf("result = %+v, want %s (%s)", got[0], tt.status, tt.reason)
			}
		})
	}
	// A request repeated in one batch is logged once.
	fresh := mustSign(t, req(func(*ReadRequest) {}), clindoc)
	got := e.logTx(t, node, logEv(fresh, "Observation/o1"), logEv(fresh, "Observation/o1"))
	if got[0].Status != StatusLogged || got[1].Status != StatusReplay || got[0].ID != got[1].ID {
		t.Errorf("batch with a repeated request = %+v, want logged then replay", got)
	}
}

func TestLogBasisFromState(t *testing.T) {
	e := newEnv(t)
	// doc of st-marys authored o1 and reads it; the gatekeeper's claimed
	// basis is informative, the ledger records its own decision.
	s := mustSign(t, e.request(doc, pat, "TREAT", "Observation/o1"), doc)
	got := e.logTx(t, node, obj{"read": s, "records": []string{"Observation/o1"}, "basis": "consent", "ref": "cons-x"})
	if got[0].Status != StatusLogged || got[0].Basis != cc.BasisAuthor || got[0].Ref != "" {
		t.Errorf("result = %+v, want logged on the author-org basis", got[0])
	}
	// A read of records on different bases is logged as "mixed" with the
	// basis of each record: doc reads o1 as its author organization's
	// clinician and i1 (held by st-marys, authored by city-lab) under pat's
	// consent.
	e.mustApply(t, doc, records.TypeAnchor, obj{"anchors": []obj{anchorItem("Immunization/i1", pat, "st-marys", labdoc)}})
	e.mustApply(t, doc, records.TypeAnchor, obj{"anchors": []obj{anchorItem("Immunization/i2", pat, "st-marys", labdoc)}})
	cid := e.grant(t, pat, obj{"type": "permit", "actors": []obj{{"did": doc.did}}, "resource_types": []string{"Immunization"}, "purposes": []string{"TREAT"}})
	e.next()
	s = mustSign(t, e.request(doc, pat, "TREAT", "Observation/o1", "Immunization/i1", "Immunization/i2"), doc)
	got = e.logTx(t, node, logEv(s, "Observation/o1", "Immunization/i1"))
	if got[0].Status != StatusLogged || got[0].Basis != cc.BasisMixed || got[0].Ref != cid {
		t.Errorf("mixed bases = %+v, want logged as mixed", got[0])
	}
	evs, err := AccessLog(e.kv, pat.did)
	if err != nil || len(evs) == 0 {
		t.Fatalf("AccessLog = %v, %v", evs, err)
	}
	if got, want := evs[0].Bases, []cc.Basis{cc.BasisAuthor, cc.BasisConsent}; !slices.Equal(got, want) {
		t.Errorf("bases = %v, want %v", got, want)
	}
	s = mustSign(t, e.request(doc, pat, "TREAT", "Immunization/i1", "Immunization/i2"), doc)
	got = e.logTx(t, node, logEv(s, "Immunization/i1", "Immunization/i2"))
	if got[0].Status != StatusLogged || got[0].Basis != cc.BasisConsent || got[0].Ref != cid {
		t.Errorf("two records under one consent = %+v, want logged", got[0])
	}
}

func TestLogUnauthorizedSigner(t *testing.T) {
	e := newEnv(t)
	s := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1", "DiagnosticReport/d1"), pat)
	for _, tt := range []struct {
		name   string
		signer *actor
		ids    []string
	}{
		{"a physician, not a node", doc, []string{"Observation/o1"}},
		{"the patient", pat, []string{"Observation/o1"}},
		{"another organization's node", labnode, []string{"Observation/o1"}},
		{"the node of one of two custodians", node, []string{"Observation/o1", "DiagnosticReport/d1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.clone()
			_, err := c.apply(t, tt.signer, TypeLog, obj{"events": []obj{logEv(s, tt.ids...)}})
			cctest.WantKind(t, err, cc.Unauthorized)
		})
	}
	// With only unknown records no custodian vouches for the signer: a
	// patient is refused, any organization's node gets "invalid" results.
	unknown := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/zz"), pat)
	_, err := e.apply(t, pat, TypeLog, obj{"events": []obj{logEv(unknown, "Observation/zz")}})
	cctest.WantKind(t, err, cc.Unauthorized)
	if got := e.clone().logTx(t, labnode, logEv(unknown, "Observation/zz")); got[0].Status != StatusInvalid {
		t.Errorf("unknown record logged by a node = %+v, want invalid", got[0])
	}
	// The same event in a batch with a foreign record refuses the batch.
	ok := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1"), pat)
	_, err = e.apply(t, node, TypeLog, obj{"events": []obj{logEv(ok, "Observation/o1"), logEv(s, "DiagnosticReport/d1")}})
	cctest.WantKind(t, err, cc.Unauthorized)
}

func TestLogPayloadRejections(t *testing.T) {
	e := newEnv(t)
	s := mustSign(t, e.request(pat, pat, "PATRQT", "Observation/o1"), pat)
	many := make([]obj, MaxEventsPerTx+1)
	for i := range many {
		many[i] = logEv(s, "Observation/o1")
	}
	tests := []struct {
		name    string
		payload any
		want    cc.Kind
	}{
		{"not an object", []byte(`[]`), cc.Malformed},
		{"unknown field", obj{"events": []obj{logEv(s, "Observation/o1")}, "x": 1}, cc.Malformed},
		{"case-variant event field", []byte(`{"events":[{"Read":{},"records":["Observation/o1"]}]}`), cc.Malformed},
		{"read not an object", obj{"events": []obj{{"read": "x", "records": []string{"Observation/o1"}}}}, cc.Malformed},
		{"unknown read field", obj{"events": []obj{{"read": obj{"request": obj{}, "sig": "", "x": 1}, "records": []string{"Observation/o1"}}}}, cc.Malformed},
		{"no events", obj{"events": []obj{}}, cc.Invalid},
		{"too many events", obj{"events": many}, cc.Invalid},
		{"no records", obj{"events": []obj{logEv(s)}}, cc.Invalid},
		{"bad record id", obj{"events": []obj{logEv(s, "o1")}}, cc.Invalid},
		{"repeated record", obj{"events": []obj{logEv(s, "Observation/o1", "Observation/o1")}}, cc.Invalid},
		{"unknown basis", obj{"events": []obj{{"read": s, "records": []string{"Observation/o1"}, "basis": "hunch"}}}, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.clone().apply(t, node, TypeLog, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
