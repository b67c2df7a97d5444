package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble"
	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// dbProvider opens CometBFT's databases like cmtcfg.DefaultDBProvider, but
// gives Pebble (the default db_backend) larger memtables and a logger that sends its
// informational chatter ("WAL file … replayed …" on every reopen) to l at
// debug level instead of the process's standard logger. With track set (a
// running node), every database is wrapped in a stopSafeDB and passed to
// track.
func dbProvider(l *slog.Logger, track func(dbm.DB)) cmtcfg.DBProvider {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return func(dc *cmtcfg.DBContext) (dbm.DB, error) {
		var db dbm.DB
		var err error
		if dbm.BackendType(dc.Config.DBBackend) == dbm.PebbleDBBackend {
			opts := &pebble.Options{
				Logger: pebbleLogger{l.With("module", "pebble", "db", dc.ID)},
				// Blocks of thousands of transactions (megabytes each)
				// filled Pebble's 4 MB default memtable every block or
				// two: many small tables, compacted again and again.
				MemTableSize: cometMemTableSize,
			}
			db, err = dbm.NewPebbleDBWithOpts(dc.ID, dc.Config.DBDir(), opts)
		} else {
			db, err = cmtcfg.DefaultDBProvider(dc)
		}
		if err == nil && track != nil {
			db = &stopSafeDB{DB: db}
			track(db)
		}
		return db, err
	}
}

// cometMemTableSize is the memtable size of CometBFT's Pebble databases.
const cometMemTableSize = 32 << 20

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, args...))
	}
}

// Fatalf keeps Pebble's behaviour for unrecoverable store corruption: log
// and exit the process.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	pebble.DefaultLogger.Fatalf(format, args...)
}

// errDBClosed is what a closed stopSafeDB returns where it cannot pretend.
var errDBClosed = errors.New("database closed: the node has stopped")

// stopSafeDB wraps a database of a running node so that CometBFT goroutines
// that outlive Node.Stop do not crash the process. CometBFT closes its
// stores in OnStop while some per-peer goroutines may still wake up and use
// them — the consensus reactor's queryMaj23Routine sleeps up to seconds and
// then loads a commit (vegaprotocol/vega#6680, cometbft/cometbft#1878) —
// and the block store panics on any database error ("pebble: closed").
// Once closed, reads find nothing and writes are dropped, which is what a
// stopped node persists anyway; Close waits for operations in flight.
type stopSafeDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

func (d *stopSafeDB) do(fn func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil
	}
	return fn()
}

func (d *stopSafeDB) Get(k []byte) (v []byte, err error) {
	err = d.do(func() (e error) { v, e = d.DB.Get(k); return e })
	return v, err
}

func (d *stopSafeDB) Has(k []byte) (ok bool, err error) {
	err = d.do(func() (e error) { ok, e = d.DB.Has(k); return e })
	return ok, err
}

func (d *stopSafeDB) Set(k, v []byte) error { return d.do(func() error { return d.DB.Set(k, v) }) }
func (d *stopSafeDB) SetSync(k, v []byte) error {
	return d.do(func() error { return d.DB.SetSync(k, v) })
}
func (d *stopSafeDB) Delete(k []byte) error { return d.do(func() error { return d.DB.Delete(k) }) }
func (d *stopSafeDB) DeleteSync(k []byte) error {
	return d.do(func() error { return d.DB.DeleteSync(k) })
}

func (d *stopSafeDB) Compact(start, end []byte) error {
	return d.do(func() error { return d.DB.Compact(start, end) })
}

func (d *stopSafeDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	return d.iter(func() (dbm.Iterator, error) { return d.DB.Iterator(start, end) })
}

func (d *stopSafeDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	return d.iter(func() (dbm.Iterator, error) { return d.DB.ReverseIterator(start, end) })
}

func (d *stopSafeDB) iter(open func() (dbm.Iterator, error)) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, errDBClosed
	}
	return open()
}

func (d *stopSafeDB) NewBatch() dbm.Batch { return &stopSafeBatch{Batch: d.DB.NewBatch(), db: d} }

func (d *stopSafeDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}

// stopSafeBatch drops its write once its database is closed.
type stopSafeBatch struct {
	dbm.Batch
	db *stopSafeDB
}

func (b *stopSafeBatch) Write() error     { return b.db.do(b.Batch.Write) }
func (b *stopSafeBatch) WriteSync() error { return b.db.do(b.Batch.WriteSync) }
