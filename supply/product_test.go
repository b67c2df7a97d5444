package supply

import (
	"slices"
	"strings"
	"testing"

	cc "carechain"
	"carechain/internal/cctest"
)

func TestGS1Keys(t *testing.T) {
	gtins := []struct {
		in, want string
		ok       bool
	}{
		{"10614141073464", "10614141073464", true},
		{"9506000134352", "09506000134352", true}, // GTIN-13
		{"950600013435", "", false},               // 12 digits, wrong check digit
		{"614141000036", "00614141000036", true},  // GTIN-12
		{"96385074", "00000096385074", true},      // GTIN-8
		{"10614141073465", "", false},             // bad check digit
		{"1061414107346", "", false},              // 13 digits, bad check
		{"0614141073", "", false},                 // 10 digits
		{"1061414107346x", "", false},
		{"", "", false},
	}
	for _, tc := range gtins {
		got, ok := NormalizeGTIN(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeGTIN(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	epcs := []struct {
		in, want string
		ok       bool
	}{
		{sgtin("2017"), vialGTIN, true},
		{"urn:epc:id:sgtin:950600.0013435.x", "09506000134352", true},
		{"https://id.gs1.org/01/09506000134352/21/abc", "09506000134352", true},
		{"https://example.com/01/09506000134352/21/abc", "09506000134352", true},
		{"http://brand.example/path/01/9506000134352/21/7", "09506000134352", true},
		{"https://id.gs1.org/01/09506000134353/21/abc", "", false}, // check digit
		{"https://id.gs1.org/01/09506000134352", "", false},        // no serial
		{"https://id.gs1.org/01/09506000134352/21/a/b", "", false},
		{"https://id.gs1.org/01/09506000134352/21/a?x=1", "", false},
		{"urn:epc:id:sgtin:0614141.10734.1", "", false}, // 12 digits
		{"urn:epc:id:sgtin:0614141.107346", "", false},
		{sscc("1234567890"), "", false},
		{"https://id.gs1.org/00/106141412345678908", "", false},
		{"ftp://x/01/09506000134352/21/a", "", false},
	}
	for _, tc := range epcs {
		got, ok := GTINOf(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("GTINOf(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	glns := []struct {
		in, want string
		ok       bool
	}{
		{"0614141000012", "0614141000012", true},
		{"0614141000013", "", false},
		{mfgSite, "0614141007776", true},
		{"urn:epc:id:sgln:0614141.00777.12", "0614141007776", true},
		{"urn:epc:id:sgln:0614141.0077.0", "", false},
		{clinicSite, "0614141000012", true},
		{"https://example.org/414/0614141000012/254/dock-2", "0614141000012", true},
		{"https://id.gs1.org/414/0614141000012/254/", "", false},
		{"https://id.gs1.org/414/0614141000013", "", false},
		{"https://id.gs1.org/414/0614141000012/99/x", "", false},
		{"061414100001", "", false},
	}
	for _, tc := range glns {
		got, ok := NormalizeGLN(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeGLN(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestProductRegister(t *testing.T) {
	e := newMasterEnv(t)
	res := e.mustRun(t, mfg, TypeProductRegister, vaccine(obj{"gtin": "10614141073464"}))
	got := cctest.DecodeData[Product](t, res)
	want := Product{GTIN: vialGTIN, Org: "pharma-co", Name: "Vaccine X 10-dose vial", CVX: "208", SNOMED: "1119349007",
		StorageMinMilliC: 2000, StorageMaxMilliC: 8000, ExcursionMinutes: 30, DosesPerVial: 10, Version: 1,
		RegisteredAt: e.height, UpdatedAt: e.height}
	if got != want {
		t.Errorf("registered %+v, want %+v", got, want)
	}
	if v := cctest.Attr(res, "supply.product", "gtin"); v != vialGTIN {
		t.Errorf("event gtin %q", v)
	}
	first := e.height
	// The same manufacturer updates it (an admin this time), by a shorter GTIN form.
	e.mustRun(t, mfgAdmin, TypeProductRegister, vaccine(obj{"excursion_minutes": 0, "cvx": nil, "condition": "reading.max_milli_c > 25000"}))
	p, err := GetProduct(e.kv, vialGTIN)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || p.RegisteredAt != first || p.UpdatedAt != e.height || p.ExcursionMinutes != 0 || p.CVX != "" || p.Condition == "" {
		t.Errorf("after update %+v", *p)
	}
	if _, err := GetProduct(e.kv, "09506000134352"); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetProduct(unregistered) = %v, want not_found", err)
	}
	if _, err := GetProduct(e.kv, "junk"); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetProduct(junk) = %v, want not_found", err)
	}
	e.mustRun(t, bioAdmin, TypeProductRegister, vaccine(obj{"org": "bio-co", "gtin": "9506000134352"}))
	all, err := Products(e.kv)
	if err != nil || len(all) != 2 || all[0].GTIN != "09506000134352" || all[1].GTIN != vialGTIN {
		t.Errorf("Products = %+v, %v", all, err)
	}

	long := strings.Repeat("x", MaxNameLen+1)
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"not an object", mfg, []byte(`"x"`), cc.Malformed, ""},
		{"unknown field", mfg, vaccine(obj{"colour": "red"}), cc.Malformed, "colour"},
		{"float temperature", mfg, vaccine(obj{"storage_min_milli_c": 2.5}), cc.Malformed, "storage_min_milli_c"},
		{"bad org", mfg, vaccine(obj{"org": "Pharma"}), cc.Invalid, "org"},
		{"bad check digit", mfg, vaccine(obj{"gtin": "10614141073465"}), cc.Invalid, "check digit"},
		{"gtin length", mfg, vaccine(obj{"gtin": "123"}), cc.Invalid, "gtin"},
		{"no name", mfg, vaccine(obj{"name": nil}), cc.Invalid, "name"},
		{"long name", mfg, vaccine(obj{"name": long}), cc.Invalid, "name"},
		{"name control char", mfg, vaccine(obj{"name": "a\nb"}), cc.Invalid, "name"},
		{"cvx letters", mfg, vaccine(obj{"cvx": "2a"}), cc.Invalid, "cvx"},
		{"cvx long", mfg, vaccine(obj{"cvx": "2081"}), cc.Invalid, "cvx"},
		{"snomed letters", mfg, vaccine(obj{"snomed": "abc123"}), cc.Invalid, "snomed"},
		{"snomed short", mfg, vaccine(obj{"snomed": "12345"}), cc.Invalid, "snomed"},
		{"no min", mfg, vaccine(obj{"storage_min_milli_c": nil}), cc.Invalid, "required"},
		{"no max", mfg, vaccine(obj{"storage_max_milli_c": nil}), cc.Invalid, "required"},
		{"min equals max", mfg, vaccine(obj{"storage_min_milli_c": 8000}), cc.Invalid, "min < max"},
		{"min above max", mfg, vaccine(obj{"storage_min_milli_c": 9000}), cc.Invalid, "min < max"},
		{"below absolute zero", mfg, vaccine(obj{"storage_min_milli_c": MinMilliC - 1}), cc.Invalid, "storage range"},
		{"too hot", mfg, vaccine(obj{"storage_max_milli_c": MaxMilliC + 1}), cc.Invalid, "storage range"},
		{"negative excursion", mfg, vaccine(obj{"excursion_minutes": -1}), cc.Invalid, "excursion_minutes"},
		{"excursion too long", mfg, vaccine(obj{"excursion_minutes": MaxExcursionMinutes + 1}), cc.Invalid, "excursion_minutes"},
		{"no doses", mfg, vaccine(obj{"doses_per_vial": nil}), cc.Invalid, "doses_per_vial"},
		{"too many doses", mfg, vaccine(obj{"doses_per_vial": 101}), cc.Invalid, "doses_per_vial"},
		{"condition syntax", mfg, vaccine(obj{"condition": "reading.value_milli_c >"}), cc.Invalid, "does not compile"},
		{"condition unknown field", mfg, vaccine(obj{"condition": "reading.celsius > 8"}), cc.Invalid, "does not compile"},
		{"condition not bool", mfg, vaccine(obj{"condition": "reading.value_milli_c + 1"}), cc.Invalid, "not bool"},
		{"condition time zone", mfg, vaccine(obj{"condition": "timestamp('2026-01-01T00:00:00Z').getHours('Europe/Paris') > 1"}), cc.Invalid, "time zone"},
		{"condition too long", mfg, vaccine(obj{"condition": strings.Repeat("true && ", 200) + "true"}), cc.Invalid, "longer"},
		{"distributor", dist, vaccine(obj{"org": "distrib"}), cc.Unauthorized, "not a manufacturer"},
		{"not a member", dist, vaccine(nil), cc.Unauthorized, "needs role admin or logistics"},
		{"suspended org", shady, vaccine(obj{"org": "gone-org"}), cc.Unauthorized, "suspended"},
		{"unknown org", mfg, vaccine(obj{"org": "nowhere"}), cc.Unauthorized, "not on the ledger"},
		{"another manufacturer's gtin", bioAdmin, vaccine(obj{"org": "bio-co"}), cc.Conflict, "registered by pharma-co"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, tc.signer, TypeProductRegister, tc.payload, tc.kind, tc.msg)
		})
	}
}

func TestLocationRegister(t *testing.T) {
	e := newMasterEnv(t)
	if m, _ := IsMember(e.kv, "clinic"); m {
		t.Fatal("clinic is a member before anything")
	}
	res := e.mustRun(t, nurse, TypeLocationRegister, obj{"org": "clinic", "gln": clinicSite, "name": "Clinic cold room", "region": "FR-75"})
	got := cctest.DecodeData[Location](t, res)
	if want := (Location{GLN: "0614141000012", Org: "clinic", Name: "Clinic cold room", Region: "FR-75", Version: 1, RegisteredAt: e.height, UpdatedAt: e.height}); got != want {
		t.Errorf("registered %+v, want %+v", got, want)
	}
	if m, err := IsMember(e.kv, "clinic"); err != nil || !m {
		t.Errorf("IsMember(clinic) = %v, %v after a location", m, err)
	}
	e.mustRun(t, nurse, TypeLocationRegister, obj{"org": "clinic", "gln": "0614141000012", "name": "Clinic fridge"})
	e.mustRun(t, dist, TypeLocationRegister, obj{"org": "distrib", "gln": distSite, "name": "Hub"})
	l, err := GetLocation(e.kv, "urn:epc:id:sgln:0614141.00001.0")
	if err != nil || l.Version != 2 || l.Name != "Clinic fridge" || l.Region != "" {
		t.Errorf("GetLocation after update = %+v, %v", l, err)
	}
	if _, err := GetLocation(e.kv, mfgSite); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetLocation(unregistered) = %v", err)
	}
	all, err := Locations(e.kv)
	if err != nil || len(all) != 2 || all[0].GLN != "0614141000012" || all[1].GLN != "0614141008889" {
		t.Errorf("Locations = %+v, %v", all, err)
	}
	tests := []struct {
		name    string
		signer  *actor
		payload any
		kind    cc.Kind
		msg     string
	}{
		{"unknown field", dist, obj{"org": "distrib", "gln": distSite, "name": "x", "city": "y"}, cc.Malformed, "city"},
		{"bad gln", dist, obj{"org": "distrib", "gln": "0614141000013", "name": "x"}, cc.Invalid, "gln"},
		{"sscc as gln", dist, obj{"org": "distrib", "gln": sscc("1"), "name": "x"}, cc.Invalid, "gln"},
		{"no name", dist, obj{"org": "distrib", "gln": mfgSite}, cc.Invalid, "name"},
		{"bad region", dist, obj{"org": "distrib", "gln": mfgSite, "name": "x", "region": " FR"}, cc.Invalid, "region"},
		{"bad org", dist, obj{"org": "", "gln": mfgSite, "name": "x"}, cc.Invalid, "org"},
		{"not a member", dist, obj{"org": "pharma-co", "gln": mfgSite, "name": "x"}, cc.Unauthorized, "needs role"},
		{"member of another org", mfg, obj{"org": "clinic", "gln": mfgSite, "name": "x"}, cc.Unauthorized, "needs role"},
		{"suspended", shady, obj{"org": "gone-org", "gln": mfgSite, "name": "x"}, cc.Unauthorized, "suspended"},
		{"another org's gln", dist, obj{"org": "distrib", "gln": clinicSite, "name": "x"}, cc.Conflict, "registered by clinic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantRejected(t, e, tc.signer, TypeLocationRegister, tc.payload, tc.kind, tc.msg)
		})
	}
}

func TestLotMasters(t *testing.T) {
	e := newMasterEnv(t)
	e.mustCapture(t, mfg, "pharma-co", commission(sgtin("v1"), sgtin("v2")),
		ev(ObjectEvent, ActionAdd, StepCommissioning, obj{"epcs": []string{sscc("77")}, "lot": "LOT-A1", "expiry": "2027-01-31"}))
	created := e.height
	e.mustCapture(t, mfg, "pharma-co", ev(ObjectEvent, ActionAdd, StepCommissioning, obj{"epcs": []string{sgtin("v3")}, "lot": "LOT-A1", "expiry": "2028-01-01"}))
	lots, err := GetLot(e.kv, "LOT-A1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Lot{
		{GTIN: "", Lot: "LOT-A1", Expiry: "2027-01-31", Org: "pharma-co", Status: LotActive, CreatedAt: created},
		{GTIN: vialGTIN, Lot: "LOT-A1", Expiry: "2027-06-30", Org: "pharma-co", Status: LotActive, CreatedAt: created},
	}
	if !slices.Equal(lots, want) {
		t.Errorf("GetLot = %+v\nwant %+v", lots, want)
	}
	if _, err := GetLot(e.kv, "LOT-ZZ"); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetLot(unknown) = %v", err)
	}
	if _, err := GetLot(e.kv, "bad lot"); !cc.Is(cc.NotFound, err) {
		t.Errorf("GetLot(bad) = %v", err)
	}
	all, err := Lots(e.kv)
	if err != nil || len(all) != 2 {
		t.Errorf("Lots = %+v, %v", all, err)
	}
	// Commissioning with an expiry before the block date is refused.
	wantRejected(t, e, mfg, TypeCapture, events(ev(ObjectEvent, ActionAdd, StepCommissioning,
		obj{"epcs": []string{sgtin("old")}, "lot": "LOT-B", "expiry": "2026-01-04"})), cc.Invalid, "expired stock")
	// The block's own day is still usable.
	e.mustCapture(t, mfg, "pharma-co", ev(ObjectEvent, ActionAdd, StepCommissioning,
		obj{"epcs": []string{sgtin("today")}, "lot": "LOT-B", "expiry": "2026-01-05"}))
}

func TestEffectiveStatus(t *testing.T) {
	now := day("12:00")
	tests := []struct {
		it   Item
		want string
	}{
		{Item{Status: StatusActive, Expiry: "2026-01-04"}, StatusExpired},
		{Item{Status: StatusReceived, Expiry: "2026-01-04"}, StatusExpired},
		{Item{Status: StatusReceived, Expiry: "2026-01-05"}, StatusReceived},
		{Item{Status: StatusActive}, StatusActive},
		{Item{Status: StatusInTransit, Expiry: "2026-01-04"}, StatusInTransit},
		{Item{Status: StatusQuarantined, Expiry: "2026-01-04"}, StatusQuarantined},
		{Item{Status: StatusRecalled, Expiry: "2026-01-04"}, StatusRecalled},
	}
	for _, tc := range tests {
		if got := EffectiveStatus(&tc.it, now); got != tc.want {
			t.Errorf("EffectiveStatus(%+v) = %q, want %q", tc.it, got, tc.want)
		}
	}
}
