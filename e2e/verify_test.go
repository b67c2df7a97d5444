package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	pebblev1 "github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/v2"
	dbm "github.com/cometbft/cometbft-db"
	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"

	cc "carechain"
	"carechain/chain"
	"carechain/node"
)

// TestVerifyDetectsTampering commits a few transactions on a one-validator
// network, stops it, and then tampers with copies of its home: application
// state entries in carechain's Pebble state, and blocks and commits in
// CometBFT's block store. `carechain verify` must exit 8 and name the
// tampered key or height; the untouched home must verify.
func TestVerifyDetectsTampering(t *testing.T) {
	needBinary(t)
	logf := stopwatch(t)
	nw := newTestnet(t, 1)
	nw.start(t, 0)
	nw.waitHeight(t, []int{0}, 1)
	regs := nw.registerOn(t, "tamper", []int{0}, 3)
	var last int64
	for _, r := range regs {
		last = max(last, r.height)
	}
	// One more block (CometBFT makes it at once, to carry the new AppHash):
	// every block with a transaction then has its canonical commit stored
	// with the next block, not only a seen commit.
	nw.waitHeight(t, []int{0}, last+1)
	if code := nw.procs[0].stop(t); code != 0 {
		t.Fatalf("node0 exited with code %d after SIGTERM, want 0", code)
	}
	home := nw.homes[0]
	intact := mustVerifyOK(t, home)
	logf("home verified: %d blocks, transactions at heights %d, %d, %d",
		intact.BlockHeight, regs[0].height, regs[1].height, regs[2].height)

	fakeDID := cc.DID(cc.DIDPrefix + strings.Repeat("a", 32))
	tests := []struct {
		name   string
		tamper func(t *testing.T, home string)
		// wantKey and wantHeight are what the report must name (first_bad_key,
		// first_bad_height); empty or 0 means not checked.
		wantKey    string
		wantHeight int64
		failed     []string // checks that must fail
		passed     []string // checks that must still pass
	}{
		{
			name: "state value changed",
			tamper: func(t *testing.T, home string) {
				key := "id/did/" + string(regs[0].did)
				editState(t, home, key, func(v []byte) []byte {
					if !bytes.Contains(v, []byte(`"patient_since":`)) {
						t.Fatalf("state %s = %s, not a patient's DID record", key, v)
					}
					return bytes.Replace(v, []byte(`"patient_since":`), []byte(`"patient_since":1`), 1)
				})
			},
			wantKey:    "id/did/" + string(regs[0].did),
			wantHeight: regs[0].height,
			failed:     []string{"state", "digest"},
			passed:     []string{"commits", "replay"},
		},
		{
			name: "state entry deleted",
			tamper: func(t *testing.T, home string) {
				editState(t, home, "id/did/"+string(regs[1].did), func([]byte) []byte { return nil })
			},
			wantKey: "id/did/" + string(regs[1].did),
			failed:  []string{"state", "digest"},
			passed:  []string{"commits", "replay"},
		},
		{
			name: "state entry added",
			tamper: func(t *testing.T, home string) {
				editState(t, home, "id/did/"+string(fakeDID), func(v []byte) []byte {
					if v != nil {
						t.Fatalf("fake patient %s exists", fakeDID)
					}
					return fmt.Appendf(nil, `{"id":%q,"kind":"patient","public_key":null,"key_version":1,"created":1,"updated":1,"patient_since":1}`, fakeDID)
				})
			},
			wantKey: "id/did/" + string(fakeDID),
			failed:  []string{"state", "digest"},
			passed:  []string{"commits", "replay"},
		},
		{
			name: "transaction altered in a stored block",
			tamper: func(t *testing.T, home string) {
				did := []byte(regs[1].did)
				editBlockStore(t, home, partKey(regs[1].height, 0), func(v []byte) []byte {
					var part cmtproto.Part
					if err := part.Unmarshal(v); err != nil {
						t.Fatalf("block part %d/0: %v", regs[1].height, err)
					}
					at := bytes.Index(part.Bytes, did)
					if at < 0 {
						t.Fatalf("block %d does not carry the transaction of %s", regs[1].height, did)
					}
					// Change one character of the signer's DID: the block still
					// decodes, but its transactions no longer hash to its header.
					last := at + len(did) - 1
					part.Bytes[last] = otherBase32(part.Bytes[last])
					b, err := part.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					return b
				})
			},
			wantHeight: regs[1].height,
			failed:     []string{"commits", "replay"},
		},
		{
			name: "recorded AppHash altered",
			tamper: func(t *testing.T, home string) {
				editStateDB(t, home, metaKey(regs[0].height), func(v []byte) []byte {
					if len(v) < 32 {
						t.Fatalf("block meta %d of %d bytes", regs[0].height, len(v))
					}
					v[len(v)-1] ^= 0x01 // the AppHash is the last 32 bytes
					return v
				})
			},
			wantHeight: regs[0].height,
			failed:     []string{"replay"},
			passed:     []string{"commits", "state", "digest"},
		},
		{
			name: "header AppHash altered in a stored block",
			tamper: func(t *testing.T, home string) {
				editBlock(t, home, regs[2].height, func(b *cmtproto.Block) {
					b.Header.AppHash[0] ^= 0x01
				})
			},
			wantHeight: regs[2].height,
			failed:     []string{"commits", "replay"},
		},
		{
			name: "commit signature forged",
			tamper: func(t *testing.T, home string) {
				editBlockStore(t, home, commitKey(regs[2].height), func(v []byte) []byte {
					var c cmtproto.Commit
					if err := c.Unmarshal(v); err != nil {
						t.Fatalf("commit %d: %v", regs[2].height, err)
					}
					if c.Height != regs[2].height || len(c.Signatures) != 1 || len(c.Signatures[0].Signature) == 0 {
						t.Fatalf("commit %d: unexpected %+v", regs[2].height, c)
					}
					c.Signatures[0].Signature[0] ^= 0x01
					b, err := c.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					return b
				})
			},
			wantHeight: regs[2].height,
			failed:     []string{"commits"},
			passed:     []string{"replay", "state", "digest"},
		},
		{
			name: "block part deleted",
			tamper: func(t *testing.T, home string) {
				editBlockStore(t, home, partKey(regs[0].height, 0), func([]byte) []byte { return nil })
			},
			wantHeight: regs[0].height,
			failed:     []string{"commits", "replay"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			copyHome := filepath.Join(t.TempDir(), "home")
			copyDir(t, home, copyHome)
			tc.tamper(t, copyHome)

			rep, r := verifyHome(t, copyHome)
			if got, want := r.Code, 8; got != want {
				t.Fatalf("verify exit code = %d, want %d\n%v", got, want, r)
			}
			if rep.OK() {
				t.Errorf("report says every check passed: %+v", rep)
			}
			if tc.wantKey != "" {
				if got := rep.FirstBadKey; got != tc.wantKey {
					t.Errorf("first_bad_key = %q, want %q\nproblems: %q", got, tc.wantKey, rep.Problems)
				}
				if !strings.Contains(r.Stderr, strconv.Quote(tc.wantKey)) {
					t.Errorf("verify's error does not name key %q: %s", tc.wantKey, r.Stderr)
				}
			}
			if tc.wantHeight != 0 {
				if got := rep.FirstBadBlock; got != tc.wantHeight {
					t.Errorf("first_bad_height = %d, want %d\nproblems: %q", got, tc.wantHeight, rep.Problems)
				}
				if want := fmt.Sprintf("height %d", tc.wantHeight); !strings.Contains(r.Stderr, want) {
					t.Errorf("verify's error does not name %q: %s", want, r.Stderr)
				}
			}
			checks := reportChecks(rep)
			for _, c := range tc.failed {
				if checks[c] {
					t.Errorf("check %q passed, want it to fail: %+v", c, rep)
				}
			}
			for _, c := range tc.passed {
				if !checks[c] {
					t.Errorf("check %q failed, want it to pass: %+v", c, rep)
				}
			}
		})
	}

	// The tampering was on copies: the original still verifies.
	mustVerifyOK(t, home)
}

