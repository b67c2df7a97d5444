package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	cc "carechain"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver (pure Go)
)

// DB is an open read model. Its methods are safe for concurrent use:
// writers (Sync, Rebuild, UpsertPeople, LoadAreas) are serialized, and
// readers see a consistent snapshot (SQLite WAL) while a writer works.
type DB struct {
	sql *sql.DB
	mu  sync.Mutex // serializes writers

	// batch is the number of heights Sync writes per transaction.
	batch int64
	// failAt, when non-zero, makes Sync fail (and roll back) while it
	// writes height failAt: a test hook that simulates a crash.
	failAt int64
}

// DefaultBatch is the number of heights Sync writes per SQLite transaction.
const DefaultBatch = 500

// migrations are the schema versions in order; migrations[i] brings the
// schema from version i to i+1 (PRAGMA user_version). Append only.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;

CREATE TABLE events(
	id INTEGER PRIMARY KEY,
	height INTEGER NOT NULL, tx TEXT NOT NULL, idx INTEGER NOT NULL,
	type TEXT NOT NULL, action TEXT NOT NULL, time_ns INTEGER NOT NULL,
	biz_step TEXT NOT NULL, disposition TEXT NOT NULL,
	read_point TEXT NOT NULL, biz_location TEXT NOT NULL,
	org TEXT NOT NULL, lot TEXT NOT NULL, body BLOB NOT NULL,
	UNIQUE(height, tx, idx));
