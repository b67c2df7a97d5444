package supply

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/records"
)

// TypeRecall is the transaction type of a lot recall.
const TypeRecall = "supply.recall"

// StatusRecalled is the status of an item of a recalled lot (see
// handleRecall). It is a hold: the item keeps moving with its container
// and may be decommissioned, but no dose may be taken from it.
const StatusRecalled = "recalled"

// NoticeRecall is the kind of the notification a patient who received a
// dose of a recalled lot gets.
const NoticeRecall = "recall"

// Recall is the on-chain evidence of a lot recall.
type Recall struct {
	Lot      string   `json:"lot"`
	GTINs    []string `json:"gtins"` // of the lot masters recalled ("" for one without a GTIN), sorted
	Org      string   `json:"org"`
	Signer   cc.DID   `json:"signer"`
	Reason   string   `json:"reason"`
	Items    int      `json:"items"`    // items set to recalled
	Patients int      `json:"patients"` // patients notified
	Height   int64    `json:"height"`
	Time     string   `json:"time"` // block time, RFC 3339
	TxHash   string   `json:"tx_hash"`
	// Remaining is true when more than MaxRecallItems items were to be
	// marked: the lot masters are recalled, and the same supply.recall
	// must be submitted again (each time marking up to MaxRecallItems
	// more) until Remaining is false.
	Remaining bool `json:"remaining,omitempty"`
}

// MaxRecallItems is the most items one supply.recall transaction sets to
// recalled.
const MaxRecallItems = 1000

// recallPayload is the payload of "supply.recall".
type recallPayload struct {
	Org    string `json:"org"`
	Lot    string `json:"lot"`
	GTIN   string `json:"gtin"`
	Reason string `json:"reason"`
}

