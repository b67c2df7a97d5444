package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"
	"testing"
	"time"

	cc "carechain"
	"carechain/internal/cctest"
)

// linkEnv is the genesis fixture at threshold 2 with: a registered patient
// pat; st-marys' node key node (role node) beside its physician doc and
// admin hadmin; a physician labdoc of city-lab (whose admin labby is also
// a researcher); a practitioner stranger who is not a patient.
func linkEnv(t *testing.T) (e *env, pat, node, labdoc, stranger *actor) {
	t.Helper()
	e = newEnv(t, 2)
	pat, node, labdoc, stranger = newActor("pat"), newActor("node"), newActor("labdoc"), newActor("stranger")
	e.mustSubmit(t, pat, TypePatientRegister, obj{"public_key": pat.key()})
	e.mustCreate(t, node, cc.KindNode)
	e.mustCreate(t, labdoc, cc.KindPractitioner)
	e.mustCreate(t, stranger, cc.KindPractitioner)
	e.mustSubmit(t, hadmin, TypeOrgMemberAdd, obj{"org": "st-marys", "member": node.did, "roles": []string{"node"}})
	e.mustSubmit(t, labby, TypeOrgMemberAdd, obj{"org": "city-lab", "member": labdoc.did, "roles": []string{"physician"}})
	return e, pat, node, labdoc, stranger
}

// linkPayload is a patient.link payload linking patient to org, approved
// by signer's key on chain until expires.
func linkPayload(signer *actor, chain string, patient cc.DID, org string, expires time.Time) obj {
	return obj{
		"patient":  patient,
		"org":      org,
		"expires":  expires.Format(time.RFC3339),
		"approval": SignLinkApproval(signer.priv, chain, patient, org, expires),
	}
}

// b64url is unpadded base64url.
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// claimPayload is a patient.claim payload for did with code, moving it to
// newKey's key, with the proof signed by prover on chain.
func claimPayload(did cc.DID, code string, newKey, prover *actor, chain string) obj {
	_, proof := SignClaimProof(prover.priv, chain, did)
	return obj{"did": did, "code": code, "public_key": newKey.key(), "proof": proof}
}

func TestLinkApprovalBytes(t *testing.T) {
	pat := newActor("pat")
	exp := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))
	got := string(LinkApprovalBytes("c1", pat.did, "st-marys", exp))
	want := "carechain-link-v1\nc1\n" + string(pat.did) + "\nst-marys\n2026-01-02T03:04:05+01:00"
	if got != want {
		t.Errorf("LinkApprovalBytes = %q, want %q", got, want)
	}
	sig, err := base64.RawURLEncoding.DecodeString(SignLinkApproval(pat.priv, "c1", pat.did, "st-marys", exp))
	if err != nil || !ed25519.Verify(pat.pub, []byte(want), sig) {
		t.Errorf("SignLinkApproval does not verify over the approval bytes (%v)", err)
	}
	if got, want := string(ClaimProofBytes("c1", pat.did, "KEY")), "carechain-claim-v1\nc1\n"+string(pat.did)+"\nKEY"; got != want {
		t.Errorf("ClaimProofBytes = %q, want %q", got, want)
	}
	key, proof := SignClaimProof(pat.priv, "c1", pat.did)
	sig, err = base64.RawURLEncoding.DecodeString(proof)
	if key != pat.key() || err != nil || !ed25519.Verify(pat.pub, ClaimProofBytes("c1", pat.did, key), sig) {
		t.Errorf("SignClaimProof = %q, %q: does not verify", key, proof)
	}
}

func TestClaimHash(t *testing.T) {
	did, other := newActor("cust").did, newActor("other").did
	want := sha256.Sum256([]byte("carechain-claim-v1\n" + string(did) + "\nK7Q29XF4"))
	tests := []struct {
		did  cc.DID
		code string
		same bool
	}{
		{did, "K7Q29XF4", true},
		{did, "k7q2-9xf4", true},
		{did, " K7Q2 9XF4 ", true},
		{did, "K7-Q2-9X-F4", true},
		{did, "K7Q29XF5", false},
		{did, "K7Q29XF", false},
		{other, "K7Q29XF4", false},
	}
	for _, tt := range tests {
		if got := ClaimHash(tt.did, tt.code); bytes.Equal(got, want[:]) != tt.same {
			t.Errorf("ClaimHash(%s, %q) = %x, same as K7Q29XF4: %v, want %v", tt.did, tt.code, got, !tt.same, tt.same)
		}
	}
	if got := NormalizeClaimCode("ab-c d"); got != "ABCD" {
		t.Errorf("NormalizeClaimCode = %q", got)
	}
}

