package index

import (
	"context"
	"strings"
)

// rowBuf collects the rows of one multi-row INSERT: Sync writes events,
// event_epcs and epc_lot rows (tables nothing reads while a batch is
// written) in statements of up to max rows instead of one statement per
// row, which is what most of the read model's time went to.
type rowBuf struct {
	head, tail string // "INSERT … VALUES" and what follows the rows
	cols, max  int
	args       []any
	rows       int
}

// add appends one row of b.cols values and writes the rows once there are
// max of them.
func (b *batch) add(r *rowBuf, vals ...any) error {
	r.args = append(r.args, vals...)
	if r.rows++; r.rows == r.max {
		return b.writeRows(r)
	}
	return nil
}

// writeRows writes the buffered rows of r in one statement, prepared once
// per batch for each row count.
func (b *batch) writeRows(r *rowBuf) error {
	if r.rows == 0 {
		return nil
	}
	row := "(?" + strings.Repeat(",?", r.cols-1) + ")"
	var q strings.Builder
	q.Grow(len(r.head) + r.rows*(len(row)+1) + len(r.tail) + 1)
	q.WriteString(r.head)
	for i := range r.rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(row)
	}
	q.WriteString(" ")
	q.WriteString(r.tail)
	err := b.exec(q.String(), r.args...)
	clear(r.args)
	r.args, r.rows = r.args[:0], 0
	return err
}

// fastEvents turns startFastEvents on; tests turn it off to compare with
// the one-row path.
var fastEvents = true

// eventRows are the row buffers of fast event indexing (see
// batch.fastEvents), written in this order by flush.
type eventRows struct {
	events, epcs, lots rowBuf
}

func newEventRows() *eventRows {
	return &eventRows{
		events: rowBuf{head: `INSERT INTO events(id, height, tx, idx, type, action, time_ns, biz_step, disposition,
		read_point, biz_location, org, lot, body) VALUES`, cols: 14, max: 64},
		epcs: rowBuf{head: "INSERT OR IGNORE INTO event_epcs(epc, ev) VALUES", cols: 2, max: 256},
		lots: rowBuf{head: "INSERT OR REPLACE INTO epc_lot(epc, lot) VALUES", cols: 2, max: 256},
	}
}

// startFastEvents turns fast event indexing on for a batch of heights
// from..to when no event of those heights is indexed yet (else a row could
// conflict, and the one-row path that skips indexed events is kept):
// event ids are then assigned here, from the largest id + 1, in order.
func (b *batch) startFastEvents(ctx context.Context, from, to int64) error {
	if !fastEvents {
		return nil
	}
	var indexed bool
	if err := b.tx.QueryRowContext(ctx, "SELECT EXISTS(SELECT 1 FROM events WHERE height BETWEEN ? AND ?)", from, to).Scan(&indexed); err != nil {
		return err
	}
	if indexed {
		return nil
	}
	if err := b.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM events").Scan(&b.lastID); err != nil {
		return err
	}
	b.rows = newEventRows()
	return nil
}

// flushRows writes the buffered event rows.
func (b *batch) flushRows() error {
	if b.rows == nil {
		return nil
	}
	for _, r := range []*rowBuf{&b.rows.events, &b.rows.epcs, &b.rows.lots} {
		if err := b.writeRows(r); err != nil {
			return err
		}
	}
	return nil
}
