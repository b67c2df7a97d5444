package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	cc "carechain"
	"carechain/supply"
)

// benchPeople is the size of BenchmarkCoverage1M's population.
const benchPeople = 1_000_000

// benchPath is where the 1M-person index is built once and reused; delete
// it to rebuild (it is rebuilt when incomplete).
var benchPath = filepath.Join(os.TempDir(), "carechain-index-bench-1m-v1.db")

// BenchmarkCoverage1M measures Coverage by region, age band, sex and
// quintile over a register of 1,000,000 people with about 1.9 doses each
// (plus 1% unregistered patients). Only runs with -bench:
//
//	go test -run '^$' -bench Coverage1M ./index
func BenchmarkCoverage1M(b *testing.B) {
	d := benchDB(b)
	defer d.Close()
	q := CoverageQuery{Vaccine: cvx140, Dose: 2, By: []string{DimRegion, DimAgeBand, DimSex, DimQuintile},
		AsOf: 2026, Target: 900}
	r, err := d.Coverage(q)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d groups, total %d/%d, unregistered %d", len(r.Groups), r.Total.Numerator, r.Total.Denominator, r.Unregistered)
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := d.Coverage(q); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/op")
}

// benchDB opens the cached 1M-person index, building it if needed.
func benchDB(b *testing.B) *DB {
	b.Helper()
	d, err := Open(benchPath)
	if err != nil {
		b.Fatal(err)
	}
	ready, err := getMeta(context.Background(), d.sql, "bench_ready")
	if err == nil && ready == benchPeople {
		return d
	}
	d.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(benchPath + suffix)
	}
	if d, err = Open(benchPath); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := buildBench(d); err != nil {
		d.Close()
		b.Fatal(err)
	}
	b.Logf("built %s in %v", benchPath, time.Since(start).Round(time.Second))
	return d
}

// buildBench fills d with a deterministic synthetic population: birth
// years 1930..2026, 49% female, 49% male, 1% other, 1% unknown sex, the
// 12 embedded districts plus 2% unlisted; dose 1 of cvx140 with a
// probability rising with the district's quintile, dose 2 and 3 after it,
// and 10% a dose of a second vaccine.
func buildBench(d *DB) error {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	areas := defaultAreas()
	var people []Person
	var adms []supply.Administration
	height := int64(0)
	flushAdms := func() error {
		if len(adms) == 0 {
			return nil
		}
		tx, err := d.sql.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		bt := newBatch(ctx, tx)
		defer bt.close()
		for i := range adms {
			if err := bt.addAdministration(&adms[i]); err != nil {
				return err
			}
		}
		if err := bt.flush(); err != nil {
			return err
		}
		if err := setMeta(ctx, tx, metaHeight, height); err != nil {
			return err
		}
		adms = adms[:0]
		return tx.Commit()
	}
	dose := func(p cc.DID, vaccine string, k int) {
		height++
		adms = append(adms, supply.Administration{RecordID: fmt.Sprintf("Immunization/%s-%s-%d", p[7:], vaccine[len(vaccine)-3:], k),
			Patient: p, Org: fmt.Sprint("clinic-", rng.IntN(40)), Lot: fmt.Sprint("LOT-", rng.IntN(200)),
			Vaccine: vaccine, Year: 2025, Doses: 1, Linked: rng.IntN(10) < 8, Height: height, TxHash: "bench",
			Time: "2025-06-01T10:00:00Z"})
	}
	for i := range benchPeople + benchPeople/100 {
		p := benchDID(i)
		q := 3
		if i < benchPeople {
			per := Person{DID: p, BirthDate: fmt.Sprint(1930 + rng.IntN(97))}
			switch s := rng.IntN(100); {
			case s < 49:
				per.Sex = SexFemale
			case s < 98:
				per.Sex = SexMale
			case s < 99:
				per.Sex = SexOther
			default:
				per.Sex = SexUnknown
			}
			if a := rng.IntN(100); a < 98 {
				area := areas[a%len(areas)]
				per.Area, q = area.Name, area.Quintile
			} else {
				per.Area = "Elsewhere"
			}
			people = append(people, per)
		}
		if rng.IntN(100) < 80+3*q {
			dose(p, cvx140, 0)
			if rng.IntN(100) < 85 {
				dose(p, cvx140, 1)
				if rng.IntN(100) < 20 {
					dose(p, cvx140, 2)
				}
			}
		}
		if rng.IntN(10) == 0 {
			dose(p, "http://hl7.org/fhir/sid/cvx|208", 0)
		}
		if len(people) == 100_000 {
			if err := d.UpsertPeople(people); err != nil {
				return err
			}
			people = people[:0]
		}
		if len(adms) >= 200_000 {
			if err := flushAdms(); err != nil {
				return err
			}
		}
	}
	if err := d.UpsertPeople(people); err != nil {
		return err
	}
	if err := flushAdms(); err != nil {
		return err
	}
	return setMeta(ctx, d.sql, "bench_ready", benchPeople)
}

// benchDID is the i-th synthetic DID (valid did:cc form, no hashing).
func benchDID(i int) cc.DID {
	const b32 = "abcdefghijklmnopqrstuvwxyz234567"
	var s [32]byte
	for k := range s {
		s[k] = 'a'
	}
	for k := 31; i > 0; k-- {
		s[k] = b32[i%32]
		i /= 32
	}
	return cc.DID(cc.DIDPrefix + string(s[:]))
}

// BenchmarkSyncEvents measures indexing supply events: three blocks of 500
// events each, shaped as `carechain bench epcis` captures them (cases of
// 10 vials commissioned with a lot, packed into an SSCC each, shipped),
// synced into a fresh index per iteration.
//
//	go test -run '^$' -bench SyncEvents ./index
func BenchmarkSyncEvents(b *testing.B) {
	const cases, vials = 500, 10
	l := newLedger(b)
	commission, pack, ship := make([]map[string]any, cases), make([]map[string]any, cases), make([]map[string]any, cases)
	for c := range cases {
		epcs := make([]string, vials)
		for v := range epcs {
			epcs[v] = fmt.Sprintf("urn:epc:id:sgtin:0614141.107346.%d", c*vials+v)
		}
		sscc := fmt.Sprintf("urn:epc:id:sscc:0614141.%010d", c)
		commission[c] = map[string]any{"type": "ObjectEvent", "action": "ADD", "event_time": "2026-03-01T08:00:00Z",
			"epcs": epcs, "biz_step": "commissioning", "disposition": "active", "read_point": locM,
			"lot": fmt.Sprintf("LOT-%d", c/50), "expiry": "2027-06-30"}
		pack[c] = map[string]any{"type": "AggregationEvent", "action": "ADD", "event_time": "2026-03-02T08:00:00Z",
			"parent_id": sscc, "child_epcs": epcs, "biz_step": "packing", "read_point": locM}
		ship[c] = map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "event_time": "2026-03-03T08:00:00Z",
			"epcs": []string{sscc}, "biz_step": "shipping", "disposition": "in_transit", "read_point": locM,
			"destinations": []map[string]any{{"type": "owning_party", "id": "org:clinic"}}}
	}
	l.capture(b, mfgLog.did, "mfg", commission...)
	l.capture(b, mfgLog.did, "mfg", pack...)
	l.capture(b, mfgLog.did, "mfg", ship...)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		d, err := Open(filepath.Join(b.TempDir(), "index.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := d.Sync(context.Background(), l.kv, l.height, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(3*cases*b.N), "ns/event")
}
