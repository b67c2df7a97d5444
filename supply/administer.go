package supply

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
	"carechain/records"
)

// TypeAdminister is the transaction that records immunizations together
// with the anchors of their FHIR resources.
const TypeAdminister = "supply.administer"

// MaxAdministrationsPerTx is the most administrations one
// supply.administer may carry.
const MaxAdministrationsPerTx = 1000

// CVXSystem is the FHIR system of CVX vaccine codes.
const CVXSystem = "http://hl7.org/fhir/sid/cvx"

// The fraud alert kinds of administrations.
const (
	FraudUnknownAdministration = "unknown_administration" // a dose from a serial the ledger has never seen
	FraudReadminister          = "readminister"           // a dose from a serial already used up
	FraudNotShippedHere        = "not_shipped_here"       // a dose from a serial the clinic never received
)

// administerRoles are the roles with which a member records immunizations
// (the clinical roles and the node's gatekeeper key, as record.anchor).
var administerRoles = []cc.Role{cc.RoleNode, cc.RolePhysician, cc.RoleNurse, cc.RolePharmacist, cc.RoleEmergency}

// administerPayload is the payload of "supply.administer".
type administerPayload struct {
	Org             string            `json:"org"`
	Anchors         []json.RawMessage `json:"anchors"`
	Administrations []json.RawMessage `json:"administrations"`
}

// dose is one administration of a supply.administer payload.
type dose struct {
	RecordID string `json:"record_id"` // an Immunization anchored (version 1) by the same transaction
	Lot      string `json:"lot"`       // Immunization.lotNumber, optional
	EPC      string `json:"epc"`       // the vial's serial (SGTIN or Digital Link), optional
	Vaccine  string `json:"vaccine"`   // "system|code" of Immunization.vaccineCode, optional
	Year     int    `json:"year"`      // of occurrence, optional
}

// anchorHead is what supply reads of an anchor item; records checks the
// rest.
type anchorHead struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Patient cc.DID `json:"patient"`
	Version int    `json:"version"`
}

// AdministerResult is the Data of a supply.administer transaction. When
// Rejected is not empty, the transaction recorded fraud alerts only: no
// anchor, no administration and no stock change.
type AdministerResult struct {
	Count    int         `json:"count"`
	Linked   int         `json:"linked"`
	Unlinked int         `json:"unlinked"`
	Rejected []Rejection `json:"rejected"`
	Height   int64       `json:"height"`
}