func TestPatientLink(t *testing.T) {
	e, pat, node, labdoc, stranger := linkEnv(t)
	exp := e.time.Add(24 * time.Hour)

	res := e.mustSubmit(t, doc, TypePatientLink, linkPayload(pat, testChain, pat.did, "st-marys", exp))
	want := cc.PatientLink{Patient: pat.did, Org: "st-marys", Height: e.height, Expires: exp}
	if got := cctest.DecodeData[cc.PatientLink](t, res); got != want {
		t.Errorf("data = %+v, want %+v", got, want)
	}
	if got := cctest.Attr(res, TypePatientLink, "by"); got != string(doc.did) {
		t.Errorf("event by = %q", got)
	}
	if got, err := GetLink(e.kv, pat.did, "st-marys"); err != nil || *got != want {
		t.Errorf("GetLink = %+v, %v", got, err)
	}
	// The node key links too, with an approval in another time zone.
	e.height++
	plus2 := exp.In(time.FixedZone("", 2*3600))
	e.mustSubmit(t, labdoc, TypePatientLink, linkPayload(pat, testChain, pat.did, "city-lab", plus2))
	links, err := LinksOf(e.kv, pat.did)
	if err != nil || len(links) != 2 || links[0].Org != "city-lab" || links[1].Org != "st-marys" || links[0].Height != e.height || !links[0].Expires.Equal(exp) {
		t.Errorf("LinksOf = %+v, %v; want city-lab then st-marys", links, err)
	}
	pat2 := newActor("pat2")
	e.mustSubmit(t, pat2, TypePatientRegister, obj{"public_key": pat2.key()})
	e.mustSubmit(t, node, TypePatientLink, linkPayload(pat2, testChain, pat2.did, "st-marys", exp))
	for _, tt := range []struct {
		patient cc.DID
		org     string
		want    bool
	}{
		{pat.did, "st-marys", true},
		{pat.did, "city-lab", true},
		{pat2.did, "st-marys", true},
		{pat2.did, "city-lab", false},
		{stranger.did, "st-marys", false},
		{"bad", "st-marys", false},
		{pat.did, "Bad/Org", false},
	} {
		if got, err := IsLinked(e.kv, tt.patient, tt.org); got != tt.want || err != nil {
			t.Errorf("IsLinked(%s, %s) = %v, %v, want %v", tt.patient, tt.org, got, err, tt.want)
		}
	}
	_, err = GetLink(e.kv, pat2.did, "city-lab")
	cctest.WantKind(t, err, cc.NotFound)
	if got, err := LinksOf(e.kv, stranger.did); err != nil || len(got) != 0 || got == nil {
		t.Errorf("LinksOf(stranger) = %#v, %v, want empty", got, err)
	}

	// A patient who rotated their key approves with the new one only.
	pat3 := newActor("pat3")
	e.mustSubmit(t, pat3, TypePatientRegister, obj{"public_key": pat3.key()})
	e.mustSubmit(t, pat3, TypeDIDRotate, obj{"new_public_key": newActor("pat3-new").key()})
	rotated := pat3.withKey("pat3-new")

	pat4 := newActor("pat4")
	e.mustSubmit(t, pat4, TypePatientRegister, obj{"public_key": pat4.key()})
	ok := func(a *actor) obj { return linkPayload(a, testChain, a.did, "st-marys", exp) }
	with := func(p obj, k string, v any) obj { q := maps.Clone(p); q[k] = v; return q }
	tests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"admin without a custodian role", hadmin, ok(pat4), cc.Unauthorized},
		{"researcher", labby, linkPayload(pat4, testChain, pat4.did, "city-lab", exp), cc.Unauthorized},
		{"member of another organization", doc, linkPayload(pat4, testChain, pat4.did, "city-lab", exp), cc.Unauthorized},
		{"not a member", gov1, ok(pat4), cc.Unauthorized},
		{"signer not on the ledger", nobody, ok(pat4), cc.UnknownSigner},
		{"patient signs for themself", pat4, ok(pat4), cc.Unauthorized},
		{"unknown organization", doc, linkPayload(pat4, testChain, pat4.did, "nowhere", exp), cc.NotFound},
		{"bad organization", doc, with(ok(pat4), "org", "St Marys"), cc.Invalid},
		{"unknown patient", doc, linkPayload(nobody, testChain, nobody.did, "st-marys", exp), cc.NotFound},
		{"not a patient", doc, linkPayload(stranger, testChain, stranger.did, "st-marys", exp), cc.NotFound},
		{"patient not a DID", doc, with(ok(pat4), "patient", "pat4"), cc.Invalid},
		{"expired approval", doc, linkPayload(pat4, testChain, pat4.did, "st-marys", e.time.Add(-time.Second)), cc.Invalid},
		{"approval expiring at the block time", doc, linkPayload(pat4, testChain, pat4.did, "st-marys", e.time), cc.Invalid},
		{"expires with fractional seconds", doc, with(ok(pat4), "expires", exp.Format(time.RFC3339Nano)[:19]+".5Z"), cc.Invalid},
		{"expires in +00:00 form", doc, with(ok(pat4), "expires", exp.Format("2006-01-02T15:04:05")+"+00:00"), cc.Invalid},
		{"expires not a time", doc, with(ok(pat4), "expires", "tomorrow"), cc.Invalid},
		{"expires after 9999", doc, with(ok(pat4), "expires", "9999-12-31T23:00:00-05:00"), cc.Invalid},
		{"approval of another key", doc, linkPayload(stranger, testChain, pat4.did, "st-marys", exp), cc.BadSignature},
		{"approval for another organization", doc, with(ok(pat4), "approval", SignLinkApproval(pat4.priv, testChain, pat4.did, "city-lab", exp)), cc.BadSignature},
		{"approval for another chain", doc, linkPayload(pat4, "other-chain", pat4.did, "st-marys", exp), cc.BadSignature},
		{"approval with another expiry", doc, with(ok(pat4), "expires", exp.Add(time.Hour).Format(time.RFC3339)), cc.BadSignature},
		{"approval by a rotated-away key", doc, linkPayload(pat3, testChain, pat3.did, "st-marys", exp), cc.BadSignature},
		{"approval not base64url", doc, with(ok(pat4), "approval", "!!"), cc.Invalid},
		{"approval too short", doc, with(ok(pat4), "approval", b64url([]byte("short"))), cc.Invalid},
		{"double link", doc, ok(pat), cc.Conflict},
		{"double link by another member", node, ok(pat), cc.Conflict},
		{"extra field", doc, with(ok(pat4), "custodial", true), cc.Malformed},
		{"missing approval", doc, obj{"patient": pat4.did, "org": "st-marys", "expires": exp.Format(time.RFC3339)}, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypePatientLink, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	if ok, _ := IsLinked(e.kv, pat4.did, "st-marys"); ok {
		t.Error("a rejected link linked pat4")
	}
	e.mustSubmit(t, doc, TypePatientLink, linkPayload(rotated, testChain, pat3.did, "st-marys", exp))

	// A suspended organization cannot link.
	e.mustSubmit(t, gov1, TypeGovPropose, obj{"action": "org.suspend", "params": obj{"id": "st-marys"}})
	e.mustSubmit(t, gov2, TypeGovApprove, obj{"proposal": 1})
	_, err = e.submit(t, doc, TypePatientLink, ok(pat4))
	cctest.WantKind(t, err, cc.FailedPrecondition)
}

