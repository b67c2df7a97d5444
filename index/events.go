package index

import (
	"context"
	"database/sql"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/supply"
)

// Page sizes of QueryEvents.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// EventQuery selects supply events, in the style of the EPCIS 2.0 REST
// query interface. Every non-empty field must match (AND); an empty
// query selects every event.
type EventQuery struct {
	// EPC matches an event that lists it in epcs or child_epcs or as
	// parent_id.
	EPC string
	// Lot matches an event that carries the lot (ilmd lotNumber) or lists
	// an EPC that was commissioned with it.
	Lot string
	// BizStep and Disposition match the bare CBV word ("shipping");
	// CBV URIs are reduced to their word on both sides.
	BizStep     string
	Disposition string
	// ReadPoint and BizLocation match those fields; Location matches
	// either.
	ReadPoint   string
	BizLocation string
	Location    string
	// Org is the capturing organization.
	Org string
	// Type is the EPCIS event type ("ObjectEvent", …).
	Type string
	// TimeGE and TimeLT bound the event time: TimeGE <= event_time <
	// TimeLT, RFC 3339.
	TimeGE string
	TimeLT string
	// Limit is the page size: DefaultPageSize when 0, at most
	// MaxPageSize.
	Limit int
	// Token continues a query from the EventPage.Next of the page before;
	// the other fields must be the same.
	Token string
}

// EventPage is one page of a QueryEvents answer, in ledger order
// (height, transaction, index). Next is the opaque token of the next page,
// "" on the last page.
type EventPage struct {
	Events []supply.StoredEvent `json:"events"`
	Next   string               `json:"next,omitempty"`
}

// QueryEvents returns the first page of events that match q after
// q.Token. A bad time, page size or token is cc.Invalid.
func (d *DB) QueryEvents(q EventQuery) (EventPage, error) {
	const op = "index.events"
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return EventPage{}, cc.Errorf(op, cc.Invalid, "page size must be 1 to %d", MaxPageSize)
	}
	var conds []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = ?")
			args = append(args, v)
		}
	}
	if q.EPC != "" {
		conds = append(conds, "id IN (SELECT ev FROM event_epcs WHERE epc = ?)")
		args = append(args, q.EPC)
	}
	if q.Lot != "" {
		conds = append(conds, "(lot = ? OR id IN (SELECT ev FROM event_epcs JOIN epc_lot USING(epc) WHERE epc_lot.lot = ?))")
		args = append(args, q.Lot, q.Lot)
	}
	if q.BizStep != "" {
		eq("biz_step", cbvWord(q.BizStep))
	}
	if q.Disposition != "" {
		eq("disposition", cbvWord(q.Disposition))
	}
	eq("read_point", q.ReadPoint)
	eq("biz_location", q.BizLocation)
	if q.Location != "" {
		conds = append(conds, "(read_point = ? OR biz_location = ?)")
		args = append(args, q.Location, q.Location)
	}
	eq("org", q.Org)
	eq("type", q.Type)
	for _, b := range []struct {
		name, v, cmp string
	}{{"time GE", q.TimeGE, ">="}, {"time LT", q.TimeLT, "<"}} {
		if b.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.v)
		if err != nil {
			return EventPage{}, cc.Errorf(op, cc.Invalid, "%s %q must be an RFC 3339 time", b.name, cc.Echo(b.v))
		}
		conds = append(conds, "time_ns "+b.cmp+" ?")
		args = append(args, t.UnixNano())
	}
	if q.Token != "" {
		h, tx, idx, ok := decodeToken(q.Token)
		if !ok {
			return EventPage{}, cc.Errorf(op, cc.Invalid, "bad page token")
		}
		conds = append(conds, "(height, tx, idx) > (?, ?, ?)")
		args = append(args, h, tx, idx)
	}
	query := "SELECT height, tx, idx, body FROM events"
	if len(conds) > 0 {
		query += " WHERE " + strings.Join(conds, " AND ")
	}
	query += " ORDER BY height, tx, idx LIMIT ?"
	args = append(args, limit+1)
	rows, err := d.sql.QueryContext(context.Background(), query, args...)
	if err != nil {
		return EventPage{}, cc.E(op, cc.Internal, err)
	}
	defer rows.Close()
	page := EventPage{Events: []supply.StoredEvent{}}
	for rows.Next() {
		var (
			height int64
			tx     string
			idx    int
			body   []byte
		)
		if err := rows.Scan(&height, &tx, &idx, &body); err != nil {
			return EventPage{}, cc.E(op, cc.Internal, err)
		}
		if len(page.Events) == limit {
			last := page.Events[limit-1]
			page.Next = encodeToken(last.Height, last.TxHash, last.Index)
			break
		}
		var e supply.StoredEvent
		if err := supply.DecodeEvent(height, tx, idx, body, &e); err != nil {
			return EventPage{}, cc.E(op, cc.Internal, err)
		}
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return EventPage{}, cc.E(op, cc.Internal, err)
	}
	return page, nil
}

