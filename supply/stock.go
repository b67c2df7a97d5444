package supply

import (
	"fmt"
	"slices"
	"strings"
	"time"

	cc "carechain"
)

// Indexes derived from items, kept in step by state.flush (indexItem):
//
//	sup/member/{org}                 true: org is in the supply chain (it has held stock or registered a location)
//	sup/li/{lot}/{epc}               true: epc carries lot (any status, any owner)
//	sup/h/{org}/{lot}/{epc}          true: org holds epc of lot (not decommissioned)
//	sup/lu/{lot}/{gtin or "-"}/{epc} true: epc of lot is live and not recalled (what a recall still has to mark)
//
// and the immunization log (see handleAdminister):
//
//	sup/adm/{%020d height}/{tx hash hex}/{%04d idx}   Administration
//	sup/al/{lot}/{%020d height}/{tx hash hex}/{%04d idx}  JSON string: the sup/adm key of an administration of lot
//	sup/ap/{patient}/{%020d height}/{tx hash hex}/{%04d idx}  JSON string: the sup/adm key of an administration to patient
//
// Lot numbers are escaped like EPCs (epcSegment).
const (
	prefixMember  = "sup/member/"
	prefixLotItem = "sup/li/"
	prefixHeld    = "sup/h/"
	prefixUnrecal = "sup/lu/"
	prefixAdmin   = "sup/adm/"
	prefixAdmLot  = "sup/al/"
	prefixAdmPat  = "sup/ap/"
)

// jsonTrue is the value of an index entry: JSON true, as cc.SetJSON writes
// it. It is written with cc.SetOwned, shared by every entry, and never
// modified.
var jsonTrue = []byte("true")

// memberKey marks org as a supply-chain participant.
func memberKey(org string) string { return prefixMember + org }

// lotItemsPrefix selects every item of lot.
func lotItemsPrefix(lot string) string { return prefixLotItem + epcSegment(lot) + "/" }

// heldPrefix selects the items of lot that org holds.
func heldPrefix(org, lot string) string {
	return prefixHeld + org + "/" + epcSegment(lot) + "/"
}

// unrecalledPrefix selects the live, unrecalled items of lot and gtin
// ("" when the EPCs carry none).
func unrecalledPrefix(lot, gtin string) string {
	if gtin == "" {
		gtin = "-"
	}
	return prefixUnrecal + epcSegment(lot) + "/" + gtin + "/"
}

// adminBlockPrefix selects the administrations of the block at height.
func adminBlockPrefix(height int64) string { return fmt.Sprintf("%s%020d/", prefixAdmin, height) }

// adminKey is the key of the idx-th administration of the transaction
// txHash at height.
func adminKey(height int64, txHash string, idx int) string {
	return fmt.Sprintf("%s%s/%04d", adminBlockPrefix(height), txHash, idx)
}

// adminLotKey indexes the administration at adminKey(height, txHash, idx)
// under its lot.
func adminLotKey(lot string, height int64, txHash string, idx int) string {
	return fmt.Sprintf("%s%s/%020d/%s/%04d", prefixAdmLot, epcSegment(lot), height, txHash, idx)
}

// adminPatientKey indexes the administration at adminKey(height, txHash,
// idx) under its patient (a DID: never '/').
func adminPatientKey(patient cc.DID, height int64, txHash string, idx int) string {
	return fmt.Sprintf("%s%s/%020d/%s/%04d", prefixAdmPat, patient, height, txHash, idx)
}

// IsMember reports whether org takes part in the supply chain: it has held
// stock or registered a location. An immunization with a lot number from
// a member must name a lot the member holds; one from any other
// organization is recorded as unlinked.
func IsMember(kv cc.Reader, org string) (bool, error) {
	b, err := kv.Get(memberKey(org))
	if err != nil {
		return false, cc.E("supply.member", cc.Internal, err)
	}
	return b != nil, nil
}

// markMember records that org takes part in the supply chain.
func markMember(kv cc.KV, org string) error {
	return cc.SetJSON(kv, memberKey(org), true)
}

