// Package index is carechain's read model: a SQLite database
// (modernc.org/sqlite, pure Go, WAL mode) fed by committed blocks and
// rebuildable from the chain at any time. It answers the questions that
// do not belong on the consensus path: EPCIS event queries, immunization
// coverage and its disparities, and supply KPIs. It imports no adapter;
// only the root package and the domain package supply.
//
// # Feeding it
//
// Sync reads the heights after the last indexed one with supply.EventsAt
// and supply.AdministrationsAt (one key prefix per height each, so an
// empty height costs two empty scans) and writes one SQLite transaction
// per DefaultBatch heights. The batch's last height is written to the
// meta table in the same transaction, so the index is always at a batch
// boundary: a crash or a cancelled sync loses at most the batch in
// progress, and the next Sync continues from there. Syncing is
// idempotent. Rebuild empties every chain-derived table and syncs from
// height 1; the result equals a fresh index.
//
// Two inputs are node-local, not chain-derived, and survive Rebuild:
//
//   - the population register (UpsertPeople): one Person per DID with a
//     birth date (only the year is kept), a sex and an area. It is the
//     denominator of coverage. It holds personal data, so it stays in the
//     node's SQLite file: nothing of it goes on the ledger, and reports
//     release only suppressed aggregates.
//   - the area table (LoadAreas; areas.csv is embedded and loaded into a
//     new database): code, district name, region and deprivation quintile.
//
// # Areas, regions and deprivation
//
// A person's Area is what the node knows of where they live: the district
// of Patient.address (the demo seed puts a city name there). It is
// matched, without regard to case, against the code or the name column of
// the area table, which gives the region and the deprivation quintile
// (1 = most deprived fifth … 5 = least deprived fifth, the usual ordering
// of national indices of multiple deprivation). An area the table does
// not list, or no area, has region "unknown" and quintile 0, shown as
// "unknown".
//
// The embedded areas.csv is SYNTHETIC: 12 districts in 4 regions (North,
// East, South, West), including the cities of the demo population
// (Northbridge, Riverside, Eastfield, Lakeview), with made-up quintiles.
// A deployment loads its own table (e.g. statistical small areas with an
// official deprivation index) with LoadAreas; coverage uses it at once,
// since the aggregates are kept by area, not by region.
//
// # Coverage
//
// A person counts in the numerator of (vaccine, dose D) when the ledger
// holds at least D counted administrations of that vaccine for their DID.
// An administration is counted when it has a vaccine code and its FHIR
// record id was not counted before (a re-recorded Immunization does not
// count twice). The denominator of a group is the people of the register
// in it, plus the patients who have administrations on the ledger but are
// not in the register: those are never dropped, they form the "unknown"
// value of every dimension (and the report's Unregistered count).
//
// The dimensions are region, quintile, sex (female, male, other,
// unknown) and age band at the query's AsOf year: age = AsOf − birth year,
// in the bands 0-1, 2-4, 5-11, 12-17, 18-49, 50-64 and 65+ (unknown
// without a birth year).
//
// Small cells are suppressed: a group whose numerator is 1 to MinCell−1
// (default 11, so 1 to 10) or whose denominator is below MinCell shows
// neither count and no measures (a zero numerator is shown). So that
// a suppressed cell cannot be recovered by subtracting the others from a
// margin that a coarser query publishes, suppression is complementary:
// along each dimension, among the groups that agree on every other
// dimension, a lone suppressed group makes the unsuppressed group with the
// smallest numerator suppressed too, until no such line remains. The
// total row is suppressed on its own counts.
//
// Disparities compare each unsuppressed group with the reference: the
// unsuppressed group with the highest rate and no unknown value. The rate
// ratio is rate / reference rate, the rate difference rate − reference
// rate (both fractions); the gap to target is target − rate, with the
// target given in permille. Rates are float64: this is reporting, not
// consensus.
//
// # Disparities report
//
// Disparities builds, from one read snapshot, two tables per grouping (a
// dimension or a pair): coverage of the dose, and completion of dose D+1
// among the people with dose D, whose counts are those the two coverage
// reports publish (so a completion cell is suppressed when either
// coverage cell is, or on its own counts). stats.go holds the statistics:
// Wilson score intervals for rates, Katz log intervals for rate ratios,
// Newcombe hybrid score intervals for rate differences. The groups below
// target with no unknown value are ranked by their gap. The types are the
// root package's (cc.DisparityReport), which package report renders.
//
// # Pre-aggregation
//
// Coverage must answer over a million people in well under 200 ms, so it
// never reads people or administrations. Two aggregate tables are kept
// incrementally, in the same transactions as their inputs:
//
//   - pop_agg(reg, birth_year, sex, area) → people;
//   - cov_agg(vaccine, doses, reg, birth_year, sex, area) → people with
//     exactly that many doses of the vaccine;
//
// with dose_counts(patient, vaccine) → doses as the per-patient state that
// moves a person from one doses cell to the next when an administration
// arrives, and between cells when UpsertPeople changes their entry. A
// query sums the cov_agg rows with doses ≥ D of one vaccine and the
// pop_agg rows: a few thousand rows (birth years × sexes × areas),
// grouped in Go by the requested dimensions. Years and areas rather than
// bands and regions are kept so that AsOf and the area table can change
// without recomputation.
//
// # Events
//
// Every accepted supply event is kept with its ledger position (height,
// transaction hash, index), its EPCs (epcs, child_epcs and parent_id, for
// EPC queries), and the lot of the EPCs it commissioned (so a lot query
// also finds the later events of those items). QueryEvents pages in ledger
// order with an opaque token. The packing hierarchy from
// AggregationEvents lets receipts and wastage count a container by the
// items it holds.
//
// # Supply KPIs
//
// SupplyKPIs reads stock from the ledger state (supply.HeldOfLot and
// supply.GetItem for every organization and lot the index has seen) and
// combines it with the index. Doses on hand are the usable items' doses
// per vial (supply.GetProduct of the item's GTIN, supply.GTINOf) less the
// doses used; an item whose product is not registered counts one dose
// (and is reported). Days of supply is usable doses over the mean daily
// doses administered at the organization in the last 28 days; wastage is
// items decommissioned as destroyed, expired, damaged or disposed over
// items commissioned or received; excursions are the ledger's cold-chain
// excursion records (supply.Excursions) of the organization's reports.
package index