// encodeToken makes the page token that continues after the event at
// (height, tx, idx).
func encodeToken(height int64, tx string, idx int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(eventPos(height, tx, idx)))
}

// decodeToken reverses encodeToken.
func decodeToken(tok string) (int64, string, int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", 0, false
	}
	parts := strings.Split(string(b), "/")
	if len(parts) != 3 {
		return 0, "", 0, false
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	idx, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || h < 1 || idx < 0 {
		return 0, "", 0, false
	}
	return h, parts[1], idx, true
}

// timeNS parses an RFC 3339 time to Unix nanoseconds, 0 when it does not
// parse (the ledger only keeps valid times).
func timeNS(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0
	}
	return t.UnixNano()
}

// wasteDispositions are the dispositions of a decommissioned item that
// count as wastage.
var wasteDispositions = map[string]bool{"destroyed": true, "expired": true, "damaged": true, "disposed": true}

// The org_counts kinds.
const (
	countCommissioned = "commissioned"
	countReceived     = "received"
	countWasted       = "wasted"
	countExcursions   = "excursions"
)

// addEvent indexes e: the event row, its EPCs, the lot of commissioned
// EPCs, the packing hierarchy and the organization's supply counters.
func (b *batch) addEvent(e *supply.StoredEvent) error {
	body := supply.EncodeEvent(e)
	step, disp := cbvWord(e.BizStep), cbvWord(e.Disposition)
	all := append(append([]string{}, e.EPCs...), e.ChildEPCs...)
	if e.ParentID != "" {
		all = append(all, e.ParentID)
	}
	if r := b.rows; r != nil {
		// Fast path (startFastEvents): the rows go into multi-row INSERTs.
		b.lastID++
		id := b.lastID
		if err := b.add(&r.events, id, e.Height, e.TxHash, e.Index, e.Type, e.Action, timeNS(e.EventTime),
			step, disp, e.ReadPoint, e.BizLocation, e.Org, e.Lot, body); err != nil {
			return err
		}
		for _, epc := range all {
			if err := b.add(&r.epcs, epc, id); err != nil {
				return err
			}
		}
		if e.Lot != "" {
			for _, epc := range e.EPCs {
				if err := b.add(&r.lots, epc, e.Lot); err != nil {
					return err
				}
			}
		}
	} else {
		s, err := b.stmt(`INSERT INTO events(height, tx, idx, type, action, time_ns, biz_step, disposition,
		read_point, biz_location, org, lot, body) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT DO NOTHING RETURNING id`)
		if err != nil {
			return err
		}
		var id int64
		err = s.QueryRowContext(b.ctx, e.Height, e.TxHash, e.Index, e.Type, e.Action, timeNS(e.EventTime),
			step, disp, e.ReadPoint, e.BizLocation, e.Org, e.Lot, body).Scan(&id)
		if err == sql.ErrNoRows {
			return nil // indexed before
		}
		if err != nil {
			return err
		}
		for _, epc := range all {
			if err := b.exec("INSERT OR IGNORE INTO event_epcs(epc, ev) VALUES(?, ?)", epc, id); err != nil {
				return err
			}
		}
		if e.Lot != "" {
			for _, epc := range e.EPCs {
				if err := b.exec("INSERT OR REPLACE INTO epc_lot(epc, lot) VALUES(?, ?)", epc, e.Lot); err != nil {
					return err
				}
			}
		}
	}
	if e.Type == supply.AggregationEvent {
		if err := b.pack(e); err != nil {
			return err
		}
	}
	count := func(kind string, n int) {
		if n != 0 {
			b.orgDelta[[2]string{e.Org, kind}] += n
		}
	}
	object := e.Type == supply.ObjectEvent
	switch {
	case object && e.Action == supply.ActionAdd && (step == "" || step == supply.StepCommissioning):
		count(countCommissioned, len(e.EPCs))
	case step == supply.StepReceiving:
		n, err := b.leaves(all)
		if err != nil {
			return err
		}
		count(countReceived, n)
	case object && (e.Action == supply.ActionDelete || step == supply.StepDecommissioning) && wasteDispositions[disp]:
		n, err := b.leaves(e.EPCs)
		if err != nil {
			return err
		}
		count(countWasted, n)
	}
	if disp == "quarantined" {
		count(countExcursions, 1)
	}
	return nil
}

