package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cc "carechain"
	"carechain/chain"
	"carechain/client"
	"carechain/ledger/tx"
	"carechain/node"
	"carechain/seed"
)

// passphrase protects every key the tests' CLI runs create.
const passphrase = "e2e-passphrase"

// Generous bounds for waits: they only matter when something is broken, and
// a slow CI machine must not fail a healthy network.
const (
	startTimeout  = 90 * time.Second // processes up, APIs answering
	commitTimeout = 90 * time.Second // a transaction or a few blocks committed
	stopTimeout   = 60 * time.Second // SIGTERM to exit
)

// cliEnv is the environment of every carechain process the tests run.
func cliEnv() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CARECHAIN_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "CARECHAIN_PASSPHRASE="+passphrase)
}

// cliResult is one finished carechain command.
type cliResult struct {
	Args           []string
	Stdout, Stderr string
	Code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("carechain %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
}

// runCLI runs the carechain binary to completion.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, carechainBin, args...)
	cmd.Env = cliEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{Args: args, Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("carechain %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustCLI runs the carechain binary and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, args...)
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// verifyHome runs `carechain verify --home home --output json` and decodes
// its report.
func verifyHome(t *testing.T, home string) (*chain.Report, cliResult) {
	t.Helper()
	r := runCLI(t, "verify", "--home", home, "--output", "json")
	if strings.HasPrefix(r.Stderr, "panic: ") {
		first, _, _ := strings.Cut(r.Stderr, "\n")
		t.Fatalf("carechain verify panicked (exit %d) instead of reporting: %s\n%v", r.Code, first, r)
	}
	var rep chain.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("verify --output json printed no report (%v)\n%v", err, r)
	}
	return &rep, r
}

// mustVerifyOK fails the test unless `carechain verify` accepts home.
func mustVerifyOK(t *testing.T, home string) *chain.Report {
	t.Helper()
	rep, r := verifyHome(t, home)
	if r.Code != 0 || !rep.OK() || rep.BlockHeight < 1 || rep.StateHeight < 1 {
		t.Fatalf("verify %s: want exit 0 and every check ok, got %+v\n%v", home, rep, r)
	}
	return rep
}

// freeBase picks a random base port in 30000–50000 such that every port a
// node of an n-node testnet uses (P2P, RPC, API: base+i*PortStride+0..2) is
// free on 127.0.0.1 right now.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	span := n * node.PortStride
	for range 200 {
		base := 30000 + rand.IntN(20000-span)
		if portsFree(base, n) {
			return base
		}
	}
	t.Fatalf("no free loopback ports for %d nodes in 30000-50000", n)
	return 0
}

func portsFree(base, n int) bool {
	for i := range n {
		for off := range 3 {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i*node.PortStride+off))
			if err != nil {
				return false
			}
			ln.Close()
		}
	}
	return true
}

