package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cc "carechain"
	"carechain/chain"
	"carechain/client"
	"carechain/httpapi"
	"carechain/ledger"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/seed"
)

// MustServer starts the API over an in-memory ledger (real Pebble, real
// ledger and identity handlers, no consensus) on 127.0.0.1.
func MustServer(t *testing.T) (*httptest.Server, *seed.Population) {
	t.Helper()
	st, err := store.OpenInMemory()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pop := seed.NewPopulation("httpapi-test", 6)
	gen, _ := json.Marshal(pop.Genesis())
	local, err := chain.NewLocal(ledger.New(st, ledger.Domain(nil)), "test-chain", gen)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(local, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return srv, pop
}

func get(t *testing.T, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func post(t *testing.T, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func createTx(t *testing.T, id seed.Identity, seq uint64) []byte {
	t.Helper()
	raw, err := tx.Build("test-chain", id.DID, id.Key, seq, "did.create", map[string]string{
		"public_key": tx.EncodeKey(id.Key.Public().(ed25519.PublicKey)), "kind": "practitioner"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSubmitAndRead(t *testing.T) {
	srv, pop := MustServer(t)
	doc := pop.Staff[0]

	code, body := post(t, srv.URL+"/v1/txs?commit=true", createTx(t, doc, 0))
	if code != http.StatusOK {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sr httpapi.SubmitResponse
	json.Unmarshal(body, &sr)
	if sr.Accepted != 1 || sr.Results[0].Height == 0 {
		t.Fatalf("submit result %+v", sr)
	}

	code, ctype, body := get(t, srv.URL+"/v1/dids/"+string(doc.DID))
	if code != 200 || ctype != "application/did+json" || !strings.Contains(string(body), `"id": "`+string(doc.DID)+`"`) {
		t.Errorf("DID document: %d %s %s", code, ctype, body)
	}
	code, _, body = get(t, srv.URL+"/v1/accounts/"+string(doc.DID))
	var acct httpapi.Account
	json.Unmarshal(body, &acct)
	if code != 200 || acct.Sequence != 1 || acct.Kind != cc.KindPractitioner {
		t.Errorf("account: %d %+v", code, acct)
	}
	code, _, body = get(t, srv.URL+"/v1/status")
	var st cc.Status
	json.Unmarshal(body, &st)
	if code != 200 || st.ChainID != "test-chain" || st.LatestHeight < 1 || st.LatestAppHash == "" {
		t.Errorf("status: %d %+v", code, st)
	}
	// Proof of the DID record: the store proof recomputes the committed AppHash.
	code, _, body = get(t, srv.URL+"/v1/proofs?key=id/did/"+string(doc.DID))
	var pb cc.ProofBundle
	json.Unmarshal(body, &pb)
	var p store.Proof
	if code != 200 || json.Unmarshal(pb.StoreProof, &p) != nil {
		t.Fatalf("proof: %d %s", code, body)
	}
	if _, err := store.VerifyProof(&p); err != nil {
		t.Errorf("proof does not verify: %v", err)
	}
	code, _, body = get(t, srv.URL+"/v1/blocks?limit=5")
	var bl struct {
		Blocks []cc.BlockInfo `json:"blocks"`
	}
	json.Unmarshal(body, &bl)
	if code != 200 || len(bl.Blocks) == 0 || bl.Blocks[0].Height != st.LatestHeight {
		t.Errorf("blocks: %d %s", code, body)
	}
	code, _, body = get(t, srv.URL+"/v1/txs/"+sr.Results[0].Hash)
	if code != 200 || !strings.Contains(string(body), `"height"`) {
		t.Errorf("tx lookup: %d %s", code, body)
	}
}

func TestBatchReportsEachTransaction(t *testing.T) {
	srv, pop := MustServer(t)
	good := createTx(t, pop.Staff[1], 0)
	replay := createTx(t, pop.Staff[2], 0)
	if code, body := post(t, srv.URL+"/v1/txs?commit=true", replay); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	batch := []byte("[" + string(good) + ",\n  " + string(replay) + `, {"body":1}]`)
	code, body := post(t, srv.URL+"/v1/txs?commit=true", batch)
	if code != http.StatusOK {
		t.Fatalf("batch: %d %s", code, body)
	}
	var sr httpapi.SubmitResponse
	json.Unmarshal(body, &sr)
	wantKinds := []string{"", "sequence_replay", "malformed"}
	if len(sr.Results) != 3 || sr.Accepted != 1 || sr.Rejected != 2 {
		t.Fatalf("results %+v", sr)
	}
	for i, want := range wantKinds {
		if got := sr.Results[i].Kind; got != want {
			t.Errorf("tx %d: kind %q, want %q (%s)", i, got, want, sr.Results[i].Log)
		}
	}
}

func TestErrorsAreProblems(t *testing.T) {
	srv, pop := MustServer(t)
	bad := createTx(t, pop.Staff[3], 0)
	bad = bytes.Replace(bad, []byte(`"kind":"practitioner"`), []byte(`"kind":"organization"`), 1)
	tests := []struct {
		name       string
		method     string
		path, body string
		status     int
		kind       string
	}{
		{"malformed body", "POST", "/v1/txs", `{"body":`, 400, "malformed"},
		{"empty body", "POST", "/v1/txs", ``, 400, "malformed"},
		{"tampered signature", "POST", "/v1/txs", string(bad), 401, "bad_signature"},
		{"unknown DID", "GET", "/v1/dids/did:cc:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", 404, "not_found"},
		{"not a DID", "GET", "/v1/dids/bob", "", 400, "invalid"},
		{"unknown org", "GET", "/v1/orgs/nope", "", 404, "not_found"},
		{"bad height", "GET", "/v1/blocks/-3", "", 400, "invalid"},
		{"proof without key", "GET", "/v1/proofs", "", 400, "invalid"},
		{"no route", "GET", "/v1/nothing", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			var v struct {
				Kind string `json:"kind"`
			}
			if tt.method == "POST" && tt.body != "" {
				// A single transaction's rejection is its result, with the
				// rejection's HTTP status.
				var sr httpapi.SubmitResponse
				json.Unmarshal(b, &sr)
				if len(sr.Results) != 1 || sr.Results[0].Kind != tt.kind {
					t.Errorf("result %s", b)
				}
				return
			}
			json.Unmarshal(b, &v)
			if v.Kind != tt.kind {
				t.Errorf("kind %q, want %q: %s", v.Kind, tt.kind, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	srv, pop := MustServer(t)
	post(t, srv.URL+"/v1/txs?commit=true", createTx(t, pop.Staff[4], 0))
	post(t, srv.URL+"/v1/txs?commit=true", createTx(t, pop.Staff[4], 0)) // replay: rejected
	_, _, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{"carechain_committed_txs_total 1", `carechain_rejected_txs_total{kind="sequence_replay"} 1`, "carechain_height", "carechain_mempool_check_batches_total 0",
		"carechain_signatures_preverified_total 0"} { // the in-memory chain checks each signature in CheckTx
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestClientRoundTrip(t *testing.T) {
	srv, pop := MustServer(t)
	c := client.New(srv.URL)
	ctx := context.Background()
	pt := pop.Patients[0]
	s := client.NewSigner(pt.DID, pt.Key)
	res, err := c.Do(ctx, s, "patient.register", map[string]string{"public_key": tx.EncodeKey(pt.Key.Public().(ed25519.PublicKey))}, true)
	if err != nil || res.Height == 0 {
		t.Fatalf("register: %v %+v", err, res)
	}
	// Registering twice is a conflict, surfaced as a *cc.Error with that kind.
	_, err = c.Do(ctx, s, "patient.register", map[string]string{"public_key": tx.EncodeKey(pt.Key.Public().(ed25519.PublicKey))}, true)
	if !cc.Is(cc.Conflict, err) {
		t.Errorf("second register: %v, want conflict", err)
	}
	n, err := c.NextSequence(ctx, pt.DID)
	if err != nil || n != 1 {
		t.Errorf("next sequence = %d, %v; want 1", n, err)
	}
	if n, err := c.NextSequence(ctx, pop.Patients[1].DID); err != nil || n != 0 {
		t.Errorf("unknown DID next sequence = %d, %v; want 0", n, err)
	}
}