// pack applies an AggregationEvent to the packing table: ADD packs
// child_epcs into parent_id (out of any other parent), DELETE unpacks them
// (all children when none are listed). The children go in statements of
// up to packChunk (a ledger event lists each EPC once; a repeated child
// would change nothing either: the deletions of a chunk run before its
// insertions, and (parent, child) is the table's key).
func (b *batch) pack(e *supply.StoredEvent) error {
	switch e.Action {
	case supply.ActionAdd:
		for c := range slices.Chunk(e.ChildEPCs, packChunk) {
			args := make([]any, 0, 2*len(c))
			for _, child := range c {
				args = append(args, child)
			}
			if err := b.exec("DELETE FROM packing WHERE child IN ("+placeholders(len(c))+")", args...); err != nil {
				return err
			}
			args = args[:0]
			for _, child := range c {
				args = append(args, e.ParentID, child)
			}
			if err := b.exec("INSERT OR IGNORE INTO packing(parent, child) VALUES "+rowPlaceholders(len(c), 2), args...); err != nil {
				return err
			}
		}
	case supply.ActionDelete:
		if len(e.ChildEPCs) == 0 {
			return b.exec("DELETE FROM packing WHERE parent = ?", e.ParentID)
		}
		for c := range slices.Chunk(e.ChildEPCs, packChunk) {
			args := make([]any, 0, 1+len(c))
			args = append(args, e.ParentID)
			for _, child := range c {
				args = append(args, child)
			}
			if err := b.exec("DELETE FROM packing WHERE parent = ? AND child IN ("+placeholders(len(c))+")", args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// packChunk is the most children of one packing statement.
const packChunk = 256

// placeholders returns n comma-separated "?".
func placeholders(n int) string {
	return "?" + strings.Repeat(",?", n-1)
}

// rowPlaceholders returns n rows of cols placeholders: "(?,?),(?,?)".
func rowPlaceholders(n, cols int) string {
	row := "(" + placeholders(cols) + ")"
	return row + strings.Repeat(","+row, n-1)
}

// leaves counts the unpacked items in epcs and, recursively, in the
// containers among them (a container counts by its contents, an empty
// one as one item): every EPC reachable from epcs that has no children.
// It reads the packing table one level of the hierarchy at a time, up to
// packChunk parents per query.
func (b *batch) leaves(epcs []string) (int, error) {
	seen := map[string]bool{}
	n := 0
	var level []string
	for _, epc := range epcs {
		if !seen[epc] {
			seen[epc] = true
			level = append(level, epc)
		}
	}
	for len(level) > 0 {
		var next []string
		for c := range slices.Chunk(level, packChunk) {
			s, err := b.stmt("SELECT parent, child FROM packing WHERE parent IN (" + placeholders(len(c)) + ")")
			if err != nil {
				return 0, err
			}
			args := make([]any, len(c))
			for i, epc := range c {
				args[i] = epc
			}
			rows, err := s.QueryContext(b.ctx, args...)
			if err != nil {
				return 0, err
			}
			parents := map[string]bool{}
			for rows.Next() {
				var parent, child string
				if err := rows.Scan(&parent, &child); err != nil {
					rows.Close()
					return 0, err
				}
				parents[parent] = true
				if !seen[child] {
					seen[child] = true
					next = append(next, child)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return 0, err
			}
			for _, epc := range c {
				if !parents[epc] {
					n++
				}
			}
		}
		level = next
	}
	return n, nil
}