// handleRecall applies "supply.recall" {org, lot, gtin?, reason}: lot a
// lot number, gtin (any form NormalizeGTIN accepts) when given, reason
// 1..MaxReasonLen printable bytes (cc.Invalid).
//
// The recall covers the lot master of lot and gtin, or without gtin every
// lot master of that lot number (cc.NotFound if there is none) that is not
// recalled yet (cc.Conflict if all are). The signer must be an admin or
// public-health-officer member of an active regulator org, or an admin or
// logistics member of the active organization org that commissioned every
// covered lot or registered its product (cc.Unauthorized). A patient who
// received more notifications in this block than records.Notify allows
// makes it cc.FailedPrecondition.
//
// Effects: each covered lot master that is not recalled yet becomes
// recalled; every patient of an administration of the lot whose GTIN is
// one of these or unknown gets one "recall" notification, in DID order;
// and items of the covered lots (whose GTIN, GTINOf or "" when none, is
// covered) that are neither decommissioned nor recalled get status
// recalled and disposition "recalled" (keeping their custody status
// behind the hold), at most MaxRecallItems of them per transaction.
//
// The work on items is bounded: the index sup/lu/{lot}/{gtin}/ lists
// exactly the live, unrecalled items of a lot and GTIN (kept by
// indexItem), so a recall reads the first MaxRecallItems entries of it and
// each item it marks leaves it. When more remain, Recall.Remaining is
// true and the signer submits the same supply.recall again: on a covered
// lot master that is recalled but still has unrecalled items it marks the
// next MaxRecallItems (no new notifications). Only when every covered
// lot is recalled and none has unrecalled items is a recall cc.Conflict.
// Meanwhile the recalled lot master alone blocks use: no dose is
// administered from an item of a recalled lot (see handleAdminister), and
// nothing is commissioned into it. Administrations and notifications are
// proportional to the patients of the lot (records.Notify limits them per
// patient and block). Writes sup/recall/{height}/{idx}; emits
// supply.recall; Data is the Recall.
func handleRecall(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeRecall
	var p recallPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if !validLot(p.Lot) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "lot must be 1 to %d printable bytes without spaces", MaxLotLen)
	}
	gtin := ""
	if p.GTIN != "" {
		g, ok := NormalizeGTIN(p.GTIN)
		if !ok {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "gtin %q must be a GTIN-8, -12, -13 or -14 with a valid check digit", cc.Echo(p.GTIN))
		}
		gtin = g
	}
	if !validName(p.Reason, MaxReasonLen) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "reason must be 1 to %d bytes of printable text", MaxReasonLen)
	}

	// The lot masters covered.
	var lots []Lot
	if gtin != "" {
		var l Lot
		found, err := cc.GetJSON(kv, lotKey(p.Lot, gtin), &l)
		if err != nil {
			return cc.Result{}, err
		}
		if !found {
			return cc.Result{}, cc.Errorf(op, cc.NotFound, "no lot %s of GTIN %s was commissioned", p.Lot, gtin)
		}
		lots = []Lot{l}
	} else {
		all, err := GetLot(kv, p.Lot)
		if cc.Is(cc.NotFound, err) {
			return cc.Result{}, cc.Errorf(op, cc.NotFound, "no lot %s was commissioned", p.Lot)
		}
		if err != nil {
			return cc.Result{}, err
		}
		lots = all
	}
	if err := authorizeRecall(op, kv, p.Org, ctx.Signer, lots); err != nil {
		return cc.Result{}, err
	}
	// fresh: the covered lots not recalled yet; work: the GTINs whose
	// items this recall marks (fresh, and recalled ones still pending).
	var fresh []Lot
	var gtins, work []string
	for _, l := range lots {
		if l.Status != LotRecalled {
			fresh = append(fresh, l)
			gtins = append(gtins, l.GTIN)
			work = append(work, l.GTIN)
			continue
		}
		pending := false
		if err := kv.Iterate(unrecalledPrefix(l.Lot, l.GTIN), func(string, []byte) bool { pending = true; return false }); err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if pending {
			work = append(work, l.GTIN)
		}
	}
	if len(work) == 0 {
		return cc.Result{}, cc.Errorf(op, cc.Conflict, "lot %s was already recalled", p.Lot)
	}
	slices.Sort(gtins)
	slices.Sort(work)
	covered := func(g string) bool { _, ok := slices.BinarySearch(gtins, g); return ok }

	// Patients to notify (of the newly recalled GTINs), checked before the
	// first write.
	var patients []cc.DID
	if len(fresh) > 0 {
		adms, err := AdministrationsOfLot(kv, p.Lot)
		if err != nil {
			return cc.Result{}, err
		}
		for _, a := range adms {
			g := a.GTIN
			if g == "" {
				g, _ = GTINOf(a.EPC)
			}
			if (g == "" || covered(g)) && a.Patient.Valid() {
				patients = append(patients, a.Patient)
			}
		}
	}
	slices.Sort(patients)
	patients = slices.Compact(patients)
	for _, pt := range patients {
		n, err := records.NotificationsInBlock(kv, pt, ctx.Height)
		if err != nil {
			return cc.Result{}, err
		}
		if n >= records.MaxNotificationsPerBlock {
			return cc.Result{}, cc.Errorf(op, cc.FailedPrecondition, "patient %s already has %d notifications in block %d; retry in a later block", pt, n, ctx.Height)
		}
	}

	// Every check has passed: write. The first MaxRecallItems unrecalled
	// items of the work GTINs, in key order.
	var keys []string
	rec := Recall{Lot: p.Lot, GTINs: work, Org: p.Org, Signer: ctx.Signer, Reason: p.Reason,
		Height: ctx.Height, Time: ctx.Time.UTC().Format(time.RFC3339Nano), TxHash: hex.EncodeToString(ctx.TxHash)}
	for _, g := range work {
		if err := kv.Iterate(unrecalledPrefix(p.Lot, g), func(key string, _ []byte) bool {
			if len(keys) == MaxRecallItems {
				rec.Remaining = true
				return false
			}
			keys = append(keys, key)
			return true
		}); err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if rec.Remaining {
			break
		}
	}
	for _, key := range keys {
		epc := unescapeSegment(key[strings.LastIndexByte(key, '/')+1:])
		var it Item
		found, err := getItem(kv, epc, &it)
		if err != nil {
			return cc.Result{}, err
		}
		if !found || it.Status == StatusDecommissioned || it.Status == StatusRecalled {
			kv.Delete(key) // a stale entry: nothing to mark
			continue
		}
		old := it
		if it.Status != StatusQuarantined {
			it.PrevStatus, it.PrevDisposition = it.Status, it.Disposition
		}
		it.Status, it.Disposition, it.UpdatedAt = StatusRecalled, DispositionRecalled, ctx.Height
		setItem(kv, &it)
		if err := indexItem(kv, &old, &it, nil); err != nil {
			return cc.Result{}, err
		}
		rec.Items++
	}
	for _, l := range fresh {
		l.Status, l.RecalledAt, l.RecallReason = LotRecalled, ctx.Height, p.Reason
		if err := cc.SetJSON(kv, lotKey(l.Lot, l.GTIN), l); err != nil {
			return cc.Result{}, err
		}
	}
	text := fmt.Sprintf("Vaccine lot %s, from which you received a dose, was recalled by %s. Please contact your care provider.", p.Lot, p.Org)
	for _, pt := range patients {
		if _, err := records.Notify(kv, ctx, pt, NoticeRecall, p.Lot, text); err != nil {
			return cc.Result{}, err
		}
	}
	rec.Patients = len(patients)
	idx, err := countIn(kv, blockPrefix(prefixRecall, ctx.Height))
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	if err := cc.SetJSON(kv, blockKey(prefixRecall, ctx.Height, idx), rec); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, rec)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent("supply.recall", "lot", p.Lot, "org", p.Org,
		"items", strconv.Itoa(rec.Items), "patients", strconv.Itoa(rec.Patients))}}, nil
}

