package index

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// pragmas returns d's page size and journal mode.
func pragmas(t *testing.T, db *sql.DB) (int, string) {
	t.Helper()
	var size int
	var mode string
	if err := db.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	return size, mode
}

// TestOpenPageSize: a new read model gets pageSize pages in WAL mode; one
// written before with SQLite's default 4 KiB pages opens, keeps them, and
// migrates.
func TestOpenPageSize(t *testing.T) {
	d, _ := openDB(t)
	if size, mode := pragmas(t, d.sql); size != pageSize || mode != "wal" {
		t.Errorf("new read model: page_size %d, journal_mode %s; want %d, wal", size, mode, pageSize)
	}

	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(migrations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec("PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	old.Close()
	d2, err := Open(path)
	if err != nil {
		t.Fatalf("Open of a 4 KiB-page read model: %v", err)
	}
	defer d2.Close()
	if size, mode := pragmas(t, d2.sql); size != 4096 || mode != "wal" {
		t.Errorf("existing read model: page_size %d, journal_mode %s; want 4096, wal", size, mode)
	}
	var v int
	if err := d2.sql.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("user_version = %d (%v), want %d", v, err, len(migrations))
	}
	if h, err := d2.Height(); err != nil || h != 0 {
		t.Errorf("Height = %d, %v; want 0", h, err)
	}
}