// handleAdminister applies "supply.administer" {org, anchors: [record
// anchor…], administrations: [{record_id, lot?, epc?, vaccine?, year?}]}:
// the anchors exactly as record.anchor takes them, and one administration
// per new Immunization among them. It is how a custodian anchors any
// bundle holding immunizations, so that stock and coverage follow the
// records.
//
// Each administration names an Immunization anchored at version 1 by the
// same transaction (cc.Invalid otherwise, or when one is named twice); its
// patient is the anchor's. It is linked to tracked stock when org is in
// the supply chain (IsMember) and the administration carries a lot or an
// EPC; otherwise it is recorded as unlinked (historical immunizations, as
// Synthea writes them, or from organizations outside the supply chain).
//
// A linked dose is taken from the named EPC, or else from the first vial of
// the lot that org holds with a dose left (EPC order), and the vial's
// DosesUsed grows by one; a vial whose doses are all used is decommissioned
// with disposition "dispensed". Doses per vial come from the product
// (GTINOf, GetProduct; 1 when unregistered). Rules:
//   - org holds no item of the lot: cc.FailedPrecondition ("not in the
//     custody of");
//   - every held vial is quarantined, recalled, expired at block time or in
//     transit, or used up: cc.FailedPrecondition with the reason;
//   - the lot's product has a CVX code and the administration names another
//     CVX vaccine: cc.Invalid;
//   - a named EPC that does not carry the lot: cc.Invalid.
//
// Fraud signals concern a named EPC: one never commissioned
// (unknown_administration), one held by another organization
// (not_shipped_here) or one already used up (readminister). They do not
// fail the transaction: it then writes a FraudAlert per signal and
// nothing else (the immunization is refused; Data lists the rejections).
//
// Authorization: the signer must be a member of org with a clinical or the
// node role (cc.Unauthorized), and record.anchor's rules apply to the
// anchors (their errors fail the transaction).
//
// Writes the anchors (as record.anchor), the changed items, each
// Administration at sup/adm/{height}/{tx hash}/{idx} and its lot and
// patient indexes; emits a supply.administer event.
func handleAdminister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAdminister
	var p administerPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	if len(p.Administrations) == 0 || len(p.Administrations) > MaxAdministrationsPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "administrations must list 1 to %d administrations", MaxAdministrationsPerTx)
	}
	if len(p.Anchors) == 0 || len(p.Anchors) > records.MaxAnchorsPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "anchors must list 1 to %d anchors", records.MaxAnchorsPerTx)
	}
	heads := make(map[string]anchorHead, len(p.Anchors))
	for i, raw := range p.Anchors {
		var h anchorHead
		if err := json.Unmarshal(raw, &h); err != nil {
			return cc.Result{}, cc.Errorf(op, cc.Malformed, "anchors[%d] is not an anchor object", i)
		}
		heads[h.ID] = h
	}
	doses := make([]dose, len(p.Administrations))
	named := map[string]bool{}
	for i, raw := range p.Administrations {
		d := &doses[i]
		if err := decodeObject(op, "administrations["+strconv.Itoa(i)+"]", raw, d); err != nil {
			return cc.Result{}, err
		}
		if err := checkDose(op, i, d, heads, named); err != nil {
			return cc.Result{}, err
		}
	}
	allowed := false
	for _, r := range administerRoles {
		has, err := identity.HasRole(kv, p.Org, ctx.Signer, r)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if has {
			allowed = true
			break
		}
	}
	if !allowed {
		return cc.Result{}, cc.Errorf(op, cc.Unauthorized, "%s may not record immunizations for %q (needs a clinical or node role in an active organization)", ctx.Signer, p.Org)
	}
	member, err := IsMember(kv, p.Org)
	if err != nil {
		return cc.Result{}, err
	}

	a := &administering{op: op, org: p.Org, at: ctx.Time, height: ctx.Height, st: newState(kv), kv: kv}
	txHash := hex.EncodeToString(ctx.TxHash)
	if txHash == "" {
		txHash = "-"
	}
	blockTime := ctx.Time.UTC().Format(time.RFC3339Nano)
	res := AdministerResult{Count: len(doses), Rejected: []Rejection{}, Height: ctx.Height}
	out := make([]Administration, len(doses))
	var alerts []FraudAlert
	for i := range doses {
		d := &doses[i]
		ad := Administration{RecordID: d.RecordID, Patient: heads[d.RecordID].Patient, Org: p.Org,
			Lot: d.Lot, Vaccine: d.Vaccine, Year: d.Year, Doses: 1,
			Height: ctx.Height, Time: blockTime, TxHash: txHash, Index: i}
		if member && (d.Lot != "" || d.EPC != "") {
			alert, err := a.take(i, d, &ad)
			if err != nil {
				return cc.Result{}, err
			}
			if alert != nil {
				alert.Org, alert.Signer, alert.Height, alert.Time, alert.Event, alert.TxHash = p.Org, ctx.Signer, ctx.Height, blockTime, i, txHash
				alerts = append(alerts, *alert)
				res.Rejected = append(res.Rejected, Rejection{Event: i, Kind: kindOfAlert(alert.Kind).String(), Reason: alert.Reason, Alerts: []string{alert.EPC}})
				continue
			}
		}
		if ad.Linked {
			res.Linked++
		} else {
			res.Unlinked++
		}
		out[i] = ad
	}

	result := cc.Result{}
	if len(alerts) > 0 {
		// A fraud signal refuses the immunizations: record the alerts only.
		first, err := countAlerts(kv, ctx.Height)
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		for j, al := range alerts {
			if err := cc.SetJSON(kv, fraudKey(ctx.Height, first+j), al); err != nil {
				return cc.Result{}, err
			}
			result.Events = append(result.Events, cc.NewEvent("supply.fraud", "kind", al.Kind, "epc", al.EPC, "org", al.Org, "event", strconv.Itoa(al.Event)))
		}
		res.Linked, res.Unlinked = 0, 0
	} else {
		anchored, err := records.Handlers()[records.TypeAnchor](ctx, kv, anchorsPayload(p.Anchors))
		if err != nil {
			return cc.Result{}, err
		}
		if err := a.st.flush(kv); err != nil {
			return cc.Result{}, err
		}
		for i, ad := range out {
			if err := cc.SetJSON(kv, adminKey(ctx.Height, txHash, i), ad); err != nil {
				return cc.Result{}, err
			}
			if ad.Lot != "" {
				if err := cc.SetJSON(kv, adminLotKey(ad.Lot, ctx.Height, txHash, i), adminKey(ctx.Height, txHash, i)); err != nil {
					return cc.Result{}, err
				}
			}
			if err := cc.SetJSON(kv, adminPatientKey(ad.Patient, ctx.Height, txHash, i), adminKey(ctx.Height, txHash, i)); err != nil {
				return cc.Result{}, err
			}
		}
		result.Events = append(anchored.Events, cc.NewEvent(op, "org", p.Org,
			"count", strconv.Itoa(res.Count), "linked", strconv.Itoa(res.Linked), "unlinked", strconv.Itoa(res.Unlinked)))
	}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	result.Data = data
	return result, nil
}

