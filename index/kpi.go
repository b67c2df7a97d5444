package index

import (
	"context"
	"slices"
	"strings"
	"time"

	cc "carechain"
	"carechain/supply"
)

// SupplyWindow is the period over which days of supply averages daily
// administrations.
const SupplyWindow = 28 * 24 * time.Hour

// StockRow is the stock one organization holds of one lot at one
// location (the item's last biz_location; "" when none was given).
type StockRow struct {
	Org      string `json:"org"`
	Location string `json:"location"`
	Lot      string `json:"lot"`
	Expiry   string `json:"expiry,omitempty"` // the latest expiry among the items
	// Items counts the held items (not decommissioned), by state.
	Items       int `json:"items"`
	Usable      int `json:"usable"` // supply.Usable at the report time, and not quarantined
	InTransit   int `json:"in_transit"`
	Quarantined int `json:"quarantined"`
	Expired     int `json:"expired"`
	Other       int `json:"other"` // recalled or another unusable status
	DosesUsed   int `json:"doses_used"`
	// Doses is the doses left in the usable items: the product's doses
	// per vial (supply.GetProduct of the item's GTIN) less the doses used.
	// A usable item whose product is not registered counts one dose and
	// is counted in NoProduct.
	Doses     int `json:"doses"`
	NoProduct int `json:"no_product"`
}

// OrgKPI is the supply performance of one organization.
type OrgKPI struct {
	Org         string `json:"org"`
	UsableItems int    `json:"usable_items"`
	UsableDoses int    `json:"usable_doses"` // the sum of StockRow.Doses
	// Administered counts the doses given at the organization in the
	// SupplyWindow before the report time; DailyDoses is their mean per
	// day.
	Administered int     `json:"administered_28d"`
	DailyDoses   float64 `json:"daily_doses"`
	// DaysOfSupply is UsableDoses / DailyDoses (absent when no doses
	// were given in the window).
	DaysOfSupply *float64 `json:"days_of_supply,omitempty"`
	// Commissioned and Received count items the organization
	// commissioned or received (containers by their contents); Wasted
	// those it decommissioned as destroyed, expired, damaged or disposed.
	Commissioned int64 `json:"commissioned"`
	Received     int64 `json:"received"`
	Wasted       int64 `json:"wasted"`
	// WastageRate is Wasted / (Commissioned + Received), when that is
	// not 0.
	WastageRate *float64 `json:"wastage_rate,omitempty"`
	// Excursions counts the cold-chain excursions the ledger recorded on
	// the organization's temperature reports (supply.Excursions);
	// QuarantineEvents its captured events with disposition
	// "quarantined".
	Excursions       int   `json:"excursions"`
	QuarantineEvents int64 `json:"quarantine_events"`
}

// KPIReport holds the supply KPIs at a time.
type KPIReport struct {
	AsOf   string     `json:"as_of"`  // RFC 3339
	Height int64      `json:"height"` // the indexed height of the counters
	Stock  []StockRow `json:"stock"`
	Orgs   []OrgKPI   `json:"orgs"`
}

// SupplyKPIs computes the supply KPIs at asOf: stock by organization,
// location and lot from the ledger state kv (the items each organization
// holds of every lot the index has seen commissioned), days of supply
// from the indexed administrations, and wastage and excursions from the
// indexed events (cumulative to the indexed height), excursions from the
// ledger's excursion records. kv should be the committed state at the
// indexed height.
func (d *DB) SupplyKPIs(kv cc.Reader, asOf time.Time) (*KPIReport, error) {
	const op = "index.kpi"
	ctx := context.Background()
	rep := &KPIReport{AsOf: asOf.UTC().Format(time.RFC3339), Stock: []StockRow{}, Orgs: []OrgKPI{}}
	var err error
	if rep.Height, err = getMeta(ctx, d.sql, metaHeight); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	orgs, err := d.strings(ctx, "SELECT DISTINCT org FROM events UNION SELECT org FROM org_counts ORDER BY 1")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	lots, err := d.strings(ctx, "SELECT DISTINCT lot FROM epc_lot ORDER BY 1")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	excursions, err := supply.Excursions(kv)
	if err != nil {
		return nil, err
	}
	perOrg := map[string]int{}
	for _, x := range excursions {
		if perOrg[x.Org] == 0 && !slices.Contains(orgs, x.Org) {
			orgs = append(orgs, x.Org)
		}
		perOrg[x.Org]++
	}
	slices.Sort(orgs)
	doses := dosesPerItem(kv)
	for _, org := range orgs {
		k := OrgKPI{Org: org}
		rows := map[[2]string]*StockRow{}
		for _, lot := range lots {
			epcs, err := supply.HeldOfLot(kv, org, lot)
			if err != nil {
				return nil, err
			}
			for _, epc := range epcs {
				it, err := supply.GetItem(kv, epc)
				if err != nil {
					return nil, err
				}
				r := rows[[2]string{it.Location, lot}]
				if r == nil {
					r = &StockRow{Org: org, Location: it.Location, Lot: lot}
					rows[[2]string{it.Location, lot}] = r
				}
				if countItem(r, it, asOf) {
					n, known, err := doses(it)
					if err != nil {
						return nil, err
					}
					if !known {
						r.NoProduct++
					}
					r.Doses += n
					k.UsableItems++
					k.UsableDoses += n
				}
			}
		}
		keys := make([][2]string, 0, len(rows))
		for key := range rows {
			keys = append(keys, key)
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			if c := strings.Compare(a[0], b[0]); c != 0 {
				return c
			}
			return strings.Compare(a[1], b[1])
		})
		for _, key := range keys {
			rep.Stock = append(rep.Stock, *rows[key])
		}
		k.Excursions = perOrg[org]
		if err := d.orgFigures(ctx, &k, asOf); err != nil {
			return nil, cc.E(op, cc.Internal, err)
		}
		rep.Orgs = append(rep.Orgs, k)
	}
	return rep, nil
}