func TestCustodialCreateAndClaim(t *testing.T) {
	e, pat, node, labdoc, _ := linkEnv(t)
	cust, own := newActor("cust"), newActor("cust-own")
	const code = "K7Q2-9XF4"
	create := func(a *actor, org, code string) obj {
		return obj{"public_key": a.key(), "org": org, "claim_hash": b64url(ClaimHash(a.did, code))}
	}

	res := e.mustSubmit(t, node, TypeCustodialCreate, create(cust, "st-marys", code))
	want := cc.PatientLink{Patient: cust.did, Org: "st-marys", Height: e.height, Custodial: true}
	if got := cctest.DecodeData[cc.PatientLink](t, res); got != want {
		t.Errorf("data = %+v, want %+v", got, want)
	}
	rec := mustDID(t, e.kv, cust.did)
	if rec.Kind != cc.KindPatient || rec.KeyVersion != 1 || !bytes.Equal(rec.PublicKey, cust.pub) || rec.Created != e.height {
		t.Errorf("record = %+v", rec)
	}
	if p, err := GetPatient(e.kv, cust.did); err != nil || p.Registered != e.height {
		t.Errorf("patient = %+v, %v", p, err)
	}
	l, err := GetLink(e.kv, cust.did, "st-marys")
	if err != nil || *l != want {
		t.Errorf("link = %+v, %v", l, err)
	}
	if c, ok, err := lookupClaim(e.kv, cust.did); err != nil || !ok || c.Org != "st-marys" || !bytes.Equal(c.Hash, ClaimHash(cust.did, code)) {
		t.Errorf("claim = %+v, %v, %v", c, ok, err)
	}
	// The custodial patient is linked already.
	_, err = e.submit(t, doc, TypePatientLink, linkPayload(cust, testChain, cust.did, "st-marys", e.time.Add(time.Hour)))
	cctest.WantKind(t, err, cc.Conflict)

	createTests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"existing custodial DID", doc, create(cust, "st-marys", "OTHER"), cc.Conflict},
		{"DID of a registered patient", doc, create(pat, "st-marys", code), cc.Conflict},
		{"DID of a practitioner", doc, create(labdoc, "st-marys", code), cc.Conflict},
		{"admin without a custodian role", hadmin, create(newActor("c2"), "st-marys", code), cc.Unauthorized},
		{"member of another organization", labdoc, create(newActor("c2"), "st-marys", code), cc.Unauthorized},
		{"unknown organization", doc, create(newActor("c2"), "nowhere", code), cc.NotFound},
		{"bad key", doc, obj{"public_key": "!!", "org": "st-marys", "claim_hash": b64url(ClaimHash(cust.did, code))}, cc.Invalid},
		{"short claim hash", doc, obj{"public_key": newActor("c2").key(), "org": "st-marys", "claim_hash": b64url([]byte("abc"))}, cc.Invalid},
		{"padded claim hash", doc, obj{"public_key": newActor("c2").key(), "org": "st-marys", "claim_hash": base64.URLEncoding.EncodeToString(ClaimHash(cust.did, code))}, cc.Invalid},
		{"extra field", doc, obj{"public_key": newActor("c2").key(), "org": "st-marys", "claim_hash": b64url(ClaimHash(cust.did, code)), "code": code}, cc.Malformed},
	}
	for _, tt := range createTests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypeCustodialCreate, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}

	e.height++
	before := cctest.Copy(e.kv)
	good := claimPayload(cust.did, code, own, own, testChain)
	with := func(k string, v any) obj { q := maps.Clone(good); q[k] = v; return q }
	claimTests := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"wrong code", doc, with("code", "K7Q2-9XF5"), cc.Unauthorized},
		{"code of another DID", doc, with("code", "OTHER"), cc.Unauthorized},
		{"empty code", doc, with("code", " - "), cc.Invalid},
		{"code too long", doc, with("code", string(make([]byte, MaxClaimCodeLen+1))), cc.Invalid},
		{"member of another organization", labdoc, good, cc.Unauthorized},
		{"admin without a custodian role", hadmin, good, cc.Unauthorized},
		{"the custodial DID itself", cust, good, cc.Unauthorized},
		{"signer not on the ledger", nobody, good, cc.UnknownSigner},
		{"proof by another key", doc, claimPayload(cust.did, code, own, newActor("x"), testChain), cc.BadSignature},
		{"proof by the custodial key", doc, claimPayload(cust.did, code, own, cust, testChain), cc.BadSignature},
		{"proof for another chain", doc, claimPayload(cust.did, code, own, own, "other-chain"), cc.BadSignature},
		{"proof for another DID", doc, with("proof", func() string { _, p := SignClaimProof(own.priv, testChain, pat.did); return p }()), cc.BadSignature},
		{"proof not base64url", doc, with("proof", "!!"), cc.Invalid},
		{"new key is the custodial key", doc, claimPayload(cust.did, code, cust, cust, testChain), cc.Invalid},
		{"bad new key", doc, with("public_key", "!!"), cc.Invalid},
		{"not a custodial DID", doc, claimPayload(pat.did, code, own, own, testChain), cc.FailedPrecondition},
		{"unknown DID", doc, claimPayload(nobody.did, code, own, own, testChain), cc.NotFound},
		{"bad DID", doc, with("did", "cust"), cc.Invalid},
		{"extra field", doc, with("org", "st-marys"), cc.Malformed},
	}
	for _, tt := range claimTests {
		t.Run("claim/"+tt.name, func(t *testing.T) {
			_, err := e.submit(t, tt.signer, TypePatientClaim, tt.payload)
			cctest.WantKind(t, err, tt.want)
		})
	}
	if d := cctest.Diff(before, e.kv); d != "" {
		t.Fatalf("rejected claims changed the state:\n%s", d)
	}

	// The gatekeeper relays the person's claim; the code may be typed
	// in any case, with or without dashes and spaces.
	res = e.mustSubmit(t, doc, TypePatientClaim, claimPayload(cust.did, "k7q2 9xf4", own, own, testChain))
	got := cctest.DecodeData[claimResult](t, res)
	if want := (claimResult{DID: cust.did, Org: "st-marys", KeyVersion: 2, Claimed: e.height}); got != want {
		t.Errorf("data = %+v, want %+v", got, want)
	}
	rec = mustDID(t, e.kv, cust.did)
	if !bytes.Equal(rec.PublicKey, own.pub) || rec.KeyVersion != 2 || rec.Updated != e.height || rec.Kind != cc.KindPatient {
		t.Errorf("record after claim = %+v", rec)
	}
	l, err = GetLink(e.kv, cust.did, "st-marys")
	if want := (cc.PatientLink{Patient: cust.did, Org: "st-marys", Height: e.height - 1, Claimed: e.height}); err != nil || *l != want {
		t.Errorf("link after claim = %+v, %v; want %+v", l, err, want)
	}
	if _, ok, _ := lookupClaim(e.kv, cust.did); ok {
		t.Error("the claim is still pending")
	}
	// The code works once.
	_, err = e.submit(t, doc, TypePatientClaim, claimPayload(cust.did, code, newActor("again"), newActor("again"), testChain))
	cctest.WantKind(t, err, cc.FailedPrecondition)
	_, err = e.submit(t, doc, TypePatientClaim, good)
	cctest.WantKind(t, err, cc.FailedPrecondition)

	// The person now approves links with their own key, not the custodial one.
	exp := e.time.Add(time.Hour)
	_, err = e.submit(t, labdoc, TypePatientLink, linkPayload(cust, testChain, cust.did, "city-lab", exp))
	cctest.WantKind(t, err, cc.BadSignature)
	e.mustSubmit(t, labdoc, TypePatientLink, linkPayload(own, testChain, cust.did, "city-lab", exp))
	e.mustSubmit(t, cust.withKey("cust-own"), TypeDIDRotate, obj{"new_public_key": newActor("later").key()})
}

