package epcis

import (
	"strings"
	"testing"
	"time"
)

func TestCheckDigitOK(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"09506000134352", true},     // GTIN-14 of the sensor examples
		{"09506000134353", false},    // last digit changed
		{"70614141123451", true},     // GTIN-14 of the Digital Link examples
		{"4012345000054", true},      // GLN
		{"9506000134307", true},      // GLN
		{"9506000134308", false},     //
		{"106141412345678908", true}, // SSCC (GS1 General Specifications example)
		{"106141412345678909", false},
		{"96385074", true}, // GTIN-8
		{"614141000036", true},
		{"0614141000036", true},
		{"12345a", false},
		{"7", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := CheckDigitOK(tc.key); got != tc.want {
			t.Errorf("CheckDigitOK(%q) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id      string
		level   IDLevel
		wantErr string // "" for valid
	}{
		// EPC pure-identity URIs (no check digit: lengths are checked)
		{"urn:epc:id:sgtin:0614141.107346.2017", Instance, ""},
		{"urn:epc:id:sgtin:952005385.0123.ABC%2F1", Instance, ""},
		{"urn:epc:id:sgtin:0614141.10734.2017", Instance, "have 12 digits, want 13"},
		{"urn:epc:id:sgtin:0614141.107346.", Instance, "empty serial"},
		{"urn:epc:id:sgtin:0614141.107346.123456789012345678901", Instance, "21 characters, at most 20"},
		{"urn:epc:id:sgtin:0614141.107346.A B", Instance, "outside GS1 character set 82"},
		{"urn:epc:id:sgtin:0614141.107346.A%41", Instance, "%-escape %41 is not one of"},
		{"urn:epc:id:sgtin:0614.107346789.1", Instance, "Company Prefix \"0614\" must be 6 to 12 digits"},
		{"urn:epc:id:sgtin:0614141.107346", Instance, "has 2 field(s), want 3"},
		{"urn:epc:id:sscc:0614141.1234567890", Instance, ""},
		{"urn:epc:id:sscc:0614141.123456789", Instance, "16 digits, want 17"},
		{"urn:epc:id:sgln:0614141.07346.1234", Instance, ""},
		{"urn:epc:id:sgln:0614141.07346.0", Instance, ""},
		{"urn:epc:id:sgln:061414112345..0", Instance, ""}, // 12-digit prefix, empty location reference
		{"urn:epc:id:sgln:0614141.0734.0", Instance, "11 digits, want 12"},
		{"urn:epc:id:grai:4012345.55555.987", Instance, ""},
		{"urn:epc:id:grai:4012345.55555.", Instance, "empty serial"},
		{"urn:epc:id:giai:4000001.111", Instance, ""},
		{"urn:epc:id:giai:4000001.1234567890123456789012345", Instance, "have 32 characters, want 1 to 30"},
		{"urn:epc:id:gsrn:95252084.000000001", Instance, ""},
		{"urn:epc:id:gdti:0614141.00001.1618034", Instance, ""},
		{"urn:epc:id:pgln:4012345.00225", Instance, ""},
		{"urn:epc:id:sgcn:4012345.67890.04711", Instance, ""},
		{"urn:epc:id:sgcn:4012345.67890.0471A", Instance, "must be digits"},
		{"urn:epc:id:cpi:0614141.5PQ7%2FZ43.12345", Instance, ""}, // "/" written %2F
		{"urn:epc:id:cpi:0614141.5PQ7-Z43.12345", Instance, ""},
		{"urn:epc:id:cpi:0614141.5pq7.12345", Instance, "component/part reference"}, // lower case is outside set 39
		{"urn:epc:id:itip:4012345.012345.01.02.987", Instance, ""},
		{"urn:epc:id:itip:4012345.012345.1.02.987", Instance, "two digits each"},
		{"urn:epc:id:gid:95100000.12345.400", Instance, ""},
		{"urn:epc:id:gid:095100000.12345.400", Instance, "without leading zeros"},
		{"urn:epc:id:gid:268435456.1.1", Instance, "out of range"},
		{"urn:epc:id:sgtn:0614141.107346.2017", Instance, `unknown EPC scheme "sgtn"`},
		{"urn:epc:tag:sgtin-96:3.0614141.107346.2017", OtherURI, "unknown EPC URI form"},
		// EPC class and pattern URIs
		{"urn:epc:class:lgtin:4012345.012345.998877", Class, ""},
		{"urn:epc:class:lgtin:4023333.002000.2019-10-07", Class, ""},
		{"urn:epc:class:lgtin:4012345.01234.998877", Class, "must be 13 digits"},
		{"urn:epc:class:lgtin:4012345.012345.", Class, "0 characters, want 1 to 20"},
		{"urn:epc:class:sgtin:4012345.012345.1", Class, `unknown EPC class scheme "sgtin"`},
		{"urn:epc:idpat:sgtin:4012345.098765.*", Pattern, ""},
		{"urn:epc:idpat:sgtin:4012345.*.*", Pattern, ""},
		{"urn:epc:idpat:sgtin:*.*.*", Pattern, ""},
		{"urn:epc:idpat:sgtin:4012345.*.1", Pattern, "follows a wildcard"},
		{"urn:epc:idpat:sgtin:4012345.98765.*", Pattern, "have 12 digits, want 13"},
		// GS1 Digital Link URIs (full keys: check digits)
		{"https://id.gs1.org/01/09506000134352/21/12345", Instance, ""},
		{"https://id.gs1.org/01/09506000134352", Class, ""},
		{"https://id.gs1.org/01/09506000134352/10/LOT1", Class, ""},
		{"https://id.gs1.org/01/09506000134352/10/LOT1/21/7", Instance, ""},
		{"https://id.gs1.org/01/9506000134352/21/1", Instance, ""}, // GTIN-13
		{"https://id.gs1.org/01/09506000134353/21/12345", OtherURI, "wrong check digit (want 2)"},
		{"https://id.gs1.org/01/0950600013435/21/1", OtherURI, "wrong check digit (want 9)"}, // a GTIN-13 with a wrong check digit
		{"https://id.gs1.org/01/095060001343521/21/1", OtherURI, "has 15 digits, want 8 or 12 or 13 or 14"},
		{"https://id.gs1.org/01/09506000134352/21/12345/10/LOT", OtherURI, "not an allowed qualifier"},
		{"https://id.gs1.org/01/09506000134352/21", OtherURI, "odd number of segments"},
		{"https://id.gs1.org/01/09506000134352/21/123456789012345678901", OtherURI, "1 to 20 characters"},
		{"https://id.gs1.org/00/106141412345678908", Instance, ""},
		{"https://id.gs1.org/00/106141412345678909", OtherURI, "wrong check digit"},
		{"https://id.gs1.org/414/9506000134307", Instance, ""},
		{"https://id.gs1.org/414/9506000134307/254/A1", Instance, ""},
		{"https://id.gs1.org/8004/4000001111", Instance, ""},
		{"https://id.gs1.org/8003/04012345000771", Class, ""}, // GRAI without serial: an asset type
		{"https://id.example.com/8003/040123450007718765", Instance, ""},
		{"https://id.example.com/8003/040123450007728765", OtherURI, "wrong check digit"},
		{"https://id.gs1.org/253/4012345000016A1", Instance, ""}, // GDTI with serial
		{"https://id.gs1.org/253/4012345000016", Class, ""},      // a document type
		{"https://id.gs1.org/253/4012345000017A1", OtherURI, "wrong check digit"},
		{"https://example.com/dl/01/09506000134352/21/1", Instance, ""}, // a path prefix before the key
		{"https://id.gs1.org/foo/bar", OtherURI, "carries no GS1 primary key"},
		// other URIs
		{"https://transaction.acme.com/po/12345678", OtherURI, ""},
		{"https://example.com/01/abc", OtherURI, ""}, // not numeric: not read as a Digital Link
		{"geo:42.698334,23.319941", OtherURI, ""},
		{"urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8", OtherURI, ""},
		{"not a uri", OtherURI, "is not an absolute URI"},
		{"_:document1", OtherURI, "is not an absolute URI"},
	}
	for _, tc := range tests {
		level, err := CheckID(tc.id)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("CheckID(%q) = %v", tc.id, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("CheckID(%q) error = %v, want %q", tc.id, err, tc.wantErr)
		case err == nil && level != tc.level:
			t.Errorf("CheckID(%q) level = %v, want %v", tc.id, level, tc.level)
		}
	}
}

func TestNormalizeVocabularies(t *testing.T) {
	tests := []struct {
		norm    func(string) (string, error)
		in      string
		want    string
		wantErr string
	}{
		{NormalizeBizStep, "shipping", "shipping", ""},
		{NormalizeBizStep, "urn:epcglobal:cbv:bizstep:shipping", "shipping", ""},
		{NormalizeBizStep, "https://ref.gs1.org/cbv/BizStep-shipping", "shipping", ""},
		{NormalizeBizStep, "http://ref.gs1.org/cbv/BizStep-sensor_reporting", "sensor_reporting", ""},
		{NormalizeBizStep, "cbv:BizStep-receiving", "receiving", ""},
		{NormalizeBizStep, "http://epcis.example.org/hc/bizstep/summarising_discharge", "http://epcis.example.org/hc/bizstep/summarising_discharge", ""},
		{NormalizeBizStep, "shiping", "", "is not a CBV bizStep and not a URI"},
		{NormalizeBizStep, "urn:epcglobal:cbv:bizstep:shiping", "", "is not a CBV 2.0 bizStep"},
		{NormalizeBizStep, "urn:epcglobal:cbv:bizstep:", "", "is not a CBV 2.0 bizStep"},
		{NormalizeBizStep, "https://ref.gs1.org/cbv/BizStep-in_transit", "", "is not a CBV 2.0 bizStep"},
		{NormalizeBizStep, "in_transit", "", "is not a CBV bizStep"}, // a disposition, not a step
		{NormalizeBizStep, "ex:thawing", "ex:thawing", ""},
		{NormalizeBizStep, ":thawing", "", "not an absolute URI"},
		{NormalizeDisposition, "in_transit", "in_transit", ""},
		{NormalizeDisposition, "urn:epcglobal:cbv:disp:recalled", "recalled", ""},
		{NormalizeDisposition, "https://ref.gs1.org/cbv/Disp-needs_replacement", "needs_replacement", ""},
		{NormalizeDisposition, "https://ref.gs1.org/cbv/Disp-quarantined", "", "is not a CBV 2.0 disposition"},
		{NormalizeDisposition, "shipping", "", "is not a CBV disposition"},
		{NormalizeMeasurementType, "Temperature", "Temperature", ""},
		{NormalizeMeasurementType, "gs1:Temperature", "Temperature", ""},
		{NormalizeMeasurementType, "https://gs1.org/voc/RelativeHumidity", "RelativeHumidity", ""},
		{NormalizeMeasurementType, "gs1:Temprature", "", "is not a GS1 measurement type"},
		{NormalizeMeasurementType, "example:someSensorProperty", "example:someSensorProperty", ""},
		{NormalizeMeasurementType, "Heat", "", "not a GS1 measurement type and not a URI"},
	}
	for _, tc := range tests {
		got, err := tc.norm(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("normalize(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestUnitsAndTemperature(t *testing.T) {
	for _, code := range []string{"CEL", "KGM", "A93", "KMH", "MTS", "LUX", "DD", "MTR", "C35", "P71"} { // every code the official examples use
		if _, ok := LookupUnit(code); !ok {
			t.Errorf("LookupUnit(%q): not in the table", code)
		}
	}
	for _, code := range []string{"XYZ", "cel", "", "DEG"} {
		if u, ok := LookupUnit(code); ok {
			t.Errorf("LookupUnit(%q) = %+v, want unknown", code, u)
		}
	}
	tests := []struct {
		v    float64
		uom  string
		want float64
		ok   bool
	}{
		{5, "CEL", 5, true},
		{-70, "CEL", -70, true},
		{46.4, "FAH", 8, true},
		{35.6, "FAH", 2, true},
		{-94, "FAH", -70, true},
		{275.15, "KEL", 2, true},
		{0, "KEL", -273.15, true},
		{-1, "KEL", 0, false}, // below absolute zero
		{-300, "CEL", 0, false},
		{5, "KGM", 0, false},
		{5, "", 0, false},
	}
	for _, tc := range tests {
		got, ok := ToCelsius(tc.v, tc.uom)
		if ok != tc.ok || (ok && !near2(got, tc.want)) {
			t.Errorf("ToCelsius(%v, %q) = %v, %v; want %v, %v", tc.v, tc.uom, got, ok, tc.want, tc.ok)
		}
	}
}

func timeIn(loc *time.Location) (string, int) {
	return time.Date(2020, 1, 1, 0, 0, 0, 0, loc).Zone()
}

func near2(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in   string
		secs int
		ok   bool
	}{
		{"+01:00", 3600, true},
		{"-06:00", -6 * 3600, true},
		{"+05:45", 5*3600 + 45*60, true},
		{"+14:00", 14 * 3600, true},
		{"-00:00", 0, true},
		{"+14:30", 0, false},
		{"+15:00", 0, false},
		{"+1:00", 0, false},
		{"01:00", 0, false},
		{"+01:60", 0, false},
		{"Z", 0, false},
	}
	for _, tc := range tests {
		loc, err := parseOffset(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseOffset(%q) error = %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if err == nil {
			if _, off := timeIn(loc); off != tc.secs {
				t.Errorf("parseOffset(%q) = %d s, want %d", tc.in, off, tc.secs)
			}
		}
	}
}
