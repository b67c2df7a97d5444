package fhir

import (
	"strings"
	"testing"
)

// TestParseForResolveValidatesOnce checks that a bundle parsed for Resolve
// (resources not validated at parse time) still has every stored resource
// validated, with the problem located in its entry, and that valid
// bundles resolve as with ParseBundle.
func TestParseForResolveValidatesOnce(t *testing.T) {
	bad := []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Patient","gender":"male"},"request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}},"request":{"method":"POST","url":"Observation"}}]}`)
	b, err := ParseBundleForResolve(bad)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	n := 0
	_, err = Resolve(b, nil, func(string) string { n++; return "id" + strings.Repeat("x", n) })
	if err == nil || !strings.Contains(err.Error(), "Bundle.entry[1].resource") || !strings.Contains(err.Error(), "status") {
		t.Errorf("Resolve of an invalid resource: %v, want its location", err)
	}
	// A reference to the wrong type of resource is caught once resolved.
	wrongType := strings.Replace(string(bad), `"status":"bogus"`, `"status":"final"`, 1)
	wrongType = strings.Replace(wrongType, `"subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}`, `"subject":{"reference":"urn:uuid:22222222-2222-2222-2222-222222222222"}`, 1)
	b, err = ParseBundleForResolve([]byte(wrongType))
	if err == nil {
		_, err = Resolve(b, nil, func(string) string { n++; return "id" + strings.Repeat("y", n) })
	}
	if err == nil {
		t.Error("an Observation whose subject is an Observation was accepted")
	}
	if _, err := ParseBundleForResolve([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Nonsense"},"request":{"method":"POST","url":"Nonsense"}}]}`)); err == nil {
		t.Error("an unknown resource type was accepted")
	}
	good := strings.Replace(string(bad), `"status":"bogus"`, `"status":"final"`, 1)
	b, err = ParseBundleForResolve([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Resolve(b, nil, func(string) string { n++; return "id" + strings.Repeat("z", n) })
	if err != nil || len(r.Entries) != 2 || !strings.Contains(string(r.Entries[1].Resource.JSON), `"Patient/`) {
		t.Fatalf("Resolve of a valid bundle: %+v, %v", r, err)
	}
}
