package main

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"carechain/client"
	"carechain/httpapi"
	"carechain/index"
	"carechain/internal/recordtest"
)

// demoAPI is a demo world on an in-memory ledger behind the real HTTP API
// (every custodian's gatekeeper, a SQLite read model), as the demo
// seeding code talks to it.
type demoAPI struct {
	w   *recordtest.World
	idx *index.DB
	srv *httptest.Server
	c   *client.Client
}

// mustDemoAPI starts a demoAPI for a population of patients named name;
// everything stops with the test.
func mustDemoAPI(t *testing.T, name string, patients int) *demoAPI {
	t.Helper()
	w := recordtest.MustWorld(t, name, patients)
	idx, err := index.Open(filepath.Join(t.TempDir(), "readmodel.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	api := httpapi.New(w.Chain, nil)
	api.SetRecords(w.All()...)
	api.SetIndex(idx)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &demoAPI{w: w, idx: idx, srv: srv, c: client.New(srv.URL)}
}
