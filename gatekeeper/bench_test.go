package gatekeeper_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"carechain/access"
	"carechain/gatekeeper"
	"carechain/internal/recordtest"
)

// BenchmarkIngestSynthea ingests every Synthea patient bundle (validate,
// resolve, encrypt, anchor) through St Mary's gatekeeper on an in-process
// ledger, two bundles at a time, and reports resources/s. The provider
// directory is loaded once before timing.
func BenchmarkIngestSynthea(b *testing.B) {
	dir := recordtest.Testdata(b, "synthea")
	files, _ := filepath.Glob(filepath.Join(dir, "patients", "*.json"))
	sort.Strings(files)
	bundles := make([][]byte, len(files))
	for i, f := range files {
		bundles[i], _ = os.ReadFile(f)
	}
	var resources atomic.Int64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		w := recordtest.MustWorld(b, "bench-ingest", len(bundles))
		g := w.Gatekeepers["st-mary-hospital"]
		doc := w.Staff(b, "st-mary-physician")
		ctx := context.Background()
		for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
			if _, err := g.IngestBundle(ctx, recordtest.Read(b, filepath.Join(dir, f)), gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital"}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(bundles) {
						return
					}
					r, err := g.IngestBundle(ctx, bundles[i], gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital", Patient: w.Pop.Patients[i].DID})
					if err != nil {
						b.Error(err)
						return
					}
					resources.Add(int64(r.Created))
				}
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(resources.Load())/elapsed.Seconds(), "resources/s")
}

// BenchmarkReads makes consent-checked, logged reads of single records by
// the patient from 64 concurrent readers through the gatekeeper (one
// access.log transaction per flush) and reports reads/s.
func BenchmarkReads(b *testing.B) {
	dir := recordtest.Testdata(b, "synthea")
	w := recordtest.MustWorld(b, "bench-reads", 2)
	g := w.Gatekeepers["st-mary-hospital"]
	doc := w.Staff(b, "st-mary-physician")
	pt := w.Pop.Patients[0]
	ctx := context.Background()
	for _, f := range []string{recordtest.SyntheaHospitals, recordtest.SyntheaPractitioners} {
		if _, err := g.IngestBundle(ctx, recordtest.Read(b, filepath.Join(dir, f)), gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital"}); err != nil {
			b.Fatal(err)
		}
	}
	res, err := g.IngestBundle(ctx, recordtest.Read(b, filepath.Join(dir, "patients", recordtest.SyntheaBob)), gatekeeper.Submitter{Author: doc.DID, AuthorOrg: "st-mary-hospital", Patient: pt.DID})
	if err != nil {
		b.Fatal(err)
	}
	ids := res.IDs
	b.SetParallelism(32)
	var n atomic.Int64
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			sr, err := access.SignRead(access.ReadRequest{ChainID: recordtest.ChainID, Requester: pt.DID, Patient: pt.DID, Action: "read",
				Purpose: "PATRQT", Records: []string{ids[int(i)%len(ids)]}, Issued: time.Now().UTC(), Nonce: recordtest.Nonce()}, pt.Key)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := g.Read(ctx, sr); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "reads/s")
}