// reportChecks names the four checks of a verify report.
func reportChecks(r *chain.Report) map[string]bool {
	return map[string]bool{"commits": r.CommitsOK, "replay": r.ReplayOK, "state": r.StateOK, "digest": r.DigestOK}
}

// otherBase32 returns a different lowercase base32 character.
func otherBase32(c byte) byte {
	if c == 'a' {
		return 'b'
	}
	return 'a'
}

// quietPebble drops Pebble's informational logging.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)      {}
func (quietPebble) Errorf(f string, a ...any) { pebble.DefaultLogger.Errorf(f, a...) }
func (quietPebble) Fatalf(f string, a ...any) { pebble.DefaultLogger.Fatalf(f, a...) }

// editState replaces state key's value in a stopped home's application
// state (Pebble key "s/"+key holding the 8-byte height of the key's latest
// write ‖ the value, see ledger/store/layout.go) with edit's result, as a
// forger would: the height is kept (height 1 for a new entry); a nil
// result deletes the entry. edit gets nil for a missing key.
func editState(t *testing.T, home, key string, edit func(old []byte) []byte) {
	t.Helper()
	editStateDB(t, home, []byte("s/"+key), func(old []byte) []byte {
		height := binary.BigEndian.AppendUint64(nil, 1)
		var value []byte
		if old != nil {
			if len(old) < 8 {
				t.Fatalf("state entry %q of %d bytes has no height", key, len(old))
			}
			height, value = old[:8], old[8:]
		}
		nv := edit(value)
		if nv == nil {
			return nil
		}
		return append(slices.Clone(height), nv...)
	})
}