// authorizeRecall checks that signer may recall lots for org: as an admin
// or public-health-officer of an active regulator, or as an admin or
// logistics member of the organization that commissioned each lot or
// registered its product.
func authorizeRecall(op string, kv cc.Reader, org string, signer cc.DID, lots []Lot) error {
	o, err := identity.GetOrg(kv, org)
	if err != nil && !cc.Is(cc.NotFound, err) {
		return cc.E(op, cc.Internal, err)
	}
	if err == nil && o.Type == cc.OrgRegulator {
		return authorize(op, kv, org, signer, cc.OrgRegulator, reviewRoles...)
	}
	for _, l := range lots {
		owner := l.Org == org
		if !owner && l.GTIN != "" {
			var p Product
			found, err := cc.GetJSON(kv, productKey(l.GTIN), &p)
			if err != nil {
				return err
			}
			owner = found && p.Org == org
		}
		if !owner {
			return cc.Errorf(op, cc.Unauthorized, "%s may not recall lot %s: it was commissioned by %s (a regulator or the manufacturer recalls a lot)", cc.Echo(org), l.Lot, l.Org)
		}
	}
	return authorize(op, kv, org, signer, "", masterRoles...)
}

// Recalls returns every recall, oldest first.
func Recalls(kv cc.Reader) ([]Recall, error) {
	out := []Recall{}
	err := cc.IterateJSON("supply.recalls", kv, prefixRecall, func(r Recall) bool {
		out = append(out, r)
		return true
	})
	return out, err
}

// TraceReport is where the stock of a lot is and who received it.
type TraceReport struct {
	Lot             string       `json:"lot"`
	Lots            []Lot        `json:"lots"`  // the lot masters (one per GTIN)
	Sites           []TraceSite  `json:"sites"` // organizations holding items, by id
	Decommissioned  int          `json:"decommissioned"`
	Administrations []TraceAdmin `json:"administrations"` // oldest first
	Patients        []cc.DID     `json:"patients"`        // distinct, sorted
}

// TraceSite is the stock of a lot one organization holds: leaf items (not
// containers), not decommissioned.
type TraceSite struct {
	Org            string       `json:"org"`
	Items          int          `json:"items"`
	DosesRemaining int          `json:"doses_remaining"`
	ByStatus       []TraceCount `json:"by_status"` // sorted by status
}

