package consent

import (
	"fmt"
	"strings"
	"testing"

	cc "carechain"
)

func TestCompileCondition(t *testing.T) {
	cases := []struct {
		expr string
		want cc.Kind // 0: compiles
	}{
		{`true`, 0},
		{`request.purpose in ["TREAT", "ETREAT"] && record.type == "Immunization"`, 0},
		{`"physician" in request.roles && "st-marys" in request.orgs && request.requester.startsWith("did:cc:")`, 0},
		{`record.data_time > timestamp("2020-01-01T00:00:00Z") && request.time - record.data_time < duration("87600h")`, 0},
		{`record.categories.exists(c, c.endsWith("|laboratory")) && record.version >= 1 && record.author_org != record.org`, 0},
		{`request.time.getFullYear() >= 2025 && request.action.matches("^(read|search)$")`, 0},
		{``, cc.Invalid},
		{`request.purpose ==`, cc.Invalid},
		{`request.purpose`, cc.Invalid},
		{`dyn(true)`, cc.Invalid},
		{`request.nope == 1`, cc.Invalid},
		{`patient == "x"`, cc.Invalid},
		{`now() > request.time`, cc.Invalid},
		{`request.purpose == 1`, cc.Invalid},
		{`request.time.getHours("Europe/London") > 8`, cc.Invalid},
		{`record.data_time.getDayOfWeek("+01:00") == 1`, cc.Invalid},
		{strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), cc.Invalid},
		{"true" + strings.Repeat(" ", MaxConditionLen), cc.Invalid},
		{"\xff == true", cc.Invalid},
	}
	for _, tc := range cases {
		err := CompileCondition(tc.expr)
		if got := cc.KindOf(err); got != tc.want {
			t.Errorf("CompileCondition(%.60q) = %v, want kind %v", tc.expr, err, tc.want)
		}
	}
}

func TestConditionEval(t *testing.T) {
	req := ask(gp, []cc.Member{member("uni", cc.RoleResearcher), member("city-clinic", cc.RolePhysician, cc.RoleAdmin)}, "TREAT", lab)
	list := "[" + strings.Repeat("1,", 29) + "1]"
	cases := []struct {
		expr    string
		want    bool
		wantErr bool
	}{
		{`request.orgs == ["city-clinic", "uni"]`, true, false},
		{`request.roles == ["admin", "physician", "researcher"]`, true, false},
		{`request.time == timestamp("2025-03-01T12:00:00Z") && record.data_time == timestamp("2024-06-01T00:00:00Z")`, true, false},
		{`record.categories == ["` + labCat + `"] && record.version == 1 && record.author_org == "st-marys"`, true, false},
		{`request.action == "search"`, false, false},
		{`record.categories[1] == "x"`, false, true},
		{`1 / (record.version - 1) == 0`, false, true},
		{fmt.Sprintf(`%s.all(a, %s.all(b, %s.all(c, a + b + c > 0)))`, list, list, list), false, true},
		{`1 +`, false, true},
	}
	for _, tc := range cases {
		in := &conditionInput{req: req}
		got, err := in.eval(tc.expr)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("eval(%.60q) = %v, %v; want %v, error %v", tc.expr, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestConditionAfterManyOthers(t *testing.T) {
	for i := range maxCachedConditions + 10 {
		if err := CompileCondition(fmt.Sprintf("record.version == %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	in := &conditionInput{req: ask(gp, nil, "TREAT", lab)}
	if ok, err := in.eval(`record.version == 1`); !ok || err != nil {
		t.Errorf("after eviction: %v, %v", ok, err)
	}
}
