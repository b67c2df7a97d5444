package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"carechain/httpapi"
	"carechain/internal/recordtest"
	"carechain/rx"
)

// TestPrescriptionReads: the patient's, the prescriber's and the
// prescription's views of an e-prescription and its dispense history.
func TestPrescriptionReads(t *testing.T) {
	w := recordtest.MustWorld(t, "httpapi-rx", 1)
	srv := httptest.NewServer(httpapi.New(w.Chain, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	pt := w.Pop.Patients[0]
	doc := w.Staff(t, "st-mary-physician")
	const id = "MedicationRequest/http-rx"
	h := sha256.Sum256([]byte(id))
	w.MustTx(t, doc, rx.TypeIssue, map[string]any{"org": "st-mary-hospital",
		"anchors": []any{map[string]any{"id": id, "type": "MedicationRequest", "patient": pt.DID, "org": "st-mary-hospital",
			"author": doc.DID, "version": 1, "content_hash": base64.StdEncoding.EncodeToString(h[:])}},
		"prescriptions": []any{map[string]any{"record_id": id, "quantity_milli": 30000, "unit": "TAB", "repeats": 2,
			"medication": "http://snomed.info/sct|317935006"}}})

	for _, url := range []string{"/v1/prescriptions/" + id, "/v1/patients/" + string(pt.DID) + "/prescriptions", "/v1/prescribers/" + string(doc.DID) + "/prescriptions"} {
		code, _, body := get(t, srv.URL+url)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, code, body)
		}
		var v httpapi.PrescriptionView
		var list struct {
			Prescriptions []httpapi.PrescriptionView `json:"prescriptions"`
		}
		if json.Unmarshal(body, &list) == nil && list.Prescriptions != nil {
			if len(list.Prescriptions) != 1 {
				t.Fatalf("GET %s: %s", url, body)
			}
			v = list.Prescriptions[0]
		} else if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.ID != id || v.Status != rx.StatusActive || v.TotalMilli != 90000 || v.RemainingMilli != 90000 || v.Dispenses == nil || v.Prescriber != doc.DID {
			t.Errorf("GET %s: %s", url, body)
		}
	}
	if code, _, _ := get(t, srv.URL+"/v1/prescriptions/MedicationRequest/none"); code != http.StatusNotFound {
		t.Errorf("an unknown prescription: %d", code)
	}
	if code, _, body := get(t, srv.URL+"/v1/patients/"+string(doc.DID)+"/prescriptions"); code != http.StatusOK || !strings.Contains(strings.Join(strings.Fields(string(body)), ""), `"prescriptions":[]`) {
		t.Errorf("a DID without prescriptions: %d %s", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/v1/patients/bob/prescriptions"); code != http.StatusBadRequest {
		t.Errorf("a bad DID: %d", code)
	}
}
