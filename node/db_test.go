package node

import (
	"testing"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/store"
)

// TestStopSafeDB: a CometBFT goroutine that outlives Stop and reads the
// closed block store gets "nothing" instead of crashing the process, which
// is what an unwrapped Pebble store does.
func TestStopSafeDB(t *testing.T) {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(t.TempDir())
	var tracked []dbm.DB
	open := dbProvider(nil, func(db dbm.DB) { tracked = append(tracked, db) })

	db, err := open(&cmtcfg.DBContext{ID: "safe", Config: c})
	if err != nil {
		t.Fatal(err)
	}
	bs := store.NewBlockStore(db)
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if len(tracked) != 1 || bs.LoadSeenCommit(7) != nil || bs.LoadBlockMeta(7) != nil {
		t.Fatal("closed store should read as empty")
	}
	if err := db.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatalf("write after close: %v", err)
	}
	b := db.NewBatch()
	_ = b.Set([]byte("k"), []byte("v"))
	if err := b.WriteSync(); err != nil {
		t.Fatalf("batch after close: %v", err)
	}
	_ = b.Close()
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	raw, err := dbProvider(nil, nil)(&cmtcfg.DBContext{ID: "raw", Config: c})
	if err != nil {
		t.Fatal(err)
	}
	rbs := store.NewBlockStore(raw)
	_ = rbs.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("an unwrapped closed Pebble store no longer panics; stopSafeDB may be unneeded")
		}
	}()
	rbs.LoadSeenCommit(7)
}
