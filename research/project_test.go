package research

import (
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func with(base obj, k string, v any) obj {
	out := obj{}
	for kk, vv := range base {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	e.mustApply(t, res, TypeRegister, project("taken"))
	tests := []struct {
		name    string
		signer  *actor
		payload any
		want    cc.Kind
	}{
		{"ok by researcher", res, project("flu-2026"), 0},
		{"ok by admin", nadmin, project("flu-admin"), 0},
		{"malformed", res, []byte(`[1]`), cc.Malformed},
		{"unknown field", res, with(project("x1"), "extra", 1), cc.Malformed},
		{"bad id", res, project("Bad ID"), cc.Invalid},
		{"no HRESEARCH", res, with(project("x2"), "purposes", []string{"TREAT"}), cc.Invalid},
		{"unknown purpose", res, with(project("x3"), "purposes", []string{"HRESEARCH", "NOPE"}), cc.Invalid},
		{"no types", res, with(project("x4"), "resource_types", []string{}), cc.Invalid},
		{"bad type", res, with(project("x5"), "resource_types", []string{"immunization"}), cc.Invalid},
		{"neither aggregates nor extracts", res, with(with(project("x6"), "aggregates", false), "extracts", false), cc.Invalid},
		{"period reversed", res, with(project("x7"), "period", obj{"start": "2027-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}), cc.Invalid},
		{"period ended", res, with(project("x8"), "period", obj{"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}), cc.Invalid},
		{"open period", res, with(project("x9"), "period", obj{"start": "2026-01-01T00:00:00Z"}), cc.Invalid},
		{"zero budget", res, with(project("x10"), "budget_micro_epsilon", 0), cc.Invalid},
		{"huge budget", res, with(project("x11"), "budget_micro_epsilon", MaxBudgetMicro+1), cc.Invalid},
		{"empty ethics", res, with(project("x12"), "ethics", ""), cc.Invalid},
		{"not an institute", cadmin, with(project("x13"), "org", "clinic"), cc.Invalid},
		{"unknown org", res, with(project("x14"), "org", "nowhere"), cc.NotFound},
		{"outsider", hadmin, project("x15"), cc.Unauthorized},
		{"patient", pat, project("x16"), cc.Unauthorized},
		{"taken", res, project("taken"), cc.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.apply(t, tt.signer, TypeRegister, tt.payload)
			if tt.want != 0 {
				cctest.WantKind(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := cctest.DecodeData[Project](t, r)
			if p.Status != StatusPending || p.SpentMicro != 0 || len(p.Approvals) != 0 || p.Registrant != tt.signer.did {
				t.Errorf("registered %+v", p)
			}
		})
	}
}

func TestApprove(t *testing.T) {
	e := newEnv(t)
	e.mustApply(t, res, TypeRegister, project("p1"))
	steps := []struct {
		name       string
		signer     *actor
		id         string
		want       cc.Kind
		wantStatus string
	}{
		{"non-member", res, "p1", cc.Unauthorized, StatusPending},
		{"unknown project", gov1, "nope", cc.NotFound, StatusPending},
		{"first approval", gov1, "p1", 0, StatusPending},
		{"repeated", gov1, "p1", cc.Conflict, StatusPending},
		{"threshold reached", gov2, "p1", 0, StatusApproved},
		{"already approved", gov2, "p1", cc.FailedPrecondition, StatusApproved},
	}
	for _, s := range steps {
		_, err := e.apply(t, s.signer, TypeApprove, obj{"id": s.id})
		if s.want != 0 {
			cctest.WantKind(t, err, s.want)
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := e.project(t, "p1").Status; got != s.wantStatus {
			t.Errorf("%s: status = %s, want %s", s.name, got, s.wantStatus)
		}
	}
	st, err := Approval(e.kv, e.project(t, "p1"))
	if err != nil || st.Approvals != 2 || st.Threshold != 2 {
		t.Errorf("Approval = %+v, %v", st, err)
	}
}