// indexItem updates the indexes of an item written over old (nil when the
// item is new). members, if not nil, remembers the organizations known to
// be supply-chain members (a transaction's many items share a few owners).
func indexItem(kv cc.KV, old, it *Item, members map[string]bool) error {
	if it.Lot != "" && (old == nil || old.Lot != it.Lot) {
		if old != nil && old.Lot != "" {
			kv.Delete(lotItemsPrefix(old.Lot) + epcSegment(it.EPC))
		}
		cc.SetOwned(kv, lotItemsPrefix(it.Lot)+epcSegment(it.EPC), jsonTrue)
	}
	held := func(x *Item) string {
		if x == nil || x.Lot == "" || x.Status == StatusDecommissioned {
			return ""
		}
		return heldPrefix(x.Owner, x.Lot) + epcSegment(x.EPC)
	}
	unrecalled := func(x *Item) string {
		if x == nil || x.Lot == "" || x.Status == StatusDecommissioned || x.Status == StatusRecalled {
			return ""
		}
		gtin, _ := GTINOf(x.EPC)
		return unrecalledPrefix(x.Lot, gtin) + epcSegment(x.EPC)
	}
	// The keys of old and it are equal, so nothing changes, when what they
	// derive from is (the most common case: a custody move of an item).
	ended := func(x *Item) bool { return x.Status == StatusDecommissioned }
	endedOrRecalled := func(x *Item) bool { return x.Status == StatusDecommissioned || x.Status == StatusRecalled }
	sameLot := old != nil && old.Lot == it.Lot && old.EPC == it.EPC
	sameHeld := sameLot && old.Owner == it.Owner && ended(old) == ended(it)
	sameUnrecalled := sameLot && endedOrRecalled(old) == endedOrRecalled(it)
	var keys [][2]string
	if !sameHeld {
		keys = append(keys, [2]string{held(old), held(it)})
	}
	if !sameUnrecalled {
		keys = append(keys, [2]string{unrecalled(old), unrecalled(it)})
	}
	for _, key := range keys {
		if before, after := key[0], key[1]; before != after {
			if before != "" {
				kv.Delete(before)
			}
			if after != "" {
				cc.SetOwned(kv, after, jsonTrue)
			}
		}
	}
	if it.Owner != "" && (old == nil || old.Owner != it.Owner) && !members[it.Owner] {
		b, err := kv.Get(memberKey(it.Owner))
		if err != nil {
			return err
		}
		if members != nil {
			members[it.Owner] = true // a member from here on (marked below if not yet)
		}
		if b == nil {
			return markMember(kv, it.Owner)
		}
	}
	return nil
}

// unescapeSegment reverses epcSegment.
func unescapeSegment(seg string) string {
	if !strings.Contains(seg, "%") {
		return seg
	}
	return strings.NewReplacer("%2F", "/", "%25", "%").Replace(seg)
}

// ItemsOfLot calls fn with every EPC that carries lot, in key order, until
// fn returns false.
func ItemsOfLot(kv cc.Reader, lot string, fn func(epc string) bool) error {
	prefix := lotItemsPrefix(lot)
	err := kv.Iterate(prefix, func(key string, _ []byte) bool {
		return fn(unescapeSegment(key[len(prefix):]))
	})
	if err != nil {
		return cc.E("supply.lot", cc.Internal, err)
	}
	return nil
}

// HeldOfLot returns the EPCs of lot that org holds (not decommissioned),
// sorted by key.
func HeldOfLot(kv cc.Reader, org, lot string) ([]string, error) {
	prefix := heldPrefix(org, lot)
	var out []string
	err := kv.Iterate(prefix, func(key string, _ []byte) bool {
		out = append(out, unescapeSegment(key[len(prefix):]))
		return true
	})
	if err != nil {
		return nil, cc.E("supply.stock", cc.Internal, err)
	}
	return out, nil
}

// Expired reports whether it is past its expiry date at t (block time):
// an item whose expiry is YYYY-MM-DD is usable through that day (UTC).
func Expired(it *Item, t time.Time) bool {
	if it.Expiry == "" {
		return false
	}
	return t.UTC().Format(time.DateOnly) > it.Expiry
}

