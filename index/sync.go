package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	cc "carechain"
	"carechain/supply"
)

// Sync indexes the committed blocks after the last indexed height up to
// latest, reading each height's supply events (supply.EventsAt) and
// administrations (supply.AdministrationsAt) from kv, which must be the
// committed state at latest or later. It writes one SQLite transaction
// per batch of heights and records the batch's last height in the same
// transaction, so a crash or a cancelled ctx leaves the index at a batch
// boundary from which the next Sync continues; syncing again to the same
// height does nothing. progress, if not nil, is called after each batch
// with the heights done and the heights to do in this call.
//
// An index ahead of latest (a chain reset under it) is
// cc.FailedPrecondition: Rebuild it.
func (d *DB) Sync(ctx context.Context, kv cc.Reader, latest int64, progress func(done, total int64)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sync(ctx, kv, latest, progress)
}

// Rebuild empties every chain-derived table (events, administrations and
// their aggregates; the population register and the area table stay) and
// syncs again from height 1 to latest.
func (d *DB) Rebuild(ctx context.Context, kv cc.Reader, latest int64, progress func(done, total int64)) error {
	const op = "index.rebuild"
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	for _, t := range chainTables {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM pop_agg WHERE reg = 0"); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := setMeta(ctx, tx, metaHeight, 0); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := tx.Commit(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return d.sync(ctx, kv, latest, progress)
}

func (d *DB) sync(ctx context.Context, kv cc.Reader, latest int64, progress func(done, total int64)) error {
	const op = "index.sync"
	last, err := getMeta(ctx, d.sql, metaHeight)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if last > latest {
		return cc.Errorf(op, cc.FailedPrecondition, "the index is at height %d, past the chain's %d: rebuild it", last, latest)
	}
	start, total := last, latest-last
	for last < latest {
		if err := ctx.Err(); err != nil {
			return cc.E(op, cc.Unavailable, err)
		}
		end := min(last+d.batch, latest)
		if err := d.syncBatch(ctx, kv, last+1, end); err != nil {
			return err
		}
		last = end
		if progress != nil {
			progress(last-start, total)
		}
	}
	return nil
}

// syncBatch indexes heights from..to in one transaction.
func (d *DB) syncBatch(ctx context.Context, kv cc.Reader, from, to int64) error {
	const op = "index.sync"
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	b := newBatch(ctx, tx)
	defer b.close()
	if err := b.startFastEvents(ctx, from, to); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	for h := from; h <= to; h++ {
		evs, err := supply.EventsAt(kv, h)
		if err != nil {
			return err
		}
		adms, err := supply.AdministrationsAt(kv, h)
		if err != nil {
			return err
		}
		for i := range evs {
			if err := b.addEvent(&evs[i]); err != nil {
				return cc.E(op, cc.Internal, err)
			}
		}
		for i := range adms {
			if err := b.addAdministration(&adms[i]); err != nil {
				return cc.E(op, cc.Internal, err)
			}
		}
		if d.failAt != 0 && h == d.failAt {
			return cc.Errorf(op, cc.Internal, "simulated crash at height %d", h)
		}
	}
	if err := b.flush(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := setMeta(ctx, tx, metaHeight, to); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := tx.Commit(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// cell is a population cell: registered or not, birth year (0 unknown),
// sex and normalized area key.
type cell struct {
	reg       int // 1 in the register, 0 a patient known only from administrations
	birthYear int
	sex       string
	area      string
}

// unregistered is the cell of a patient not in the register.
var unregistered = cell{reg: 0, sex: SexUnknown}

// pv is a (patient, vaccine) pair.
type pv struct {
	patient cc.DID
	vaccine string
}

// covKey is a cov_agg row key.
type covKey struct {
	vaccine string
	doses   int
	cell
}

// batch accumulates the writes of one transaction. Events are written as
// they come; administrations update per-patient dose counts and the
// aggregates in memory, written by flush.
type batch struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt

	doses    map[pv]int        // current dose count, loaded lazily
	dirty    map[pv]bool       // dose counts to write
	cells    map[cc.DID]cell   // the patient's population cell, loaded lazily
	known    map[cc.DID]bool   // the patient has some dose count
	records  map[string]bool   // record ids counted in this batch
	covDelta map[covKey]int    // cov_agg changes
	popDelta map[cell]int      // pop_agg changes
	vacDelta map[string][2]int // vaccine_stats changes: linked, unlinked
	orgDelta map[[2]string]int // org_counts changes: (org, kind)

	rows   *eventRows // fast event indexing (startFastEvents), nil when off
	lastID int64      // the last event id assigned, with rows
}

func newBatch(ctx context.Context, tx *sql.Tx) *batch {
	return &batch{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{},
		doses: map[pv]int{}, dirty: map[pv]bool{}, cells: map[cc.DID]cell{},
		known: map[cc.DID]bool{}, records: map[string]bool{},
		covDelta: map[covKey]int{}, popDelta: map[cell]int{},
		vacDelta: map[string][2]int{}, orgDelta: map[[2]string]int{}}
}

// stmt returns the prepared statement for query, preparing it once.
func (b *batch) stmt(query string) (*sql.Stmt, error) {
	if s, ok := b.stmts[query]; ok {
		return s, nil
	}
	s, err := b.tx.PrepareContext(b.ctx, query)
	if err != nil {
		return nil, err
	}
	b.stmts[query] = s
	return s, nil
}

func (b *batch) exec(query string, args ...any) error {
	s, err := b.stmt(query)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(b.ctx, args...)
	return err
}

func (b *batch) close() {
	for _, s := range b.stmts {
		s.Close()
	}
}

// cellOf returns the population cell of patient.
func (b *batch) cellOf(patient cc.DID) (cell, error) {
	if c, ok := b.cells[patient]; ok {
		return c, nil
	}
	s, err := b.stmt("SELECT birth_year, sex, area FROM people WHERE did = ?")
	if err != nil {
		return cell{}, err
	}
	c := cell{reg: 1}
	err = s.QueryRowContext(b.ctx, string(patient)).Scan(&c.birthYear, &c.sex, &c.area)
	if err == sql.ErrNoRows {
		c, err = unregistered, nil
	}
	if err != nil {
		return cell{}, err
	}
	b.cells[patient] = c
	return c, nil
}

// isKnown reports whether patient has a dose count of any vaccine.
func (b *batch) isKnown(patient cc.DID) (bool, error) {
	if k, ok := b.known[patient]; ok {
		return k, nil
	}
	s, err := b.stmt("SELECT 1 FROM dose_counts WHERE patient = ? LIMIT 1")
	if err != nil {
		return false, err
	}
	var one int
	err = s.QueryRowContext(b.ctx, string(patient)).Scan(&one)
	if err != nil && err != sql.ErrNoRows {
		return false, err
	}
	b.known[patient] = err == nil
	return err == nil, nil
}

// counted reports whether an administration of recordID was already
// counted towards a dose count.
func (b *batch) counted(recordID string) (bool, error) {
	if recordID == "" {
		return false, nil
	}
	if b.records[recordID] {
		return true, nil
	}
	s, err := b.stmt("SELECT 1 FROM administrations WHERE record_id = ? AND counted = 1 LIMIT 1")
	if err != nil {
		return false, err
	}
	var one int
	err = s.QueryRowContext(b.ctx, recordID).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

// addAdministration indexes a. An administration counts as a dose of its
// vaccine unless it has no vaccine code or its record id was counted
// before (a re-recorded Immunization).
func (b *batch) addAdministration(a *supply.Administration) error {
	dup, err := b.counted(a.RecordID)
	if err != nil {
		return err
	}
	count := a.Vaccine != "" && !dup
	if err := b.exec(`INSERT INTO administrations(height, tx, idx, record_id, patient, org, lot, epc, gtin,
		vaccine, year, doses, linked, time_ns, counted) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT DO NOTHING`,
		a.Height, a.TxHash, a.Index, a.RecordID, string(a.Patient), a.Org, a.Lot, a.EPC, a.GTIN,
		a.Vaccine, a.Year, a.Doses, boolInt(a.Linked), timeNS(a.Time), boolInt(count)); err != nil {
		return err
	}
	if !count {
		return nil
	}
	b.records[a.RecordID] = true
	vs := b.vacDelta[a.Vaccine]
	if a.Linked {
		vs[0]++
	} else {
		vs[1]++
	}
	b.vacDelta[a.Vaccine] = vs
	return b.addDose(a.Patient, a.Vaccine)
}

// addDose counts one more dose of vaccine for patient in the aggregates.
func (b *batch) addDose(patient cc.DID, vaccine string) error {
	k := pv{patient, vaccine}
	n, ok := b.doses[k]
	if !ok {
		s, err := b.stmt("SELECT n FROM dose_counts WHERE patient = ? AND vaccine = ?")
		if err != nil {
			return err
		}
		if err := s.QueryRowContext(b.ctx, string(patient), vaccine).Scan(&n); err != nil && err != sql.ErrNoRows {
			return err
		}
	}
	c, err := b.cellOf(patient)
	if err != nil {
		return err
	}
	known, err := b.isKnown(patient)
	if err != nil {
		return err
	}
	if !known {
		b.known[patient] = true
		if c.reg == 0 {
			b.popDelta[c]++ // a patient seen only on the chain joins the population
		}
	}
	if n > 0 {
		b.covDelta[covKey{vaccine, n, c}]--
	}
	b.covDelta[covKey{vaccine, n + 1, c}]++
	b.doses[k] = n + 1
	b.dirty[k] = true
	return nil
}

// flush writes the buffered event rows, the accumulated dose counts and
// aggregate changes.
func (b *batch) flush() error {
	if err := b.flushRows(); err != nil {
		return err
	}
	for k := range b.dirty {
		if err := b.exec(`INSERT INTO dose_counts(patient, vaccine, n) VALUES(?,?,?)
			ON CONFLICT(patient, vaccine) DO UPDATE SET n = excluded.n`, string(k.patient), k.vaccine, b.doses[k]); err != nil {
			return err
		}
	}
	for k, n := range b.covDelta {
		if n == 0 {
			continue
		}
		if err := b.exec(`INSERT INTO cov_agg(vaccine, doses, reg, birth_year, sex, area, n) VALUES(?,?,?,?,?,?,?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, k.vaccine, k.doses, k.reg, k.birthYear, k.sex, k.area, n); err != nil {
			return err
		}
	}
	if err := flushPop(b, b.popDelta); err != nil {
		return err
	}
	for v, n := range b.vacDelta {
		if err := b.exec(`INSERT INTO vaccine_stats(vaccine, linked, unlinked) VALUES(?,?,?)
			ON CONFLICT DO UPDATE SET linked = linked + excluded.linked, unlinked = unlinked + excluded.unlinked`, v, n[0], n[1]); err != nil {
			return err
		}
	}
	for k, n := range b.orgDelta {
		if err := b.exec(`INSERT INTO org_counts(org, kind, n) VALUES(?,?,?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, k[0], k[1], n); err != nil {
			return err
		}
	}
	clear(b.dirty)
	clear(b.covDelta)
	clear(b.popDelta)
	clear(b.vacDelta)
	clear(b.orgDelta)
	return nil
}

// flushPop applies population cell changes.
func flushPop(b *batch, delta map[cell]int) error {
	for c, n := range delta {
		if n == 0 {
			continue
		}
		if err := b.exec(`INSERT INTO pop_agg(reg, birth_year, sex, area, n) VALUES(?,?,?,?,?)
			ON CONFLICT DO UPDATE SET n = n + excluded.n`, c.reg, c.birthYear, c.sex, c.area, n); err != nil {
			return err
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cbvWord reduces a CBV business step or disposition to its bare word:
// "urn:epcglobal:cbv:bizstep:shipping" and
// "https://ref.gs1.org/cbv/BizStep-shipping" become "shipping"; other URIs
// and bare words are kept.
func cbvWord(s string) string {
	for _, p := range []string{"urn:epcglobal:cbv:bizstep:", "urn:epcglobal:cbv:disp:",
		"https://ref.gs1.org/cbv/BizStep-", "https://ref.gs1.org/cbv/Disp-",
		"https://gs1.org/voc/BizStep-", "https://gs1.org/voc/Disp-"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest
		}
	}
	return s
}

// eventPos is the ledger position of an event or administration.
func eventPos(h int64, tx string, idx int) string { return fmt.Sprintf("%d/%s/%d", h, tx, idx) }