CREATE INDEX events_biz_step ON events(biz_step);
CREATE INDEX events_disposition ON events(disposition);
CREATE INDEX events_org ON events(org);
CREATE INDEX events_lot ON events(lot);
CREATE INDEX events_read_point ON events(read_point);
CREATE INDEX events_biz_location ON events(biz_location);
CREATE INDEX events_time ON events(time_ns);
CREATE TABLE event_epcs(epc TEXT NOT NULL, ev INTEGER NOT NULL, PRIMARY KEY(epc, ev)) WITHOUT ROWID;
CREATE TABLE epc_lot(epc TEXT PRIMARY KEY, lot TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX epc_lot_lot ON epc_lot(lot);
CREATE TABLE packing(parent TEXT NOT NULL, child TEXT NOT NULL, PRIMARY KEY(parent, child)) WITHOUT ROWID;
CREATE INDEX packing_child ON packing(child);
CREATE TABLE org_counts(org TEXT NOT NULL, kind TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(org, kind)) WITHOUT ROWID;

CREATE TABLE administrations(
	height INTEGER NOT NULL, tx TEXT NOT NULL, idx INTEGER NOT NULL,
	record_id TEXT NOT NULL, patient TEXT NOT NULL, org TEXT NOT NULL,
	lot TEXT NOT NULL, epc TEXT NOT NULL, gtin TEXT NOT NULL, vaccine TEXT NOT NULL,
	year INTEGER NOT NULL, doses INTEGER NOT NULL, linked INTEGER NOT NULL,
	time_ns INTEGER NOT NULL, counted INTEGER NOT NULL,
	PRIMARY KEY(height, tx, idx)) WITHOUT ROWID;
CREATE INDEX adm_record ON administrations(record_id);
CREATE INDEX adm_org_time ON administrations(org, time_ns);
CREATE TABLE dose_counts(patient TEXT NOT NULL, vaccine TEXT NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY(patient, vaccine)) WITHOUT ROWID;
CREATE TABLE vaccine_stats(vaccine TEXT PRIMARY KEY, linked INTEGER NOT NULL, unlinked INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE cov_agg(vaccine TEXT NOT NULL, doses INTEGER NOT NULL, reg INTEGER NOT NULL,
	birth_year INTEGER NOT NULL, sex TEXT NOT NULL, area TEXT NOT NULL, n INTEGER NOT NULL,
	PRIMARY KEY(vaccine, doses, reg, birth_year, sex, area)) WITHOUT ROWID;

CREATE TABLE people(did TEXT PRIMARY KEY, birth_year INTEGER NOT NULL, sex TEXT NOT NULL, area TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE pop_agg(reg INTEGER NOT NULL, birth_year INTEGER NOT NULL, sex TEXT NOT NULL, area TEXT NOT NULL,
	n INTEGER NOT NULL, PRIMARY KEY(reg, birth_year, sex, area)) WITHOUT ROWID;
CREATE TABLE areas(code TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, quintile INTEGER NOT NULL) WITHOUT ROWID;
`,
	// 2: the occurrence date of the administrations this node's custodians
	// ingested (node-local like the register; see trend.go).
	`
CREATE TABLE occurrences(record_id TEXT PRIMARY KEY, day TEXT NOT NULL) WITHOUT ROWID;
`,
}

// chainTables are the tables derived from the chain, emptied by Rebuild.
// The population register (people, pop_agg rows with reg = 1) and the
// area table are node-local inputs and survive a rebuild.
var chainTables = []string{
	"events", "event_epcs", "epc_lot", "packing", "org_counts",
	"administrations", "dose_counts", "vaccine_stats", "cov_agg",
}

// Open opens (creating if needed) the read model in the SQLite file at
// path, in WAL mode with a 64 MiB page cache per connection (the
// default 2 MiB spilled dirty pages to the WAL in the middle of a block's
// batch: BenchmarkSyncEvents −10–15 %), and migrates its schema to the current version. A new
// database gets 16 KiB pages (see pageSize) and starts at height 0 with the
// embedded area table (areas.csv).
func Open(path string) (*DB, error) {
	const op = "index.open"
	if path == "" {
		return nil, cc.Errorf(op, cc.Invalid, "a database path is required")
	}
	file := "file:" + (&url.URL{Path: path}).EscapedPath()
	if err := initPageSize(file); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	dsn := file + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-65536)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	sdb.SetMaxOpenConns(4)
	d := &DB{sql: sdb, batch: DefaultBatch}
	if err := d.migrate(); err != nil {
		sdb.Close()
		return nil, cc.E(op, cc.Internal, err)
	}
	return d, nil
}

// pageSize is the page size of a new read model. SQLite writes a
// transaction's dirty pages to the WAL one frame (and system call) per
// page, and copies them to the database at checkpoints: a block's rows and
// index entries in 16 KiB pages take a quarter of the frames of 4 KiB ones.
const pageSize = 16384

// initPageSize gives a new (empty or absent) database file pageSize pages.
// The page size is fixed when the file's first page is written — by the
// first table, or by switching to WAL, which Open's connections do first
// (modernc applies _pragma options in lexical order) — so it is set here,
// on a connection of its own, before them. An existing file keeps its size.
func initPageSize(file string) error {
	db, err := sql.Open("sqlite", file)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var tables int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return err
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if tables > 0 || mode == "wal" {
		return nil
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return err
	}
	_, err = db.Exec("PRAGMA journal_mode = WAL")
	return err
}

// Close closes the database.
func (d *DB) Close() error {
	if err := d.sql.Close(); err != nil {
		return cc.E("index.close", cc.Internal, err)
	}
	return nil
}

// migrate applies the migrations the file has not seen, each in its own
// transaction together with the new user_version.
func (d *DB) migrate() error {
	ctx := context.Background()
	d.mu.Lock()
	defer d.mu.Unlock()
	var v int
	if err := d.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := d.sql.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if v == 0 {
			if err := replaceAreas(ctx, tx, defaultAreas()); err != nil {
				tx.Rollback()
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Height returns the last height whose blocks are indexed (0 when none).
func (d *DB) Height() (int64, error) {
	h, err := getMeta(context.Background(), d.sql, metaHeight)
	if err != nil {
		return 0, cc.E("index.height", cc.Internal, err)
	}
	return h, nil
}

// metaHeight is the meta key of the last indexed height.
const metaHeight = "height"

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// getMeta reads an integer from meta (0 when absent).
func getMeta(ctx context.Context, q querier, key string) (int64, error) {
	var v int64
	err := q.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// setMeta writes an integer to meta.
func setMeta(ctx context.Context, q querier, key string, v int64) error {
	_, err := q.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, v)
	return err
}