// proc is one running `carechain start` process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// startProc runs `carechain start --home home`, appending its stdout and
// stderr to logPath. The test's cleanup kills it if it still runs.
func startProc(t *testing.T, name, home, logPath string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s: carechain start --home %s\n", time.Now().Format(time.RFC3339Nano), home)
	cmd := exec.Command(carechainBin, "start", "--home", home)
	cmd.Env = cliEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to die.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// stop sends SIGTERM and returns the exit code once the process exits.
func (p *proc) stop(t *testing.T) int {
	t.Helper()
	if !p.running() {
		t.Fatalf("%s exited before it was stopped: %v", p.name, p.cmd.ProcessState)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %v of SIGTERM", p.name, stopTimeout)
		return -1
	}
}

// network is a set of node homes in one directory, node i at dir/node<i>
// with its API on 127.0.0.1:base+i*PortStride+2, and their processes.
type network struct {
	dir     string
	base    int
	homes   []string
	procs   []*proc
	clients []*client.Client
}

// newTestnet writes an n-validator testnet with `carechain testnet`.
func newTestnet(t *testing.T, n int) *network { return newTestnetSpare(t, n, 0) }

// newTestnetSpare is newTestnet with free ports for spare more nodes, which
// the test adds itself (see network.add).
func newTestnetSpare(t *testing.T, n, spare int) *network {
	t.Helper()
	nw := &network{dir: t.TempDir(), base: freeBase(t, n+spare)}
	mustCLI(t, "testnet", "--validators", strconv.Itoa(n), "--dir", nw.dir,
		"--base-port", strconv.Itoa(nw.base), "--timeout-commit", "100ms")
	for i := range n {
		nw.add(filepath.Join(nw.dir, fmt.Sprintf("node%d", i)))
	}
	t.Cleanup(func() {
		if t.Failed() {
			nw.dumpLogs(t)
		}
	})
	return nw
}

// add registers a home as the next node of the network.
func (nw *network) add(home string) int {
	i := len(nw.homes)
	nw.homes = append(nw.homes, home)
	nw.procs = append(nw.procs, nil)
	nw.clients = append(nw.clients, client.New("http://"+nw.apiAddr(i)))
	return i
}

// port returns node i's port at offset off (0 P2P, 1 RPC, 2 API).
func (nw *network) port(i, off int) int { return nw.base + i*node.PortStride + off }

func (nw *network) apiAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", nw.port(i, 2)) }

func (nw *network) name(i int) string { return fmt.Sprintf("node%d", i) }

// start runs node i's process (again, after a kill or stop).
func (nw *network) start(t *testing.T, i int) {
	t.Helper()
	nw.procs[i] = startProc(t, nw.name(i), nw.homes[i], filepath.Join(nw.dir, nw.name(i)+".out"))
}

// stopAll sends SIGTERM to every running node and checks each exits 0.
func (nw *network) stopAll(t *testing.T) {
	t.Helper()
	for _, p := range nw.procs {
		if p != nil && p.running() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for i, p := range nw.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("%s did not exit within %v of SIGTERM", nw.name(i), stopTimeout)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 && !killed(p) {
			t.Errorf("%s exited with code %d after SIGTERM, want 0", nw.name(i), code)
		}
	}
}

// killed reports whether p died of SIGKILL (the tests' own kill).
func killed(p *proc) bool {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// status asks node i for its status (nil if it does not answer).
func (nw *network) status(i int) (*cc.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return nw.clients[i].Status(ctx)
}

// stopwatch returns a t.Logf that prefixes the time since the call, to
// show where a run spends its time.
func stopwatch(t *testing.T) func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		t.Helper()
		t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// waitFor polls cond until it holds, failing the test after timeout with
// cond's last description of what it saw.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitHeight waits until every node in nodes answers, is not catching up
// and has committed at least height h. It returns the heights seen.
func (nw *network) waitHeight(t *testing.T, nodes []int, h int64) map[int]int64 {
	t.Helper()
	seen := map[int]int64{}
	waitFor(t, commitTimeout, fmt.Sprintf("nodes %v to reach height %d", nodes, h), func() (bool, string) {
		var desc []string
		ok := true
		for _, i := range nodes {
			st, err := nw.status(i)
			switch {
			case err != nil:
				ok = false
				desc = append(desc, fmt.Sprintf("%s: %v", nw.name(i), err))
			case st.CatchingUp || st.LatestHeight < h:
				ok = false
				desc = append(desc, fmt.Sprintf("%s: height %d catching_up %v", nw.name(i), st.LatestHeight, st.CatchingUp))
			default:
				seen[i] = st.LatestHeight
			}
		}
		return ok, strings.Join(desc, "; ")
	})
	return seen
}

// maxHeight is the highest latest_height among nodes.
func (nw *network) maxHeight(t *testing.T, nodes []int) int64 {
	t.Helper()
	var hi int64
	for _, i := range nodes {
		st, err := nw.status(i)
		if err != nil {
			t.Fatalf("%s status: %v", nw.name(i), err)
		}
		hi = max(hi, st.LatestHeight)
	}
	return hi
}

// minHeight is the lowest latest_height among nodes.
func (nw *network) minHeight(t *testing.T, nodes []int) int64 {
	t.Helper()
	lo := int64(-1)
	for _, i := range nodes {
		st, err := nw.status(i)
		if err != nil {
			t.Fatalf("%s status: %v", nw.name(i), err)
		}
		if lo < 0 || st.LatestHeight < lo {
			lo = st.LatestHeight
		}
	}
	return lo
}

// dumpLogs prints the tail of every node's process output and log, to
// explain a failure.
func (nw *network) dumpLogs(t *testing.T) {
	for i, home := range nw.homes {
		for _, f := range []string{filepath.Join(nw.dir, nw.name(i)+".out"), filepath.Join(home, "carechain.log")} {
			t.Logf("--- tail of %s:\n%s", f, tail(f, 40))
		}
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// patient is a fresh identity that registers itself as a patient.
type patient struct {
	name   string
	signer *client.Signer
	pub    ed25519.PublicKey
}

func newPatient(name string) *patient {
	k := seed.DeriveKey("carechain-e2e", name)
	pub := k.Public().(ed25519.PublicKey)
	return &patient{name: name, signer: client.NewSigner(tx.DeriveDID(pub), k), pub: pub}
}

func (p *patient) payload() any { return map[string]string{"public_key": tx.EncodeKey(p.pub)} }

// committed is a transaction the tests saw committed.
type committed struct {
	name   string
	did    cc.DID
	node   int // submitted to
	hash   string
	height int64
}

// doCommit builds, submits with commit=true and checks one transaction.
func doCommit(c *client.Client, s *client.Signer, typ string, payload any) (*cc.SubmitResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	r, err := c.Do(ctx, s, typ, payload, true)
	if err != nil {
		return nil, fmt.Errorf("%s to %s: %w", typ, c.Base, err)
	}
	if !r.Accepted || r.Code != 0 || r.Height < 1 {
		return nil, fmt.Errorf("%s to %s: want committed, got %+v", typ, c.Base, r)
	}
	return r, nil
}

// registerOn registers perNode new patients through each of nodes, the
// nodes concurrently (each node's patients in sequence), and checks every
// transaction committed. Names are prefix-<node>-<k>.
func (nw *network) registerOn(t *testing.T, prefix string, nodes []int, perNode int) []committed {
	t.Helper()
	var (
		mu  sync.Mutex
		out []committed
		wg  sync.WaitGroup
	)
	for _, i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perNode {
				p := newPatient(fmt.Sprintf("%s-%d-%d", prefix, i, k))
				r, err := doCommit(nw.clients[i], p.signer, "patient.register", p.payload())
				if err != nil {
					t.Errorf("%s: %v", nw.name(i), err)
					return
				}
				mu.Lock()
				out = append(out, committed{name: p.name, did: p.signer.DID, node: i, hash: r.Hash, height: r.Height})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return out
}

// waitTxEverywhere waits until every node in nodes reports each committed
// transaction at the height its submitter reported.
func (nw *network) waitTxEverywhere(t *testing.T, nodes []int, txs []committed) {
	t.Helper()
	for _, c := range txs {
		for _, i := range nodes {
			waitFor(t, commitTimeout, fmt.Sprintf("%s to know tx %s", nw.name(i), c.hash), func() (bool, string) {
				var info cc.TxInfo
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := nw.clients[i].Get(ctx, "/v1/txs/"+c.hash, &info); err != nil {
					return false, err.Error()
				}
				if info.Height != c.height || info.Code != 0 {
					t.Fatalf("%s has tx %s at height %d code %d; %s committed it at height %d",
						nw.name(i), c.hash, info.Height, info.Code, nw.name(c.node), c.height)
				}
				return true, ""
			})
		}
	}
}

// getJSON fetches path from node i into out (a *[]byte takes the raw body).
func (nw *network) getJSON(t *testing.T, i int, path string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := nw.clients[i].Get(ctx, path, out); err != nil {
		t.Fatalf("%s GET %s: %v", nw.name(i), path, err)
	}
}

// metric returns the value of the unlabelled Prometheus sample name in
// node i's GET /metrics.
func (nw *network) metric(t *testing.T, i int, name string) float64 {
	t.Helper()
	var body []byte
	nw.getJSON(t, i, "/metrics", &body)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s /metrics: %s: %v", nw.name(i), line, err)
			}
			return f
		}
	}
	t.Fatalf("%s /metrics has no %s:\n%s", nw.name(i), name, body)
	return 0
}

// copyDir copies the regular files and directories under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		}
		return nil // sockets and the like
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
