package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"carechain/access"
	"carechain/httpapi"
	"carechain/internal/recordtest"
)

// FuzzFHIRIngest posts arbitrary bodies, correctly signed by a St Mary's
// physician, to POST /fhir and POST /fhir/Observation: the server never
// fails with a 5xx, answers every rejection as an OperationOutcome, and a
// rejected request anchors nothing.
func FuzzFHIRIngest(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"}}`), false)
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Organization","name":"x"},"request":{"method":"POST","url":"Organization"}}]}`), true)
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient"},"request":{"method":"PUT","url":"Patient?identifier=a|b"}}]}`), true)
	f.Add([]byte(`{"resourceType":`), true)
	f.Add([]byte(`[]`), false)
	w := recordtest.MustWorld(f, "httpapi-fuzz", 1)
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	srv := httptest.NewServer(api)
	f.Cleanup(srv.Close)
	doc := w.Staff(f, "st-mary-physician")
	f.Fuzz(func(t *testing.T, body []byte, bundle bool) {
		path := "/fhir/Observation"
		if bundle {
			path = "/fhir"
		}
		before, _ := w.Chain.Status(t.Context())
		sw := w.SignedWrite(t, doc, stMary, "", body)
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		req.Header.Set(access.HeaderWrite, sw.Header())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d: %s", resp.StatusCode, out.String())
		}
		if resp.StatusCode >= 400 {
			if !bytes.Contains(out.Bytes(), []byte(`"OperationOutcome"`)) {
				t.Fatalf("rejection %d is not an OperationOutcome: %s", resp.StatusCode, out.String())
			}
			if after, _ := w.Chain.Status(t.Context()); after.LatestHeight != before.LatestHeight {
				t.Fatalf("a rejected ingest (%d) committed a block: %s", resp.StatusCode, out.String())
			}
		}
	})
}