// countItem adds it to r and reports whether it is usable: supply.Usable
// at asOf and not quarantined (status or disposition).
func countItem(r *StockRow, it *supply.Item, asOf time.Time) bool {
	r.Items++
	r.DosesUsed += it.DosesUsed
	if it.Expiry > r.Expiry {
		r.Expiry = it.Expiry
	}
	ok, _ := supply.Usable(it, asOf)
	quarantined := it.Status == supply.StatusQuarantined || it.Disposition == "quarantined"
	switch {
	case ok && !quarantined:
		r.Usable++
		return true
	case it.Status == supply.StatusInTransit:
		r.InTransit++
	case quarantined:
		r.Quarantined++
	case supply.Expired(it, asOf):
		r.Expired++
	default:
		r.Other++
	}
	return false
}

// orgFigures fills in k's administration, wastage and excursion figures.
func (d *DB) orgFigures(ctx context.Context, k *OrgKPI, asOf time.Time) error {
	to := asOf.UnixNano()
	from := asOf.Add(-SupplyWindow).UnixNano()
	if err := d.sql.QueryRowContext(ctx, `SELECT COALESCE(SUM(CASE WHEN doses > 0 THEN doses ELSE 1 END), 0)
		FROM administrations WHERE org = ? AND time_ns > ? AND time_ns <= ?`, k.Org, from, to).Scan(&k.Administered); err != nil {
		return err
	}
	k.DailyDoses = float64(k.Administered) / (SupplyWindow.Hours() / 24)
	if k.DailyDoses > 0 {
		days := float64(k.UsableDoses) / k.DailyDoses
		k.DaysOfSupply = &days
	}
	rows, err := d.sql.QueryContext(ctx, "SELECT kind, n FROM org_counts WHERE org = ?", k.Org)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return err
		}
		switch kind {
		case countCommissioned:
			k.Commissioned = n
		case countReceived:
			k.Received = n
		case countWasted:
			k.Wasted = n
		case countExcursions:
			k.QuarantineEvents = n
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if in := k.Commissioned + k.Received; in > 0 {
		r := float64(k.Wasted) / float64(in)
		k.WastageRate = &r
	}
	return nil
}

// dosesPerItem returns a function that tells the doses left in an item:
// its product's doses per vial less the doses used (at least 0), or 1 and
// false when the item has no GTIN or its product is not registered.
// Products are looked up once per GTIN.
func dosesPerItem(kv cc.Reader) func(*supply.Item) (int, bool, error) {
	perVial := map[string]int{}
	return func(it *supply.Item) (int, bool, error) {
		gtin, ok := supply.GTINOf(it.EPC)
		if !ok {
			return 1, false, nil
		}
		n, seen := perVial[gtin]
		if !seen {
			p, err := supply.GetProduct(kv, gtin)
			switch {
			case err == nil:
				n = p.DosesPerVial
			case !cc.Is(cc.NotFound, err):
				return 0, false, err
			}
			perVial[gtin] = n
		}
		if n == 0 {
			return 1, false, nil
		}
		return max(n-it.DosesUsed, 0), true, nil
	}
}

// strings returns the first column of query's rows.
func (d *DB) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := d.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