// TraceCount counts the items and remaining doses of one status.
type TraceCount struct {
	Status string `json:"status"`
	Items  int    `json:"items"`
	Doses  int    `json:"doses"`
}

// TraceAdmin is one administration of a lot, without the record id.
type TraceAdmin struct {
	Patient cc.DID `json:"patient"`
	Org     string `json:"org"`
	Year    int    `json:"year,omitempty"`
	Doses   int    `json:"doses"`
	Height  int64  `json:"height"`
}

// Trace reports where the items of lot are and who received doses of it.
// An item counts for its owner (an item in transit for its shipper) with
// its stored status; its remaining doses are its product's doses_per_vial
// (1 when the product is not registered) minus DosesUsed, at least 0. It
// returns cc.NotFound when the ledger knows no lot master, item or
// administration of lot.
func Trace(kv cc.Reader, lot string) (*TraceReport, error) {
	const op = "supply.trace"
	rep := &TraceReport{Lot: lot, Lots: []Lot{}, Sites: []TraceSite{}, Administrations: []TraceAdmin{}, Patients: []cc.DID{}}
	if !validLot(lot) {
		return nil, cc.Errorf(op, cc.NotFound, "no lot %q", cc.Echo(lot))
	}
	if err := cc.IterateJSON(op, kv, lotPrefix(lot), func(l Lot) bool {
		rep.Lots = append(rep.Lots, l)
		return true
	}); err != nil {
		return nil, err
	}
	var epcs []string
	if err := ItemsOfLot(kv, lot, func(epc string) bool { epcs = append(epcs, epc); return true }); err != nil {
		return nil, err
	}
	sites := map[string]map[string]*TraceCount{} // org → status → count
	dpv := map[string]int{}                      // GTIN → doses per vial
	for _, epc := range epcs {
		it, err := GetItem(kv, epc)
		if cc.Is(cc.NotFound, err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if it.Container || len(it.Children) > 0 {
			continue
		}
		if it.Status == StatusDecommissioned {
			rep.Decommissioned++
			continue
		}
		doses := 1
		if g, ok := GTINOf(epc); ok {
			n, seen := dpv[g]
			if !seen {
				n = 1
				if p, err := GetProduct(kv, g); err == nil {
					n = p.DosesPerVial
				} else if !cc.Is(cc.NotFound, err) {
					return nil, err
				}
				dpv[g] = n
			}
			doses = n
		}
		doses = max(doses-it.DosesUsed, 0)
		if sites[it.Owner] == nil {
			sites[it.Owner] = map[string]*TraceCount{}
		}
		tc := sites[it.Owner][it.Status]
		if tc == nil {
			tc = &TraceCount{Status: it.Status}
			sites[it.Owner][it.Status] = tc
		}
		tc.Items++
		tc.Doses += doses
	}
	for _, org := range sortedKeys(sites) {
		s := TraceSite{Org: org, ByStatus: []TraceCount{}}
		for _, st := range sortedKeys(sites[org]) {
			tc := sites[org][st]
			s.Items += tc.Items
			s.DosesRemaining += tc.Doses
			s.ByStatus = append(s.ByStatus, *tc)
		}
		rep.Sites = append(rep.Sites, s)
	}
	adms, err := AdministrationsOfLot(kv, lot)
	if err != nil {
		return nil, err
	}
	for _, a := range adms {
		rep.Administrations = append(rep.Administrations, TraceAdmin{Patient: a.Patient, Org: a.Org, Year: a.Year, Doses: a.Doses, Height: a.Height})
		rep.Patients = append(rep.Patients, a.Patient)
	}
	slices.Sort(rep.Patients)
	rep.Patients = slices.Compact(rep.Patients)
	if len(rep.Lots) == 0 && len(epcs) == 0 && len(adms) == 0 {
		return nil, cc.Errorf(op, cc.NotFound, "no lot %q", cc.Echo(lot))
	}
	return rep, nil
}
