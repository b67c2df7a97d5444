package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	cc "carechain"
	"carechain/client"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "carechain-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "carechain")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the CLI with env additions and returns stdout, stderr and the
// exit code.
func run(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{cc.Errorf("x", cc.Malformed, "m"), exitInvalid},
		{cc.Errorf("x", cc.BadSignature, "m"), exitUnauthorized},
		{cc.Errorf("x", cc.NotFound, "m"), exitNotFound},
		{cc.Errorf("x", cc.SequenceReplay, "m"), exitConflict},
		{cc.Errorf("x", cc.FailedPrecondition, "m"), exitPrecondition},
		{cc.Errorf("x", cc.Integrity, "m"), exitIntegrity},
		{usageError{fmt.Errorf("bad flag")}, exitUsage},
		{fmt.Errorf("boom"), exitInternal},
		{fmt.Errorf("status: %w", &cc.Error{Kind: cc.Internal, Err: client.ErrUnreachable}), exitUnavailable},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestKeysCommands(t *testing.T) {
	ks := t.TempDir()
	env := []string{"CARECHAIN_KEYSTORE=" + ks, "CARECHAIN_PASSPHRASE=correct horse"}
	out, _, code := run(t, env, "keys", "create", "alice", "-o", "json")
	if code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	var k keyJSON
	if err := json.Unmarshal([]byte(out), &k); err != nil || !k.DID.Valid() {
		t.Fatalf("create output %q: %v", out, err)
	}
	if _, _, code := run(t, env, "keys", "create", "alice"); code != exitConflict {
		t.Errorf("duplicate create: exit %d, want %d", code, exitConflict)
	}
	out, _, _ = run(t, env, "keys", "list")
	if !strings.Contains(out, "alice") || !strings.Contains(out, string(k.DID)) {
		t.Errorf("list: %q", out)
	}
	exported := filepath.Join(t.TempDir(), "alice.key")
	if _, _, code := run(t, []string{"CARECHAIN_KEYSTORE=" + ks, "CARECHAIN_PASSPHRASE=wrong"}, "keys", "export", "alice", "--out", exported); code != exitUnauthorized {
		t.Errorf("export with a wrong passphrase: exit %d, want %d", code, exitUnauthorized)
	}
	if _, _, code := run(t, env, "keys", "export", "alice", "--out", exported); code != 0 {
		t.Fatalf("export: exit %d", code)
	}
	ks2 := t.TempDir()
	out, _, code = run(t, []string{"CARECHAIN_KEYSTORE=" + ks2, "CARECHAIN_PASSPHRASE=other"}, "keys", "import", "alice2", exported, "-o", "json")
	var k2 keyJSON
	json.Unmarshal([]byte(out), &k2)
	if code != 0 || k2.DID != k.DID || k2.PublicKey != k.PublicKey {
		t.Errorf("import: exit %d, %+v want DID %s", code, k2, k.DID)
	}
	if _, stderr, code := run(t, env, "keys", "show", "nobody"); code != exitNotFound || !strings.HasPrefix(stderr, "carechain: ") {
		t.Errorf("show missing: exit %d, stderr %q", code, stderr)
	}
	if _, _, code := run(t, env, "keys", "bogus-subcommand", "--nope"); code != exitUsage {
		t.Errorf("bad flag: exit %d, want %d", code, exitUsage)
	}
}

// TestDemoLifecycle runs `carechain demo`, uses it through the CLI, stops
// it with Ctrl-C, verifies the chain and restarts it.
func TestDemoLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo node")
	}
	home := filepath.Join(t.TempDir(), "demo")
	addr := freeAddr(t)
	api := "http://" + addr
	env := []string{"CARECHAIN_KEYSTORE=" + filepath.Join(home, "keys"), "CARECHAIN_PASSPHRASE=demo", "CARECHAIN_NODE=" + api}

	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(binary, "demo", "--home", home, "--http", addr, "--patients", "8")
		cmd.Env = append(os.Environ(), env...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "carechain demo is running") {
					ready <- true
				}
			}
			io.Copy(io.Discard, stdout)
		}()
		select {
		case <-ready:
		case <-time.After(120 * time.Second):
			t.Fatalf("demo did not start: %s", errb.String())
		}
		return cmd, &errb
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("demo exit: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("demo did not stop on SIGINT")
		}
	}

	cmd, _ := start()
	out, _, code := run(t, env, "query", "orgs")
	if code != 0 || !strings.Contains(out, "st-mary-hospital") || !strings.Contains(out, "public-health-agency") {
		t.Fatalf("query orgs: exit %d\n%s", code, out)
	}
	out, _, code = run(t, env, "query", "members", "st-mary-hospital", "-o", "json")
	if code != 0 || !strings.Contains(out, "emergency-clinician") {
		t.Errorf("members: exit %d %s", code, out)
	}
	// The demo's supply chain: the South store's quarantined case is
	// released by the regulator (everything packed in it with it).
	const excursionCase = "urn:epc:id:sscc:0614141.1000000008"
	out, _, code = run(t, env, "query", "item", excursionCase, "-o", "json")
	if code != 0 || !strings.Contains(out, `"quarantined"`) {
		t.Errorf("the excursion case: exit %d %s", code, out)
	}
	if out, stderr, code := run(t, env, "tx", "supply-review", "--key", "regulator-inspector", "--org", "medicines-regulator",
		"--epc", excursionCase, "--decision", "release", "--reason", "stability data cover 50 minutes at +6 °C"); code != 0 {
		t.Errorf("supply-review: exit %d %s %s", code, out, stderr)
	}
	if out, _, code = run(t, env, "query", "item", excursionCase, "-o", "json"); code != 0 || strings.Contains(out, `"quarantined"`) {
		t.Errorf("after release: exit %d %s", code, out)
	}
	if _, stderr, code := run(t, env, "tx", "supply-recall", "--key", "st-mary-nurse", "--org", "st-mary-hospital", "--lot", "ACM-2611A", "--reason", "x"); code != exitUnauthorized {
		t.Errorf("a hospital recalling a lot: exit %d %s, want unauthorized", code, stderr)
	}
	// The demo's programs: status, a pause by the ministry's officer, a
	// second pause refused, a spec whose CEL does not compile refused.
	if out, stderr, code := run(t, env, "program", "status", "covid-second-dose"); code != 0 || !strings.Contains(out, "status active") ||
		!strings.Contains(out, "first-doses") {
		t.Errorf("program status: exit %d %s %s", code, out, stderr)
	}
	if out, stderr, code := run(t, env, "program", "pause", "covid-second-dose", "--key", "ministry-officer"); code != 0 {
		t.Errorf("program pause: exit %d %s %s", code, out, stderr)
	}
	if _, stderr, code := run(t, env, "program", "pause", "covid-second-dose", "--key", "ministry-officer"); code != exitConflict || !strings.Contains(stderr, "paused") {
		t.Errorf("second pause: exit %d %s, want conflict", code, stderr)
	}
	badSpec := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(badSpec, []byte(`{"title":"x","vaccines":["http://hl7.org/fhir/sid/cvx|03"],"target":"person.age >","goal":{"dose":1,"permille":500,"by":"2027-01-01"}}`), 0o600)
	if _, stderr, code := run(t, env, "program", "deploy", badSpec, "--org", "ministry-of-health", "--id", "bad-one", "--key", "ministry-officer"); code != exitInvalid ||
		!strings.Contains(stderr, "target") {
		t.Errorf("deploy of bad CEL: exit %d %s, want invalid", code, stderr)
	}
	if out, _, code := run(t, env, "program", "status"); code != 0 || !strings.Contains(out, "childhood-mmr-incentive") || !strings.Contains(out, "paused") {
		t.Errorf("program list: exit %d %s", code, out)
	}
	// A SMART Health Card: the demo patient's immunizations, issued by
	// St Mary's (registered by the demo), verified by the node.
	card := filepath.Join(t.TempDir(), "card.smart-health-card")
	if out, stderr, code := run(t, env, "shc", "issue", "--key", "patient-001", "--org", "st-mary-hospital", "--out", card); code != 0 {
		t.Errorf("shc issue: exit %d %s %s", code, out, stderr)
	} else if out, stderr, code := run(t, env, "shc", "verify", card); code != 0 {
		t.Errorf("shc verify: exit %d %s %s", code, out, stderr)
	}
	// A practitioner key rotates on the ledger and in the keystore.
	out, _, code = run(t, env, "tx", "did-rotate", "--key", "northside-nurse", "-o", "json")
	if code != 0 {
		t.Fatalf("rotate: exit %d %s", code, out)
	}
	var acct struct {
		KeyVersion int `json:"key_version"`
		Sequence   int `json:"sequence"`
	}
	out, _, _ = run(t, env, "keys", "show", "northside-nurse", "-o", "json")
	var k keyJSON
	json.Unmarshal([]byte(out), &k)
	out, _, _ = run(t, env, "query", "account", string(k.DID), "-o", "json")
	json.Unmarshal([]byte(out), &acct)
	if acct.KeyVersion != 2 {
		t.Errorf("after rotation key_version = %d: %s", acct.KeyVersion, out)
	}
	// The rotated key keeps signing; a non-admin cannot add members.
	if _, stderr, code := run(t, env, "tx", "member-add", "--key", "northside-nurse", "--org", "northside-clinic", "--member", string(k.DID), "--role", "physician"); code != exitUnauthorized {
		t.Errorf("member-add by a nurse: exit %d, want %d (%s)", code, exitUnauthorized, stderr)
	}
	// Proof of the rotation, checked offline.
	proof := filepath.Join(t.TempDir(), "proof.json")
	if _, stderr, code := run(t, env, "query", "proof", "--key", "id/did/"+string(k.DID), "--out", proof); code != 0 {
		t.Fatalf("query proof: exit %d %s", code, stderr)
	}
	out, stderr, code := run(t, env, "verify-proof", proof, "--genesis", filepath.Join(home, "config", "genesis.json"))
	if code != 0 || !strings.Contains(out, "proof OK") {
		t.Errorf("verify-proof: exit %d %s %s", code, out, stderr)
	}
	resp, err := http.Get(api + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var st cc.Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	stop(cmd)

	out, stderr, code = run(t, env, "verify", "--home", home, "-o", "json")
	if code != 0 || !strings.Contains(out, `"replay_ok": true`) {
		t.Fatalf("verify: exit %d %s %s", code, out, stderr)
	}

	// Restart continues the same chain without seeding again.
	cmd, _ = start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", api+"/v1/status", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st2 cc.Status
	json.NewDecoder(resp.Body).Decode(&st2)
	resp.Body.Close()
	if st2.LatestHeight < st.LatestHeight || st2.ChainID != st.ChainID {
		t.Errorf("restart: %+v after %+v", st2, st)
	}
	out, _, _ = run(t, env, "query", "account", string(k.DID), "-o", "json")
	json.Unmarshal([]byte(out), &acct)
	if acct.KeyVersion != 2 {
		t.Errorf("restart lost the rotation: %s", out)
	}
	stop(cmd)
}
