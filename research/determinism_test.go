package research

import (
	"reflect"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
	"carechain/ledger/store"
)

// scenario runs every transaction type, rejections included, on a fresh
// state and returns the state and the results.
func scenario(t *testing.T) (*store.Overlay, []cc.Result) {
	e := newEnv(t)
	var results []cc.Result
	run := func(a *actor, typ string, payload any) {
		r, _ := e.apply(t, a, typ, payload)
		results = append(results, r)
	}
	run(res, TypeRegister, project("p1"))
	run(gov1, TypeApprove, obj{"id": "p1"})
	run(gov1, TypeApprove, obj{"id": "p1"}) // rejected
	run(gov2, TypeApprove, obj{"id": "p1"})
	e.next()
	run(pat, TypeOptIn, obj{"project": "p1", "patient": pat.did})
	run(deleg, TypeOptIn, obj{"project": "p1", "patient": pat2.did}) // rejected
	run(pat2, TypeOptIn, obj{"project": "p1", "patient": pat2.did})
	run(pat3, TypeOptOut, obj{"project": "p1", "patient": pat3.did})
	e.next()
	run(res, TypeAsk, ask(1_500_000))
	run(res, TypeAsk, ask(600_000)) // rejected: budget
	e.next()
	run(node, TypeAnswer, goodAnswer(1, 1_500_000))
	run(pat, TypeOptOut, obj{"project": "p1", "patient": pat.did})
	return e.kv, results
}

func TestDeterminism(t *testing.T) {
	kv1, res1 := scenario(t)
	kv2, res2 := scenario(t)
	if d := cctest.Diff(kv1, kv2); d != "" {
		t.Fatalf("two runs of the same transactions differ:\n%s", d)
	}
	if !reflect.DeepEqual(res1, res2) {
		t.Fatal("two runs of the same transactions returned different results")
	}
	p, err := GetProject(kv1, "p1")
	if err != nil || p.SpentMicro != 1_500_000 || p.Queries != 1 {
		t.Fatalf("project = %+v, %v", p, err)
	}
	parts, _ := ListParticipations(kv1, "p1")
	statuses := map[cc.DID]string{}
	for _, pp := range parts {
		statuses[pp.Patient] = pp.Status
	}
	want := map[cc.DID]string{pat.did: OptedOut, pat2.did: OptedIn, pat3.did: OptedOut}
	if !reflect.DeepEqual(statuses, want) {
		t.Errorf("participations = %v, want %v", statuses, want)
	}
	// Each handler, run twice on the same state, agrees with itself.
	e := newEnv(t)
	cctest.RunTwiceStrict(t, "register", handleRegister, e.ctx(res.did, TypeRegister), e.kv, canonical(t, project("p2")))
}
