package access

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/tx"
	"carechain/records"
)

// resetCaches empties every cache of the package, so that a test can run
// the same work cold.
func resetCaches() {
	verifiedSigs.reset()
	parsedReads.reset()
	parsedLogs.reset()
}

func TestCacheGenerations(t *testing.T) {
	c := newCache[string, int](3)
	steps := []struct {
		op   string // "put k" or "get k"
		want bool   // for get: found
	}{
		{"put a", true}, {"put b", true}, {"put c", true},
		{"put d", true},  // full: a, b, c become the previous generation
		{"get a", true},  // found in the previous generation, moved to the current one
		{"put e", true},  // current: d, a, e
		{"put f", true},  // full again: d, a, e previous; b and c dropped
		{"get b", false}, // dropped
		{"get c", false},
		{"get a", true},
		{"get f", true},
		{"get x", false},
	}
	for i, s := range steps {
		verb, k, _ := strings.Cut(s.op, " ")
		if verb == "put" {
			c.put(k, i, 1)
			continue
		}
		if _, got := c.get(k); got != s.want {
			t.Errorf("step %d: %s found = %v, want %v", i, s.op, got, s.want)
		}
	}
	if n, hits := c.stats(); n > 2*3 || hits != 3 {
		t.Errorf("entries %d (want at most 6), hits %d (want 3)", n, hits)
	}
	c.reset()
	if n, hits := c.stats(); n != 0 || hits != 0 {
		t.Errorf("after reset: %d entries, %d hits", n, hits)
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := newCache[int, int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := (g*7 + i) % 200
				if v, ok := c.get(k); ok && v != k*k {
					t.Errorf("get(%d) = %d, want %d", k, v, k*k)
					return
				}
				c.put(k, k*k, 1)
			}
		}()
	}
	wg.Wait()
	if n, _ := c.stats(); n > 128 {
		t.Errorf("%d entries, want at most 128", n)
	}
}

func TestVerifySignatureCache(t *testing.T) {
	resetCaches()
	msg := []byte("carechain-read-v1\nsome request")
	sig := ed25519.Sign(clindoc.priv, msg)
	flipped := func(b []byte, i int) []byte { c := append([]byte(nil), b...); c[i] ^= 1; return c }
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		msg  []byte
		sig  []byte
		want bool
	}{
		{"valid", clindoc.pub, msg, sig, true},
		{"tampered signature", clindoc.pub, msg, flipped(sig, 0), false},
		{"tampered message", clindoc.pub, flipped(msg, len(msg)-1), sig, false},
		{"other key", pat.pub, msg, sig, false},
		{"short signature", clindoc.pub, msg, sig[:63], false},
		{"short key", clindoc.pub[:31], msg, sig, false},
		{"no key", nil, msg, sig, false},
	}
	// Cold, then warm: a cached valid signature never makes a wrong one
	// verify.
	for _, round := range []string{"cold", "warm"} {
		for _, tt := range tests {
			if got := verifySignature(tt.pub, tt.msg, tt.sig); got != tt.want {
				t.Errorf("%s, %s: got %v, want %v", round, tt.name, got, tt.want)
			}
		}
	}
	if n, hits := verifiedSigs.stats(); n != 1 || hits != 1 {
		t.Errorf("cache holds %d signatures with %d hits, want 1 (the valid one) hit once", n, hits)
	}
}

