package index

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/internal/cctest"
	"carechain/ledger/store"
	"carechain/ledger/tx"
	"carechain/supply"
)

// actor is a test identity with a deterministic key.
type actor struct {
	pub ed25519.PublicKey
	did cc.DID
}

func newActor(name string) actor {
	pub, _ := cctest.Key("index", name)
	return actor{pub: pub, did: tx.DeriveDID(pub)}
}

var (
	gov    = newActor("gov")
	mfgLog = newActor("mfg")
	nurse  = newActor("nurse")
	t0     = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
)

// ledger is a real supply state written by supply's own capture handler
// (and, for administrations, at the documented sup/adm keys), one block
// per call.
type ledger struct {
	kv     *store.Overlay
	height int64
	time   time.Time
}

func newLedger(t testing.TB) *ledger {
	t.Helper()
	g := cc.GenesisState{
		Accounts: []cc.GenesisAccount{
			{DID: gov.did, Kind: cc.KindNode, PublicKey: gov.pub},
			{DID: mfgLog.did, Kind: cc.KindPractitioner, PublicKey: mfgLog.pub},
			{DID: nurse.did, Kind: cc.KindPractitioner, PublicKey: nurse.pub},
		},
		Governance: cc.Governance{Members: []cc.DID{gov.did}, Threshold: 1},
		Organizations: []cc.Organization{
			{ID: "mfg", Name: "Maker", Type: cc.OrgManufacturer, DID: mfgLog.did, Active: true},
			{ID: "clinic", Name: "Clinic", Type: cc.OrgClinic, DID: nurse.did, Active: true},
		},
		Members: []cc.Member{
			{Org: "mfg", DID: mfgLog.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleLogistics}},
			{Org: "clinic", DID: nurse.did, Roles: []cc.Role{cc.RoleAdmin, cc.RoleNurse}},
		},
	}
	l := &ledger{kv: cctest.NewKV(), time: t0}
	if err := identity.InitGenesis(l.kv, g); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return l
}

// next starts a new block.
func (l *ledger) next() {
	l.height++
	l.time = l.time.Add(time.Hour)
}

// txHash is a deterministic transaction hash for block h.
func txHash(h int64, n int) []byte {
	s := sha256.Sum256(fmt.Appendf(nil, "tx-%d-%d", h, n))
	return s[:]
}

// capture runs supply.capture by signer for org with events in a new
// block and fails t unless every event is accepted.
func (l *ledger) capture(t testing.TB, signer cc.DID, org string, events ...map[string]any) {
	t.Helper()
	res := l.run(t, signer, supply.TypeCapture, map[string]any{"org": org, "events": events})
	var cr supply.CaptureResult
	if err := json.Unmarshal(res.Data, &cr); err != nil || len(cr.Rejected) > 0 {
		t.Fatalf("capture at %d: %s (%v)", l.height, res.Data, err)
	}
}

// run applies a supply transaction of type typ in a new block and fails
// t if it fails.
func (l *ledger) run(t testing.TB, signer cc.DID, typ string, payload any) cc.Result {
	t.Helper()
	l.next()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cc.TxContext{ChainID: "index-test", Height: l.height, Time: l.time, Signer: signer,
		Type: typ, TxHash: txHash(l.height, 0)}
	res, err := cctest.Apply(t, supply.Handlers()[typ], ctx, l.kv, raw)
	if err != nil {
		t.Fatalf("%s at %d: %v", typ, l.height, err)
	}
	return res
}

// administer writes adms as one block's immunization log, at the keys
// supply documents (sup/adm/{height}/{tx}/{idx}).
func (l *ledger) administer(t testing.TB, adms ...supply.Administration) {
	t.Helper()
	l.next()
	h := hex.EncodeToString(txHash(l.height, 1))
	for i := range adms {
		a := adms[i]
		a.Height, a.TxHash, a.Index = l.height, h, i
		if a.Time == "" {
			a.Time = l.time.Format(time.RFC3339)
		}
		if a.Doses == 0 {
			a.Doses = 1
		}
		key := fmt.Sprintf("sup/adm/%020d/%s/%04d", l.height, h, i)
		if err := cc.SetJSON(l.kv, key, a); err != nil {
			t.Fatal(err)
		}
	}
}

// empty adds n blocks with nothing in them.
func (l *ledger) empty(n int) {
	for range n {
		l.next()
	}
}

// openDB opens a fresh index in a temporary directory.
func openDB(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	d, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, path
}

// mustBatch returns a write batch in a transaction on a fresh index,
// rolled back and closed when the test ends.
func mustBatch(t testing.TB) *batch {
	t.Helper()
	d, _ := openDB(t)
	ctx := context.Background()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	b := newBatch(ctx, tx)
	t.Cleanup(b.close)
	return b
}

func mustSync(t testing.TB, d *DB, l *ledger) {
	t.Helper()
	if err := d.Sync(context.Background(), l.kv, l.height, nil); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// did returns a deterministic valid DID for a test person.
func did(name string) cc.DID {
	s := sha256.Sum256([]byte(name))
	const b32 = "abcdefghijklmnopqrstuvwxyz234567"
	var b strings.Builder
	b.WriteString(cc.DIDPrefix)
	for i := range 32 {
		b.WriteByte(b32[s[i]%32])
	}
	return cc.DID(b.String())
}

// dump renders every table of d (chain-derived and register) in a stable
// order, without the events' row ids, for equality checks.
func dump(t testing.TB, d *DB) string {
	t.Helper()
	queries := []string{
		"SELECT key, value FROM meta ORDER BY key",
		"SELECT height, tx, idx, type, action, time_ns, biz_step, disposition, read_point, biz_location, org, lot, body FROM events ORDER BY height, tx, idx",
		"SELECT x.epc, e.height, e.tx, e.idx FROM event_epcs x JOIN events e ON e.id = x.ev ORDER BY 1, 2, 3, 4",
		"SELECT epc, lot FROM epc_lot ORDER BY 1",
		"SELECT parent, child FROM packing ORDER BY 1, 2",
		"SELECT org, kind, n FROM org_counts WHERE n != 0 ORDER BY 1, 2",
		"SELECT * FROM administrations ORDER BY height, tx, idx",
		"SELECT patient, vaccine, n FROM dose_counts ORDER BY 1, 2",
		"SELECT * FROM vaccine_stats ORDER BY 1",
		"SELECT * FROM cov_agg WHERE n != 0 ORDER BY 1, 2, 3, 4, 5, 6",
		"SELECT * FROM people ORDER BY 1",
		"SELECT * FROM pop_agg WHERE n != 0 ORDER BY 1, 2, 3, 4",
	}
	var b strings.Builder
	for _, q := range queries {
		fmt.Fprintf(&b, "== %s\n", q)
		rows, err := d.sql.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					vals[i] = string(bs)
				}
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}