// metaKey is the Pebble key of the application state's record of block h
// (BlockMeta: ... ‖ StateDigest ‖ AppHash, see ledger/store/layout.go).
func metaKey(h int64) []byte { return binary.BigEndian.AppendUint64([]byte("m/b/"), uint64(h)) }

// editStateDB is editState on a raw Pebble key of the state database.
func editStateDB(t *testing.T, home string, k []byte, edit func(old []byte) []byte) {
	t.Helper()
	db, err := pebble.Open(chain.StateDir(home), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("open state of %s: %v", home, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	key := string(k)
	var old []byte
	v, closer, err := db.Get(k)
	switch {
	case err == nil:
		old = slices.Clone(v)
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		t.Fatalf("get %s: %v", k, err)
	}
	if nv := edit(slices.Clone(old)); nv == nil {
		if old == nil {
			t.Fatalf("state key %q does not exist", key)
		}
		err = db.Delete(k, pebble.Sync)
	} else {
		if bytes.Equal(nv, old) {
			t.Fatalf("edit of %q changed nothing", key)
		}
		err = db.Set(k, nv, pebble.Sync)
	}
	if err != nil {
		t.Fatalf("write %s: %v", k, err)
	}
}

// CometBFT's block store keys in the "v1" layout (store/db_key_layout.go).
func partKey(h int64, i int) []byte { return fmt.Appendf(nil, "P:%d:%d", h, i) }
func commitKey(h int64) []byte      { return fmt.Appendf(nil, "C:%d", h) }

// editBlockStore replaces a key's value in a stopped home's CometBFT block
// store with edit's result (nil deletes it). The key must exist.
func editBlockStore(t *testing.T, home string, key []byte, edit func(old []byte) []byte) {
	t.Helper()
	c, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if c.DBBackend != string(dbm.PebbleDBBackend) || c.Storage.ExperimentalKeyLayout != "v1" {
		t.Fatalf("block store is %s with key layout %q; this test edits pebbledb with layout v1",
			c.DBBackend, c.Storage.ExperimentalKeyLayout)
	}
	db, err := dbm.NewPebbleDBWithOpts("blockstore", c.DBDir(), &pebblev1.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatalf("open block store of %s: %v", home, err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	old, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if old == nil {
		t.Fatalf("block store has no %s", key)
	}
	if nv := edit(slices.Clone(old)); nv == nil {
		err = db.DeleteSync(key)
	} else {
		if bytes.Equal(nv, old) {
			t.Fatalf("edit of %s changed nothing", key)
		}
		err = db.SetSync(key, nv)
	}
	if err != nil {
		t.Fatalf("write %s: %v", key, err)
	}
}

// editBlock decodes the one-part block at height h in a stopped home's
// block store, lets edit change it and stores it back (the part's Merkle
// proof is left as it was).
func editBlock(t *testing.T, home string, h int64, edit func(*cmtproto.Block)) {
	t.Helper()
	editBlockStore(t, home, partKey(h, 0), func(v []byte) []byte {
		var part cmtproto.Part
		if err := part.Unmarshal(v); err != nil {
			t.Fatalf("block part %d/0: %v", h, err)
		}
		var b cmtproto.Block
		if err := b.Unmarshal(part.Bytes); err != nil {
			t.Fatalf("block %d is not in one part: %v", h, err)
		}
		if b.Header.Height != h {
			t.Fatalf("block part %d/0 holds block %d", h, b.Header.Height)
		}
		edit(&b)
		var err error
		if part.Bytes, err = b.Marshal(); err != nil {
			t.Fatal(err)
		}
		out, err := part.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}