// TestVerifyReadAfterCachedValid checks that a signed read that verified
// (and is cached) does not make a tampered variant verify.
func TestVerifyReadAfterCachedValid(t *testing.T) {
	e := newEnv(t)
	good := mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc)
	other := mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o2"), clindoc)
	sigBytes, _ := base64.RawURLEncoding.DecodeString(good.Sig)
	flipped := append([]byte(nil), sigBytes...)
	flipped[10] ^= 0x80
	// A request that differs from good's only in its nonce, with good's
	// signature.
	var r ReadRequest
	if err := json.Unmarshal(good.Request, &r); err != nil {
		t.Fatal(err)
	}
	r.Nonce = "nonce-tampered-000000"
	b, _ := json.Marshal(r)
	tampered, _ := jcs.Transform(b)
	tests := []struct {
		name string
		s    SignedRead
		want cc.Kind // 0: valid
	}{
		{"valid", good, 0},
		{"flipped signature bit", SignedRead{Request: good.Request, Sig: encodeSig(flipped)}, cc.BadSignature},
		{"another request's signature", SignedRead{Request: good.Request, Sig: other.Sig}, cc.BadSignature},
		{"tampered request", SignedRead{Request: tampered, Sig: good.Sig}, cc.BadSignature},
		{"signed by someone else", SignedRead{Request: good.Request, Sig: mustSign(t, r, pat).Sig}, cc.BadSignature},
		{"not canonical", SignedRead{Request: append([]byte(" "), good.Request...), Sig: good.Sig}, cc.Malformed},
		{"truncated signature", SignedRead{Request: good.Request, Sig: good.Sig[:40]}, cc.Malformed},
		{"valid again", good, 0},
	}
	resetCaches()
	for _, round := range []string{"cold", "warm"} {
		for _, tt := range tests {
			_, _, err := VerifyRead(e.kv, tt.s)
			if got := cc.KindOf(err); err != nil && got != tt.want || err == nil && tt.want != 0 {
				t.Errorf("%s, %s: got %v, want kind %v", round, tt.name, err, tt.want)
			}
		}
	}
	// A key rotation makes the cached signature fail: the key is read
	// from the state every time.
	e.mustApply(t, clindoc, identity.TypeDIDRotate, obj{"new_public_key": tx.EncodeKey(newActor("clindoc-rotated").pub)})
	if _, _, err := VerifyRead(e.kv, good); !cc.Is(cc.BadSignature, err) {
		t.Errorf("after rotation: got %v, want BadSignature", err)
	}
}

// TestVerifyReadReturnsCopies checks that a caller changing what VerifyRead
// returned cannot change what the next call returns for the same bytes.
func TestVerifyReadReturnsCopies(t *testing.T) {
	e := newEnv(t)
	s := mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc)
	r1, h1, err := VerifyRead(e.kv, s)
	if err != nil {
		t.Fatal(err)
	}
	r1.Records[0], r1.Purpose, h1[0] = "Observation/x", "HACK", h1[0]^1
	r2, h2, err := VerifyRead(e.kv, s)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%v %v %v", r2.Records, r2.Purpose, h2[0] == h1[0]), "[Observation/o1] TREAT false"; got != want {
		t.Errorf("second call = %s, want %s", got, want)
	}
}