// anchorsPayload returns the record.anchor payload {"anchors":[…]} of
// anchors, the values as they were decoded (each a whole JSON value, which
// the anchor handler decodes again; encoding/json's Marshal would only
// compact and re-escape them, which decodes to the same anchors).
func anchorsPayload(anchors []json.RawMessage) []byte {
	n := len(`{"anchors":[]}`) + len(anchors)
	for _, a := range anchors {
		n += len(a)
	}
	b := make([]byte, 0, n)
	b = append(b, `{"anchors":[`...)
	for i, a := range anchors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	return append(b, "]}"...)
}

// checkDose checks the fields of administrations[i].
func checkDose(op string, i int, d *dose, heads map[string]anchorHead, named map[string]bool) error {
	h, ok := heads[d.RecordID]
	switch {
	case !ok || h.Type != "Immunization" || h.Version != 1:
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: record_id %q must be a new Immunization (version 1) anchored by this transaction", i, cc.Echo(d.RecordID))
	case named[d.RecordID]:
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: %s is listed twice", i, d.RecordID)
	case d.Lot != "" && !printable(d.Lot, MaxLotLen):
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: lot must be 1 to %d printable characters without spaces", i, MaxLotLen)
	case d.EPC != "" && !ValidEPC(d.EPC):
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: epc %q is not an instance-level EPC", i, cc.Echo(d.EPC))
	case d.Vaccine != "" && (len(d.Vaccine) > MaxURILen || strings.ContainsAny(d.Vaccine, " \t\r\n")):
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: vaccine must be \"system|code\" of at most %d characters", i, MaxURILen)
	case d.Year != 0 && (d.Year < 1800 || d.Year > 9999):
		return cc.Errorf(op, cc.Invalid, "administrations[%d]: year %d is out of range", i, d.Year)
	}
	named[d.RecordID] = true
	return nil
}

// kindOfAlert is the error kind a fraud alert of kind k reports.
func kindOfAlert(k string) cc.Kind {
	switch k {
	case FraudUnknownAdministration, FraudUnknownReceipt:
		return cc.NotFound
	case FraudNotShippedHere:
		return cc.Unauthorized
	default:
		return cc.Conflict
	}
}

// administering takes doses from the stock of one organization.
type administering struct {
	op     string
	org    string
	at     time.Time
	height int64
	st     *state
	kv     cc.Reader
	lots   map[string]bool // lot master key → recalled (read cache)
}

// usable is Usable, and also refuses an item whose lot master is
// recalled: while a recall larger than MaxRecallItems is still marking
// items, the lot's status alone blocks use.
func (a *administering) usable(it *Item) (bool, string, error) {
	if ok, why := Usable(it, a.at); !ok || it.Lot == "" {
		return ok, why, nil
	}
	gtin, _ := GTINOf(it.EPC)
	key := lotKey(it.Lot, gtin)
	recalled, seen := a.lots[key]
	if !seen {
		var l Lot
		if _, err := cc.GetJSON(a.kv, key, &l); err != nil {
			return false, "", cc.E(a.op, cc.Internal, err)
		}
		recalled = l.Status == LotRecalled
		if a.lots == nil {
			a.lots = map[string]bool{}
		}
		a.lots[key] = recalled
	}
	if recalled {
		return false, "lot " + it.Lot + " was recalled", nil
	}
	return true, "", nil
}

// errf is an error of administrations[i].
func (a *administering) errf(kind cc.Kind, i int, format string, args ...any) error {
	return cc.Errorf(a.op, kind, "administrations[%d]: "+format, append([]any{i}, args...)...)
}

// dosesPerVial returns how many doses the item of epc holds: its
// product's doses per vial, 1 when the product is not registered.
func (a *administering) dosesPerVial(epc string) (int, error) {
	gtin, ok := GTINOf(epc)
	if !ok {
		return 1, nil
	}
	p, err := GetProduct(a.kv, gtin)
	if cc.Is(cc.NotFound, err) {
		return 1, nil
	}
	if err != nil {
		return 0, cc.E(a.op, cc.Internal, err)
	}
	return max(p.DosesPerVial, 1), nil
}