// Usable reports whether a dose may be taken from it at t: it is held
// (active or received), not quarantined, recalled, decommissioned or in
// transit, and not expired. The reason says why not.
func Usable(it *Item, t time.Time) (bool, string) {
	switch {
	case it.Status == StatusActive || it.Status == StatusReceived:
	case it.Status == StatusInTransit:
		return false, "in transit to " + it.InTransitTo
	default:
		return false, it.Status
	}
	if Expired(it, t) {
		return false, "expired on " + it.Expiry
	}
	return true, ""
}

// Administration is one recorded immunization, as the ledger keeps it: no
// PHI, only the patient's DID, the record id of the FHIR Immunization, the
// lot and product, the vaccine code and the year the dose was given.
type Administration struct {
	RecordID string `json:"record_id"` // "Immunization/{id}"
	Patient  cc.DID `json:"patient"`
	Org      string `json:"org"` // the administering (custodian) organization
	Lot      string `json:"lot,omitempty"`
	EPC      string `json:"epc,omitempty"`     // the vial or syringe the dose came from, when linked
	GTIN     string `json:"gtin,omitempty"`    // of the product, when known
	Vaccine  string `json:"vaccine,omitempty"` // "system|code", e.g. "http://hl7.org/fhir/sid/cvx|140"
	Year     int    `json:"year,omitempty"`    // of occurrence
	Doses    int    `json:"doses"`
	Linked   bool   `json:"linked"` // the dose was taken from tracked stock
	Height   int64  `json:"height"`
	Time     string `json:"time"` // block time, RFC 3339
	TxHash   string `json:"tx_hash"`
	Index    int    `json:"index"`
}

// AdministrationsAt returns the administrations recorded in the block at
// height, in order.
func AdministrationsAt(kv cc.Reader, height int64) ([]Administration, error) {
	var out []Administration
	err := cc.IterateJSON("supply.administrations", kv, adminBlockPrefix(height), func(a Administration) bool {
		out = append(out, a)
		return true
	})
	return out, err
}

// AdministrationsOfTx returns the administrations that the transaction
// txHash (hex) recorded at height, in payload order.
func AdministrationsOfTx(kv cc.Reader, height int64, txHash string) ([]Administration, error) {
	var out []Administration
	err := cc.IterateJSON("supply.administrations", kv, adminBlockPrefix(height)+txHash+"/", func(a Administration) bool {
		out = append(out, a)
		return true
	})
	return out, err
}

// AdministrationsOfLot returns every administration of lot, oldest first.
func AdministrationsOfLot(kv cc.Reader, lot string) ([]Administration, error) {
	return administrationsIndexed(kv, prefixAdmLot+epcSegment(lot)+"/")
}

// AdministrationsOfPatient returns every administration to patient,
// oldest first.
func AdministrationsOfPatient(kv cc.Reader, patient cc.DID) ([]Administration, error) {
	if !patient.Valid() {
		return nil, nil
	}
	return administrationsIndexed(kv, prefixAdmPat+string(patient)+"/")
}

// administrationsIndexed returns the administrations an index under prefix
// points to, in index order.
func administrationsIndexed(kv cc.Reader, prefix string) ([]Administration, error) {
	const op = "supply.administrations"
	var keys []string
	err := cc.IterateJSON(op, kv, prefix, func(k string) bool {
		keys = append(keys, k)
		return true
	})
	if err != nil {
		return nil, err
	}
	out := make([]Administration, 0, len(keys))
	for _, k := range keys {
		var a Administration
		found, err := cc.GetJSON(kv, k, &a)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, a)
		}
	}
	return out, nil
}

// EventsAt returns the events accepted in the block at height, in ledger
// order.
func EventsAt(kv cc.Reader, height int64) ([]StoredEvent, error) {
	var out []StoredEvent
	err := iterateEvents("supply.events", kv, fmt.Sprintf("%s%020d/", prefixEvent, height), func(e StoredEvent) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
