package index

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	cc "carechain"
)

// The sexes of the register (FHIR administrative gender).
const (
	SexFemale  = "female"
	SexMale    = "male"
	SexOther   = "other"
	SexUnknown = "unknown"
)

// Unknown is the value of a region, age band, sex or quintile (as "0")
// that is not known.
const Unknown = "unknown"

// Person is one entry of the population register: the node-local
// denominator of coverage. It stays in the node's SQLite file and never
// goes on the ledger.
type Person struct {
	DID cc.DID `json:"did"`
	// BirthDate is "YYYY-MM-DD" or "YYYY"; "" when unknown. Only the year
	// is kept.
	BirthDate string `json:"birth_date"`
	// Sex is female, male, other or unknown ("" is unknown).
	Sex string `json:"sex"`
	// Area is a district name or area code of the area table (e.g. the
	// city of Patient.address); matched without regard to case. An area
	// the table does not list has region "unknown" and quintile 0.
	Area string `json:"area"`
}

// MaxPeoplePerCall bounds one UpsertPeople call.
const MaxPeoplePerCall = 1_000_000

// UpsertPeople adds people to the register or replaces their entries, in
// one transaction, and moves their doses between coverage cells. A person
// with an invalid DID, birth date or sex is cc.Invalid naming people[i],
// and nothing is written.
func (d *DB) UpsertPeople(people []Person) error {
	const op = "index.people"
	if len(people) > MaxPeoplePerCall {
		return cc.Errorf(op, cc.TooLarge, "at most %d people per call", MaxPeoplePerCall)
	}
	cells := make([]cell, len(people))
	for i, p := range people {
		c, err := personCell(p)
		if err != nil {
			return cc.Errorf(op, cc.Invalid, "people[%d]: %s", i, err)
		}
		cells[i] = c
	}
	ctx := context.Background()
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	b := newBatch(ctx, tx)
	defer b.close()
	for i, p := range people {
		if err := b.upsertPerson(p.DID, cells[i]); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	if err := b.flush(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := tx.Commit(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// upsertPerson writes did's register entry as cell c and moves the
// population count and the patient's doses from the old cell.
func (b *batch) upsertPerson(did cc.DID, c cell) error {
	s, err := b.stmt("SELECT birth_year, sex, area FROM people WHERE did = ?")
	if err != nil {
		return err
	}
	old := cell{reg: 1}
	err = s.QueryRowContext(b.ctx, string(did)).Scan(&old.birthYear, &old.sex, &old.area)
	switch {
	case err == nil:
		if old == c {
			return nil
		}
		b.popDelta[old]--
	case errors.Is(err, sql.ErrNoRows):
		known, err := b.isKnown(did)
		if err != nil {
			return err
		}
		old = unregistered
		if known {
			b.popDelta[unregistered]--
		}
	default:
		return err
	}
	b.popDelta[c]++
	if err := b.exec(`INSERT INTO people(did, birth_year, sex, area) VALUES(?,?,?,?)
		ON CONFLICT(did) DO UPDATE SET birth_year = excluded.birth_year, sex = excluded.sex, area = excluded.area`,
		string(did), c.birthYear, c.sex, c.area); err != nil {
		return err
	}
	b.cells[did] = c
	ds, err := b.stmt("SELECT vaccine, n FROM dose_counts WHERE patient = ?")
	if err != nil {
		return err
	}
	rows, err := ds.QueryContext(b.ctx, string(did))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			return err
		}
		b.covDelta[covKey{v, n, old}]--
		b.covDelta[covKey{v, n, c}]++
	}
	return rows.Err()
}

// personCell validates p and returns its population cell.
func personCell(p Person) (cell, error) {
	if !p.DID.Valid() {
		return cell{}, errors.New("did " + strconv.Quote(cc.Echo(string(p.DID))) + " is not a did:cc identifier")
	}
	c := cell{reg: 1, area: areaKey(p.Area)}
	switch bd := p.BirthDate; {
	case bd == "":
	case len(bd) == 4:
		y, err := strconv.Atoi(bd)
		if err != nil || y < 1800 {
			return cell{}, errors.New("birth_date must be YYYY-MM-DD or YYYY")
		}
		c.birthYear = y
	default:
		t, err := time.Parse(time.DateOnly, bd)
		if err != nil || t.Year() < 1800 {
			return cell{}, errors.New("birth_date must be YYYY-MM-DD or YYYY")
		}
		c.birthYear = t.Year()
	}
	switch s := strings.ToLower(strings.TrimSpace(p.Sex)); s {
	case "":
		c.sex = SexUnknown
	case SexFemale, SexMale, SexOther, SexUnknown:
		c.sex = s
	default:
		return cell{}, errors.New("sex must be female, male, other or unknown")
	}
	if len(c.area) > 200 {
		return cell{}, errors.New("area is longer than 200 bytes")
	}
	return c, nil
}

// areaKey normalizes an area name or code for matching.
func areaKey(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Area is one row of the small-area table: an area code and district
// name, its region and its deprivation quintile (1 = most deprived … 5 =
// least deprived).
type Area struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Region   string `json:"region"`
	Quintile int    `json:"quintile"`
}

//go:embed areas.csv
var areasCSV []byte

// defaultAreas returns the embedded synthetic area table.
func defaultAreas() []Area {
	a, err := parseAreas(bytes.NewReader(areasCSV))
	if err != nil {
		panic("index: embedded areas.csv: " + err.Error())
	}
	return a
}

// MaxAreas bounds the area table.
const MaxAreas = 100_000

// LoadAreas replaces the area table with the CSV r holds: a header
// "code,name,region,quintile" and one row per area, codes and names unique
// (without regard to case, across both columns), quintile 1..5. A bad
// table is cc.Invalid naming its line and the old one stays. Coverage
// uses the new table at once (the aggregates keep the area, not the
// region).
func (d *DB) LoadAreas(r io.Reader) error {
	const op = "index.areas"
	areas, err := parseAreas(r)
	if err != nil {
		return cc.Errorf(op, cc.Invalid, "%s", err)
	}
	ctx := context.Background()
	d.mu.Lock()
	defer d.mu.Unlock()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	if err := replaceAreas(ctx, tx, areas); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := tx.Commit(); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// Areas returns the area table, by code.
func (d *DB) Areas() ([]Area, error) {
	rows, err := d.sql.Query("SELECT code, name, region, quintile FROM areas ORDER BY code")
	if err != nil {
		return nil, cc.E("index.areas", cc.Internal, err)
	}
	defer rows.Close()
	var out []Area
	for rows.Next() {
		var a Area
		if err := rows.Scan(&a.Code, &a.Name, &a.Region, &a.Quintile); err != nil {
			return nil, cc.E("index.areas", cc.Internal, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, cc.E("index.areas", cc.Internal, err)
	}
	return out, nil
}

// parseAreas reads and checks an area table.
func parseAreas(r io.Reader) ([]Area, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, errors.New("line 1: " + csvErr(err))
	}
	want := []string{"code", "name", "region", "quintile"}
	for i, h := range head {
		if strings.ToLower(strings.TrimSpace(h)) != want[i] {
			return nil, errors.New("line 1: the header must be code,name,region,quintile")
		}
	}
	seen := map[string]bool{}
	var out []Area
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.New("line " + strconv.Itoa(line) + ": " + csvErr(err))
		}
		if len(out) == MaxAreas {
			return nil, errors.New("more than " + strconv.Itoa(MaxAreas) + " areas")
		}
		a := Area{Code: strings.TrimSpace(rec[0]), Name: strings.TrimSpace(rec[1]), Region: strings.TrimSpace(rec[2])}
		q, err := strconv.Atoi(strings.TrimSpace(rec[3]))
		bad := func(msg string) error { return errors.New("line " + strconv.Itoa(line) + ": " + msg) }
		switch {
		case a.Code == "" || a.Name == "" || a.Region == "":
			return nil, bad("code, name and region must not be empty")
		case err != nil || q < 1 || q > 5:
			return nil, bad("quintile must be 1 to 5")
		}
		a.Quintile = q
		for _, k := range []string{areaKey(a.Code), areaKey(a.Name)} {
			if seen[k] && !(k == areaKey(a.Name) && areaKey(a.Code) == k) {
				return nil, bad("area " + strconv.Quote(k) + " is listed twice")
			}
			seen[k] = true
		}
		out = append(out, a)
	}
	return out, nil
}

func csvErr(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if err == io.EOF {
		return "empty table"
	}
	return err.Error()
}

// replaceAreas writes the area table.
func replaceAreas(ctx context.Context, tx *sql.Tx, areas []Area) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM areas"); err != nil {
		return err
	}
	for _, a := range areas {
		if _, err := tx.ExecContext(ctx, "INSERT INTO areas(code, name, region, quintile) VALUES(?,?,?,?)",
			a.Code, a.Name, a.Region, a.Quintile); err != nil {
			return err
		}
	}
	return nil
}

// areaLookup maps normalized area codes and names to their area.
func (d *DB) areaLookup(ctx context.Context, q querier) (map[string]Area, error) {
	rows, err := q.QueryContext(ctx, "SELECT code, name, region, quintile FROM areas")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]Area{}
	for rows.Next() {
		var a Area
		if err := rows.Scan(&a.Code, &a.Name, &a.Region, &a.Quintile); err != nil {
			return nil, err
		}
		m[areaKey(a.Code)] = a
		m[areaKey(a.Name)] = a
	}
	return m, rows.Err()
}
