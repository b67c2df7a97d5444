package vault

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

const crashBatchItems = 100 // 50 records × 2 versions

// crashBatch is batch b of a simulated ingest; size is the size of an item.
func crashBatch(b, size int) []Item {
	items := make([]Item, crashBatchItems)
	for i := range items {
		id := fmt.Sprintf("Observation/b%04d-%02d", b, i/2)
		items[i] = Item{id, i%2 + 1, resource(id, i%2+1, size)}
	}
	return items
}

// checkRecovered checks a vault reopened after a crash in which batches
// [0, acked) had been acknowledged: those are complete, any other batch is
// complete or absent, every blob decrypts to its plaintext, and recovery
// (Prune against the anchors, which exist for acknowledged batches only)
// leaves exactly the anchored versions.
func checkRecovered(t *testing.T, v *Vault, acked, size int) {
	t.Helper()
	perBatch := map[int]int{}
	var refs []ref
	if err := v.Records(func(id string, ver int) bool {
		var b, r int
		if _, err := fmt.Sscanf(id, "Observation/b%04d-%02d", &b, &r); err != nil {
			t.Errorf("unexpected record %q", id)
		}
		perBatch[b]++
		refs = append(refs, ref{id, ver})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for b := range acked {
		if perBatch[b] != crashBatchItems {
			t.Errorf("acknowledged batch %d has %d of %d versions", b, perBatch[b], crashBatchItems)
		}
	}
	for b, n := range perBatch {
		if n != crashBatchItems {
			t.Errorf("batch %d is partial: %d of %d versions", b, n, crashBatchItems)
		}
	}
	// Verify authenticates every blob; a sample (and every version of a
	// batch that was not acknowledged) is also compared with its plaintext.
	for i, r := range refs {
		var b int
		fmt.Sscanf(r.id, "Observation/b%04d", &b)
		if i%17 != 0 && b < acked {
			continue
		}
		plain := resource(r.id, r.version, size)
		h, err := v.ContentHash(r.id, plain)
		if err != nil {
			t.Fatalf("ContentHash(%q): %v", r.id, err)
		}
		MustGet(t, v, r.id, r.version, h, plain)
	}
	if got := MustVerify(t, v, nil); len(got) > 0 {
		t.Errorf("Verify after the crash: %q", got)
	}
	anchored := func(id string, _ int) (bool, error) {
		var b int
		fmt.Sscanf(id, "Observation/b%04d", &b)
		return b < acked, nil
	}
	if _, err := v.Prune(anchored); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := v.Records(func(id string, ver int) bool {
		if ok, _ := anchored(id, ver); !ok {
			t.Errorf("%s@%d has no anchor after recovery", id, ver)
		}
		n++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != acked*crashBatchItems {
		t.Errorf("after recovery the vault holds %d versions, want %d (every anchor has its blob)", n, acked*crashBatchItems)
	}
}

// TestCrashDuringIngest takes crash images of an in-memory filesystem
// (keeping a random half of the unsynced writes) while batches are being
// written, and recovers each.
func TestCrashDuringIngest(t *testing.T) {
	kek := MustKEK(t, "kek-1", 1)
	fs := vfs.NewCrashableMem()
	v, err := OpenFS("vault", fs, kek)
	if err != nil {
		t.Fatal(err)
	}
	const batches, size = 12, 2 << 10
	var acked atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range batches {
			if _, err := v.PutBatch(crashBatch(b, size)); err != nil {
				t.Error(err)
				return
			}
			acked.Store(int64(b + 1))
		}
	}()
	type image struct {
		fs    *vfs.MemFS
		acked int
	}
	var images []image
	perAcked := map[int]bool{} // an image was taken at this acknowledged count
	rng := rand.New(rand.NewPCG(1, 2))
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Duration(rng.IntN(4000)) * time.Microsecond):
		}
		n := int(acked.Load()) // read before the image: these are synced
		if perAcked[n] && running {
			continue
		}
		perAcked[n] = true
		images = append(images, image{fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}), n})
	}
	MustClose(t, v)
	for i, im := range images {
		t.Run(fmt.Sprintf("image %d after %d batches", i, im.acked), func(t *testing.T) {
			v, err := OpenFS("vault", im.fs, kek)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			checkRecovered(t, v, im.acked, size)
		})
	}
}

// TestSIGKILLDuringIngest runs an ingest in a child process, kills it with
// SIGKILL mid-way, and recovers the vault it leaves on disk.
func TestSIGKILLDuringIngest(t *testing.T) {
	if dir := os.Getenv("CARECHAIN_VAULT_CRASH_DIR"); dir != "" {
		crashChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	kekPath := filepath.Join(dir, "kek.json")
	if _, err := GenerateKEK(kekPath, "kek-1"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLDuringIngest$")
	cmd.Env = append(os.Environ(), "CARECHAIN_VAULT_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	acked := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			fmt.Sscan(n, &acked)
		}
		if acked >= 8 {
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	for sc.Scan() { // acknowledgements written before the kill landed
		if n, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			fmt.Sscan(n, &acked)
		}
	}
	cmd.Wait()
	if acked < 8 {
		t.Fatalf("the child acknowledged only %d batches", acked)
	}
	kek, err := LoadKEK(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	v := MustOpen(t, filepath.Join(dir, "vault"), kek)
	checkRecovered(t, v, acked, childItemBytes)
}

// childItemBytes is the item size of the child's ingest (800 KB batches).
const childItemBytes = 8 << 10

// crashChild is the child of TestSIGKILLDuringIngest: it ingests batches
// and prints "acked N" after each is durable, until it is killed.
func crashChild(t *testing.T, dir string) {
	kek, err := LoadKEK(filepath.Join(dir, "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(filepath.Join(dir, "vault"), kek)
	if err != nil {
		t.Fatal(err)
	}
	for b := range 2000 { // bounded, should the parent vanish
		if _, err := v.PutBatch(crashBatch(b, childItemBytes)); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("acked %d\n", b+1)
	}
	v.Close()
}