// TestLogParsedOnceJudgedOnState runs one access.log payload as CheckTx
// does (on the state before, thrown away), changes the state, then runs it
// as FinalizeBlock does: the parse is reused, the decision is the new
// state's, the same as with cold caches.
func TestLogParsedOnceJudgedOnState(t *testing.T) {
	tests := []struct {
		name    string
		between func(t *testing.T, e *env, s SignedRead, consentID string)
		want    string // status/reason of the one event
	}{
		{"nothing changed", func(*testing.T, *env, SignedRead, string) {}, "logged/"},
		{"consent revoked", func(t *testing.T, e *env, _ SignedRead, cid string) {
			e.mustApply(t, pat, "consent.revoke", obj{"id": cid})
		}, "denied/not_allowed"},
		{"record erased", func(t *testing.T, e *env, _ SignedRead, _ string) {
			e.mustApply(t, pat, records.TypeErase, obj{"patient": pat.did, "ids": []string{"Observation/o1"}})
		}, "denied/erased"},
		{"requester's key rotated", func(t *testing.T, e *env, _ SignedRead, _ string) {
			e.mustApply(t, clindoc, identity.TypeDIDRotate, obj{"new_public_key": tx.EncodeKey(newActor("clindoc-rotated").pub)})
		}, "invalid/bad_signature"},
		{"logged by another transaction", func(t *testing.T, e *env, s SignedRead, _ string) {
			e.logTx(t, node, logEv(s, "Observation/o1"))
		}, "replay/logged before"},
		{"block time past the read window", func(_ *testing.T, e *env, _ SignedRead, _ string) {
			e.time = e.time.Add(ReadWindow + time.Second)
		}, "stale/issued 2025-03-01T12:02:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cid := e.grant(t, pat, permitClindoc)
			e.next()
			s := mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc)
			payload := canonicalPayload(t, obj{"events": []obj{logEv(s, "Observation/o1")}})
			resetCaches()
			if _, err := handleLog(e.ctx(node.did, TypeLog), cctest.Fork(e.kv), payload); err != nil {
				t.Fatalf("CheckTx: %v", err)
			}
			_, logHits := parsedLogs.stats()
			tt.between(t, e, s, cid)
			ctx := e.ctx(node.did, TypeLog)
			warm, werr := handleLog(ctx, cctest.Fork(e.kv), payload)
			if _, hits := parsedLogs.stats(); hits <= logHits {
				t.Errorf("FinalizeBlock parsed the payload again (parsedLogs hits %d → %d)", logHits, hits)
			}
			resetCaches()
			cold, cerr := handleLog(ctx, cctest.Fork(e.kv), payload)
			if !reflect.DeepEqual(warm, cold) || fmt.Sprint(werr) != fmt.Sprint(cerr) {
				t.Fatalf("warm caches: %+v, %v\ncold caches: %+v, %v", warm, werr, cold, cerr)
			}
			if werr != nil {
				t.Fatal(werr)
			}
			got := cctest.DecodeData[logResult](t, warm).Events
			if len(got) != 1 || got[0].Status+"/"+got[0].Reason != tt.want {
				t.Errorf("got %+v, want %s", got, tt.want)
			}
		})
	}
}

// TestLogReusesGatekeeperWork checks that CheckTx of an access.log
// neither parses nor verifies again a signed read the gatekeeper verified.
func TestLogReusesGatekeeperWork(t *testing.T) {
	e := newEnv(t)
	e.grant(t, pat, permitClindoc)
	e.next()
	s := mustSign(t, e.request(clindoc, pat, "TREAT", "Observation/o1"), clindoc)
	resetCaches()
	if _, _, err := VerifyRead(e.kv, s); err != nil { // the gatekeeper
		t.Fatal(err)
	}
	_, readHits := parsedReads.stats()
	_, sigHits := verifiedSigs.stats()
	got := e.logTx(t, node, logEv(s, "Observation/o1")) // CheckTx
	if len(got) != 1 || got[0].Status != StatusLogged {
		t.Fatalf("got %+v, want logged", got)
	}
	_, readHits2 := parsedReads.stats()
	_, sigHits2 := verifiedSigs.stats()
	if readHits2 != readHits+1 || sigHits2 != sigHits+1 {
		t.Errorf("parsedReads hits %d → %d, verifiedSigs hits %d → %d; want one more each", readHits, readHits2, sigHits, sigHits2)
	}
}

// TestDeterminismWarmAndCold runs the determinism scenario with cold
// caches and again with the caches the first run filled: state and
// results are the same.
func TestDeterminismWarmAndCold(t *testing.T) {
	resetCaches()
	kv1, res1 := scenario(t)
	_, logHits := parsedLogs.stats()
	kv2, res2 := scenario(t)
	if _, hits := parsedLogs.stats(); hits == logHits {
		t.Error("the second run did not use the caches")
	}
	if d := cctest.Diff(kv1, kv2); d != "" {
		t.Fatalf("cold and warm runs differ:\n%s", d)
	}
	if !reflect.DeepEqual(res1, res2) {
		t.Fatal("cold and warm runs returned different results")
	}
}

// canonicalPayload is v as tx.Build puts a payload in a transaction:
// JSON, RFC 8785 canonical.
func canonicalPayload(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = jcs.Transform(b); err != nil {
		t.Fatal(err)
	}
	return b
}
