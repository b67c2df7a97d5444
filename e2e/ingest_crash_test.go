package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	cc "carechain"
	"carechain/client"
	"carechain/seed"
)

// syntheaDir is the shared Synthea folder beside the repository.
func syntheaDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "shared", "testdata", "synthea")
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared testdata not found: %v", err)
	}
	return d
}

// TestIngestKillRecoverTamper SIGKILLs a node in the middle of a large
// ingest (every Synthea patient bundle, four at a time), restarts it, and
// checks with `carechain verify` that no anchor lacks its blob and no blob
// lacks its anchor; then flips one byte of one vault blob and checks that
// verify reports the integrity failure (exit 8) and that reading that
// record fails instead of releasing altered data.
func TestIngestKillRecoverTamper(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process node")
	}
	lap := stopwatch(t)
	dir := syntheaDir(t)
	nw := &network{dir: t.TempDir()}
	nw.base = freeBase(t, 1)
	mustCLI(t, "testnet", "--validators", "1", "--dir", nw.dir, "--base-port", strconv.Itoa(nw.base),
		"--timeout-commit", "100ms", "--demo", "--seed", "e2e-crash", "--patients", "12")
	nw.add(filepath.Join(nw.dir, "node0"))
	t.Cleanup(func() {
		if t.Failed() {
			nw.dumpLogs(t)
		}
	})
	nw.start(t, 0)
	nw.waitHeight(t, []int{0}, 2)
	mustCLI(t, "testnet", "seed", "--dir", nw.dir)
	lap("seeded")

	pop := seed.NewPopulation("e2e-crash", 12)
	var doc seed.Identity
	for _, s := range pop.Staff {
		if s.Name == "st-mary-physician" {
			doc = s
		}
	}
	c := nw.clients[0]
	ctx := context.Background()
	me := client.NewSigner(doc.DID, doc.Key)
	for _, f := range []string{"hospitalInformation1633536936158.json", "practitionerInformation1633536936158.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ingest(ctx, me, "st-mary-hospital", "", "", b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "patients", "*.json"))
	sort.Strings(files)
	if len(files) < 8 {
		t.Fatalf("only %d Synthea patient bundles", len(files))
	}
	lap("provider directory ingested; ingesting %d patient bundles", len(files))

	// Ingest in four workers; kill the node once the first bundle is in.
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	jobs := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				b, _ := os.ReadFile(files[i])
				if _, err := c.Ingest(ctx, me, "st-mary-hospital", pop.Patients[i%len(pop.Patients)].DID, "", b); err == nil {
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
		}()
	}
	go func() {
		for i := range files {
			jobs <- i
		}
		close(jobs)
	}()
	waitFor(t, commitTimeout, "a first patient bundle ingested", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return done > 0, fmt.Sprintf("%d done", done)
	})
	time.Sleep(300 * time.Millisecond) // other bundles are mid-way: blobs written, anchors pending
	nw.procs[0].kill(t)
	wg.Wait()
	lap("node killed after %d of %d bundles", done, len(files))
	if done == len(files) {
		t.Log("every bundle finished before the kill: the recovery check still runs")
	}

	// Restart: once the block that was in flight at the kill is decided,
	// recovery removes the blobs whose anchors never committed.
	nw.start(t, 0)
	nw.waitHeight(t, []int{0}, 1)
	logFile := filepath.Join(nw.homes[0], "carechain.log")
	waitFor(t, commitTimeout, "the record vault recovered after the restart", func() (bool, string) {
		b, _ := os.ReadFile(logFile) // both starts log to it: the second recovery is the restart's
		return strings.Count(string(b), "record vault recovered") >= 2, lastLine(string(b), "msg=")
	})
	nw.stopAll(t)
	r := mustCLI(t, "verify", "--home", nw.homes[0])
	if !strings.Contains(r.Stdout, "record vault:      ok") {
		t.Fatalf("verify after recovery:\n%s", r.Stdout)
	}
	lap("verified after recovery: %s", strings.TrimSpace(lastLine(r.Stdout, "record vault")))

	// Rotating the KEK keeps every record readable under the new key.
	mustCLI(t, "vault", "rotate-kek", "--home", nw.homes[0])
	if r := mustCLI(t, "verify", "--home", nw.homes[0]); !strings.Contains(r.Stdout, "record vault:      ok") {
		t.Fatalf("verify after KEK rotation:\n%s", r.Stdout)
	}
	lap("KEK rotated and verified")

	// Tamper with one stored blob: verify names it, and a read of it fails.
	id := tamperVault(t, filepath.Join(nw.homes[0], "data", "vault"))
	r = runCLI(t, "verify", "--home", nw.homes[0])
	if r.Code != 8 || !strings.Contains(r.Stdout, "record vault:      FAILED") || !strings.Contains(r.Stdout, id) {
		t.Fatalf("verify after tampering with %s: %v", id, r)
	}
	lap("tampering with %s reported", id)
	nw.start(t, 0)
	nw.waitHeight(t, []int{0}, 1)
	for _, p := range pop.Patients {
		var as []cc.RecordAnchor
		if err := c.Get(ctx, "/v1/patients/"+string(p.DID)+"/records", &as); err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.ID != id {
				continue
			}
			_, err := c.ReadFHIR(ctx, client.NewSigner(p.DID, p.Key), client.ReadOptions{Patient: p.DID, Purpose: "PATRQT"}, "/fhir/"+id)
			if err == nil || cc.Is(cc.NotFound, err) {
				t.Errorf("read of the tampered %s: %v, want an integrity failure", id, err)
			}
			return
		}
	}
	t.Errorf("no patient holds the tampered record %s", id)
}

// lastLine returns the last line of s containing sub.
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}

// tamperVault flips one byte in the middle of the longest value of the
// vault's Pebble database (an encrypted blob), as an attacker with disk
// access would, and returns the record id in its key.
func tamperVault(t *testing.T, dir string) string {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	var key, val []byte
	for ok := it.First(); ok; ok = it.Next() {
		if v := it.Value(); len(v) > len(val) {
			key, val = append([]byte(nil), it.Key()...), append([]byte(nil), v...)
		}
	}
	it.Close()
	if len(val) < 64 {
		t.Fatalf("no blob found to tamper with")
	}
	val[len(val)/2] ^= 0x01
	if err := db.Set(key, val, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	id := recordIDIn.FindString(string(key))
	if id == "" {
		t.Fatalf("no record id in vault key %q", key)
	}
	return id
}

// recordIDIn finds a record id ("Type/" + 26 base32 characters) in a key.
var recordIDIn = regexp.MustCompile(`[A-Z][A-Za-z]+/[a-z2-7]{26}`)
