package research

import (
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func ask(eps int64) obj {
	return obj{"project": "p1", "query": obj{"measure": "coverage", "vaccine": "208", "by": []string{"region"}}, "epsilon_micro": eps}
}

// goodAnswer is a valid answer for a question that cost eps.
func goodAnswer(n int, eps int64) obj {
	return obj{"project": "p1", "query": n, "answer": obj{"mechanism": "discrete-laplace", "sensitivity": 4, "epsilon_micro": eps,
		"delta_ppb": 0, "min_cell": MinCell, "state_height": 5, "cells": []obj{
			{"group": []string{}, "n": 40, "num": 20, "rate_ppm": 500000},
			{"group": []string{"North"}, "n": 25, "num": 12, "rate_ppm": 480000},
			{"group": []string{"South"}, "suppressed": true, "n": 0}}}}
}

func TestAskBudget(t *testing.T) {
	e := newEnv(t)
	e.approved(t, "p1")
	e.mustApply(t, res, TypeRegister, with(project("noagg"), "aggregates", false))
	e.mustApply(t, gov1, TypeApprove, obj{"id": "noagg"})
	e.mustApply(t, gov2, TypeApprove, obj{"id": "noagg"})
	e.mustApply(t, res, TypeRegister, project("pending"))
	steps := []struct {
		name      string
		signer    *actor
		payload   obj
		want      cc.Kind
		wantSpent int64
	}{
		{"patient asks", pat, ask(500_000), cc.Unauthorized, 0},
		{"hospital asks", hadmin, ask(500_000), cc.Unauthorized, 0},
		{"too cheap", res, ask(MinQueryMicro - 1), cc.Invalid, 0},
		{"bad measure", res, with(ask(500_000), "query", obj{"measure": "median"}), cc.Invalid, 0},
		{"coverage without vaccine", res, with(ask(500_000), "query", obj{"measure": "coverage"}), cc.Invalid, 0},
		{"bad dimension", res, with(ask(500_000), "query", obj{"measure": "count", "by": []string{"postcode"}}), cc.Invalid, 0},
		{"repeated dimension", res, with(ask(500_000), "query", obj{"measure": "count", "by": []string{"sex", "sex"}}), cc.Invalid, 0},
		{"pending project", res, with(ask(500_000), "project", "pending"), cc.FailedPrecondition, 0},
		{"no aggregates", res, with(ask(500_000), "project", "noagg"), cc.FailedPrecondition, 0},
		{"first", res, ask(500_000), 0, 500_000},
		{"second by admin", nadmin, ask(1_000_000), 0, 1_500_000},
		{"over budget", res, ask(600_000), cc.FailedPrecondition, 1_500_000},
		{"exactly the rest", res, ask(500_000), 0, 2_000_000},
		{"spent", res, ask(MinQueryMicro), cc.FailedPrecondition, 2_000_000},
	}
	for _, s := range steps {
		_, err := e.apply(t, s.signer, TypeAsk, s.payload)
		if s.want != 0 {
			cctest.WantKind(t, err, s.want)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want == cc.FailedPrecondition && strings.HasPrefix(s.name, "spent") && !strings.Contains(err.Error(), "privacy budget exhausted") {
			t.Errorf("%s: error %q does not say the budget is exhausted", s.name, err)
		}
		if got := e.project(t, "p1").SpentMicro; got != s.wantSpent {
			t.Errorf("%s: spent %d, want %d", s.name, got, s.wantSpent)
		}
	}
	qs, err := ListQueries(e.kv, "p1")
	if err != nil || len(qs) != 3 || qs[2].N != 3 || qs[0].Spec.AsOf != 2026 || qs[0].Spec.Dose != 1 || qs[0].Status != QueryPending {
		t.Errorf("queries = %+v, %v", qs, err)
	}
}

func TestAnswer(t *testing.T) {
	e := newEnv(t)
	e.approved(t, "p1")
	e.mustApply(t, res, TypeAsk, ask(500_000))
	e.next()
	bad := func(mod func(a obj)) obj {
		p := goodAnswer(1, 500_000)
		mod(p["answer"].(obj))
		return p
	}
	cells := func(cs ...obj) func(a obj) { return func(a obj) { a["cells"] = cs } }
	steps := []struct {
		name    string
		signer  *actor
		payload obj
		want    cc.Kind
	}{
		{"researcher answers", res, goodAnswer(1, 500_000), cc.Unauthorized},
		{"hospital admin answers", hadmin, goodAnswer(1, 500_000), cc.Unauthorized},
		{"unknown question", node, goodAnswer(2, 500_000), cc.NotFound},
		{"wrong epsilon", node, goodAnswer(1, 400_000), cc.Invalid},
		{"k too small", node, bad(func(a obj) { a["min_cell"] = 5 }), cc.Invalid},
		{"small cell shown", node, bad(cells(obj{"group": []string{}, "n": 7})), cc.Invalid},
		{"suppressed cell with values", node, bad(cells(obj{"group": []string{}, "suppressed": true, "n": 20})), cc.Invalid},
		{"total with a group", node, bad(cells(obj{"group": []string{"North"}, "n": 20})), cc.Invalid},
		{"negative", node, bad(cells(obj{"group": []string{}, "n": 20, "num": -1})), cc.Invalid},
		{"future state", node, bad(func(a obj) { a["state_height"] = 100 }), cc.Invalid},
		{"no cells", node, bad(cells()), cc.Invalid},
		{"node answers", node, goodAnswer(1, 500_000), 0},
		{"second answer", node, goodAnswer(1, 500_000), cc.Conflict},
	}
	for _, s := range steps {
		_, err := e.apply(t, s.signer, TypeAnswer, s.payload)
		if s.want != 0 {
			cctest.WantKind(t, err, s.want)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	q, err := GetQuery(e.kv, "p1", 1)
	if err != nil || q.Status != QueryAnswered || q.AnsweredBy != node.did || len(q.Answer.Cells) != 3 || q.Answer.Cells[1].RatePPM != 480000 {
		t.Errorf("query = %+v, %v", q, err)
	}
}