// take takes the dose of d from org's stock, filling in ad; a fraud signal
// is returned as an alert (and nothing is taken).
func (a *administering) take(i int, d *dose, ad *Administration) (*FraudAlert, error) {
	var it *Item
	if d.EPC != "" {
		var err error
		if it, err = a.st.get(d.EPC); err != nil {
			return nil, cc.E(a.op, cc.Internal, err)
		}
		alert := func(kind, format string, args ...any) *FraudAlert {
			reason := a.errf(kindOfAlert(kind), i, format, args...).Error()
			return &FraudAlert{Kind: kind, EPC: d.EPC, Reason: reason}
		}
		switch {
		case it == nil:
			return alert(FraudUnknownAdministration, "EPC %s was never commissioned", d.EPC), nil
		case it.Owner != a.org:
			return alert(FraudNotShippedHere, "EPC %s was never shipped to %s (it is in the custody of %s)", d.EPC, a.org, it.Owner), nil
		case it.Status == StatusDecommissioned && it.DosesUsed > 0:
			return alert(FraudReadminister, "every dose of EPC %s was already administered", d.EPC), nil
		}
		if d.Lot != "" && it.Lot != d.Lot {
			return nil, a.errf(cc.Invalid, i, "EPC %s is of lot %q, not %q", d.EPC, it.Lot, d.Lot)
		}
		if ok, why, err := a.usable(it); err != nil {
			return nil, err
		} else if !ok {
			return nil, a.errf(cc.FailedPrecondition, i, "EPC %s cannot be used: %s", d.EPC, why)
		}
		if len(it.Children) > 0 || it.Container {
			return nil, a.errf(cc.Invalid, i, "EPC %s is a container, not a vial", d.EPC)
		}
		n, err := a.dosesPerVial(it.EPC)
		if err != nil {
			return nil, err
		}
		if it.DosesUsed >= n {
			return alert(FraudReadminister, "every dose of EPC %s was already administered", d.EPC), nil
		}
	} else {
		held, err := HeldOfLot(a.kv, a.org, d.Lot)
		if err != nil {
			return nil, err
		}
		why := ""
		for _, epc := range held {
			x, err := a.st.get(epc)
			if err != nil {
				return nil, cc.E(a.op, cc.Internal, err)
			}
			if x == nil || x.Owner != a.org || len(x.Children) > 0 || x.Container || x.Status == StatusDecommissioned {
				continue
			}
			ok, r, err := a.usable(x)
			if err != nil {
				return nil, err
			}
			if !ok {
				if why == "" {
					why = r
				}
				continue
			}
			n, err := a.dosesPerVial(x.EPC)
			if err != nil {
				return nil, err
			}
			if x.DosesUsed < n {
				it = x
				break
			}
			if why == "" {
				why = "every dose was used"
			}
		}
		if it == nil {
			if why == "" {
				return nil, a.errf(cc.FailedPrecondition, i, "lot %s is not in the custody of %s", d.Lot, a.org)
			}
			return nil, a.errf(cc.FailedPrecondition, i, "no dose of lot %s held by %s can be used: %s", d.Lot, a.org, why)
		}
	}
	gtin, _ := GTINOf(it.EPC)
	if gtin != "" {
		p, err := GetProduct(a.kv, gtin)
		switch {
		case cc.Is(cc.NotFound, err):
		case err != nil:
			return nil, cc.E(a.op, cc.Internal, err)
		case p.CVX != "":
			want := CVXSystem + "|" + p.CVX
			if sys, code, ok := strings.Cut(d.Vaccine, "|"); ok && sys == CVXSystem && strings.TrimLeft(code, "0") != strings.TrimLeft(p.CVX, "0") {
				return nil, a.errf(cc.Invalid, i, "lot %s is %s (CVX %s), but the Immunization names vaccine %s", it.Lot, p.Name, p.CVX, d.Vaccine)
			}
			if d.Vaccine == "" {
				ad.Vaccine = want
			}
		}
	}
	n, err := a.dosesPerVial(it.EPC)
	if err != nil {
		return nil, err
	}
	it.DosesUsed++
	it.UpdatedAt = a.height
	if it.DosesUsed >= n {
		it.Status, it.Disposition = StatusDecommissioned, "dispensed"
		if it.Parent != "" {
			parent, err := a.st.get(it.Parent)
			if err != nil {
				return nil, cc.E(a.op, cc.Internal, err)
			}
			if parent != nil {
				parent.Children = remove(parent.Children, it.EPC)
				parent.UpdatedAt = a.height
				a.st.put(parent)
			}
			it.Parent = ""
		}
	}
	a.st.put(it)
	ad.Linked, ad.EPC, ad.GTIN, ad.Lot = true, it.EPC, gtin, it.Lot
	return nil, nil
}
