package index

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"

	cc "carechain"
)

// Subject is one person as a research answer sees them: the strata of
// their register entry and their counted doses of one vaccine. It is
// personal data and stays in the node; only noisy, suppressed aggregates
// of subjects leave it (package research/dp).
type Subject struct {
	DID       cc.DID
	BirthYear int               // 0 when unknown
	Strata    map[string]string // region, quintile, sex, age_band (at the as-of year)
	Doses     int               // counted administrations of the vaccine asked for
}

// Subjects returns, in the order given, the register entries of dids with
// their strata at year asOf and their counted doses of vaccine (a code or
// "system|code", as Coverage takes it; "" for none). A DID outside the
// register has every stratum "unknown", as coverage treats it. A vaccine
// the index never saw gives 0 doses; an ambiguous bare code is cc.Invalid.
func (d *DB) Subjects(dids []cc.DID, asOf int, vaccine string) ([]Subject, error) {
	const op = "index.subjects"
	ctx := context.Background()
	tx, err := d.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer tx.Rollback()
	if vaccine != "" {
		v, err := resolveVaccine(ctx, tx, vaccine)
		switch {
		case cc.Is(cc.NotFound, err):
			vaccine = ""
		case err != nil:
			return nil, err
		default:
			vaccine = v
		}
	}
	areas, err := d.areaLookup(ctx, tx)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	person, err := tx.PrepareContext(ctx, "SELECT birth_year, sex, area FROM people WHERE did = ?")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer person.Close()
	doses, err := tx.PrepareContext(ctx, "SELECT n FROM dose_counts WHERE patient = ? AND vaccine = ?")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer doses.Close()
	out := make([]Subject, 0, len(dids))
	for _, did := range dids {
		c := unregistered
		err := person.QueryRowContext(ctx, string(did)).Scan(&c.birthYear, &c.sex, &c.area)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, cc.E(op, cc.Internal, err)
		}
		s := Subject{DID: did, BirthYear: c.birthYear, Strata: map[string]string{}}
		if errors.Is(err, sql.ErrNoRows) {
			s.BirthYear = 0
			for _, dim := range []string{DimRegion, DimQuintile, DimSex, DimAgeBand} {
				s.Strata[dim] = Unknown
			}
		} else {
			for _, dim := range []string{DimRegion, DimQuintile, DimSex, DimAgeBand} {
				s.Strata[dim] = dimValue(dim, c, areas, asOf)
			}
		}
		if vaccine != "" {
			if err := doses.QueryRowContext(ctx, string(did), vaccine).Scan(&s.Doses); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, cc.E(op, cc.Internal, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// StrataDomains returns every value each dimension can take, "unknown"
// last: the age bands, the quintiles 1 to 5, the sexes, and the regions
// of the area table (sorted). Research answers release every stratum of
// the domain, occupied or not, so that a stratum's presence reveals
// nothing.
func (d *DB) StrataDomains() (map[string][]string, error) {
	areas, err := d.Areas()
	if err != nil {
		return nil, err
	}
	var regions []string
	for _, a := range areas {
		regions = append(regions, a.Region)
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	var quintiles []string
	for q := 1; q <= 5; q++ {
		quintiles = append(quintiles, strconv.Itoa(q))
	}
	return map[string][]string{
		DimAgeBand:  append(slices.Clone(AgeBands), Unknown),
		DimQuintile: append(quintiles, Unknown),
		DimSex:      {SexFemale, SexMale, SexOther, SexUnknown},
		DimRegion:   append(regions, Unknown),
	}, nil
}

// RegisterDIDs returns the DIDs of the population register, sorted.
func (d *DB) RegisterDIDs() ([]cc.DID, error) {
	const op = "index.register"
	rows, err := d.sql.QueryContext(context.Background(), "SELECT did FROM people ORDER BY did")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer rows.Close()
	var out []cc.DID
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		out = append(out, cc.DID(s))
	}
	if err := rows.Err(); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return out, nil
}
