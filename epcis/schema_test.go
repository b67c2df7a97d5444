package epcis

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestEmbeddedSchemaIsOfficial checks that the embedded schema is byte for
// byte the official one in the shared test data, and that it compiles.
func TestEmbeddedSchemaIsOfficial(t *testing.T) {
	if _, err := compiledSchema(); err != nil {
		t.Fatalf("embedded schema does not compile: %v", err)
	}
	official, err := os.ReadFile(filepath.Join(examplesDir(t), "EPCIS-JSON-Schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(official, schemaJSON) {
		t.Error("schema/EPCIS-JSON-Schema.json differs from the official schema in the shared test data")
	}
	var s struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(schemaJSON, &s); err != nil || s.ID != SchemaURL {
		t.Errorf("schema $id %q, want %q (%v)", s.ID, SchemaURL, err)
	}
}

// TestLookaheadRegexp checks the schema's one non-RE2 construct, a leading
// negative lookahead, and that other patterns are plain RE2.
func TestLookaheadRegexp(t *testing.T) {
	tests := []struct {
		pattern, in string
		want        bool
	}{
		{`^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))`, "urn:epcglobal:cbv:bizstep:shipping", false},
		{`^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))`, "https://ns.gs1.org/cbv/BizStep-shipping", false},
		{`^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))`, "https://ref.gs1.org/cbv/BizStep-shipping", true},
		{`^(?!(urn:epcglobal:cbv|https?:\/\/ns\.gs1\.org/cbv\/))`, "shipping", true},
		{`^(?!(https?:\/\/gs1\.org\/voc\/|https?:\/\/www\.gs1\.org\/voc\/))`, "https://gs1.org/voc/Temperature", false},
		{`^(?!(https?:\/\/gs1\.org\/voc\/|https?:\/\/www\.gs1\.org\/voc\/))`, "example:Temperature", true},
		{`^[A-Z0-9]{2,3}$`, "KGM", true},
		{`^[A-Z0-9]{2,3}$`, "kgm", false},
	}
	// A lookahead that is not the whole pattern goes to RE2, which rejects it.
	if _, err := lookaheadRegexp(`^(?!a)b`); err == nil {
		t.Error("lookaheadRegexp(`^(?!a)b`) compiled; want an error")
	}
	for _, tc := range tests {
		re, err := lookaheadRegexp(tc.pattern)
		if err != nil {
			t.Fatalf("lookaheadRegexp(%q): %v", tc.pattern, err)
		}
		if got := re.MatchString(tc.in); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.in, got, tc.want)
		}
		if re.String() != tc.pattern {
			t.Errorf("String() = %q, want %q", re.String(), tc.pattern)
		}
	}
}