func TestClaimCancelsRecovery(t *testing.T) {
	e, _, node, _, _ := linkEnv(t)
	cust, own, ga, gb := newActor("cust"), newActor("cust-own"), newActor("ga"), newActor("gb")
	e.mustCreate(t, ga, cc.KindPractitioner)
	e.mustCreate(t, gb, cc.KindPractitioner)
	e.mustSubmit(t, node, TypeCustodialCreate, obj{"public_key": cust.key(), "org": "st-marys", "claim_hash": b64url(ClaimHash(cust.did, "abc"))})
	// While custodial, the custodian's key set guardians who started a
	// recovery; the claim cancels it, as a rotation does.
	e.mustSubmit(t, cust, TypeGuardiansSet, obj{"guardians": []cc.DID{ga.did, gb.did}, "threshold": 2, "delay_blocks": 1})
	e.mustSubmit(t, ga, TypeRecoveryApprove, obj{"did": cust.did, "new_public_key": newActor("evil").key()})
	res := e.mustSubmit(t, node, TypePatientClaim, claimPayload(cust.did, "ABC", own, own, testChain))
	if got := cctest.Attr(res, TypePatientClaim, "recovery_cancelled"); got != "true" {
		t.Errorf("recovery_cancelled = %q", got)
	}
	if _, err := GetRecovery(e.kv, cust.did); !cc.Is(cc.NotFound, err) {
		t.Errorf("recovery after claim: %v", err)
	}
	if got := eventTypes(res); !slices.Equal(got, []string{TypePatientClaim}) {
		t.Errorf("events = %v", got)
	}
}
