package fhir

import (
	"encoding/json"
	"strconv"
	"strings"
)

// RxLedgerURL is the url of the extension that carries a prescription's
// state on the ledger in a MedicationRequest (see WithRxLedger).
const RxLedgerURL = "https://carechain.dev/fhir/StructureDefinition/prescription-ledger"

// RxLedger is what the ledger holds of an e-prescription, as a read of its
// MedicationRequest shows it. Quantities are in thousandths of Unit.
type RxLedger struct {
	Status         string // "active", "completed" or "cancelled"
	TotalMilli     int64  // quantity × (1 + repeats)
	DispensedMilli int64
	RemainingMilli int64
	Unit           string
	Fills          int
	ValidUntil     string // YYYY-MM-DD; "" when none
}

// WithRxLedger returns the MedicationRequest resource (FHIR JSON) with
// status set to the ledger's (active, completed or cancelled: the same
// codes in FHIR) and one extension RxLedgerURL, replacing any earlier
// one, whose sub-extensions are "status" (valueCode), "dispensed",
// "remaining" and "total" (valueQuantity in Unit, decimals exact), "fills"
// (valueUnsignedInt) and "validUntil" (valueDate, when known). A body that
// is not a JSON object, or a status that is not one of the three, leaves
// the resource unchanged.
func WithRxLedger(resource []byte, l RxLedger) []byte {
	switch l.Status {
	case "active", "completed", "cancelled":
	default:
		return resource
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(resource, &top) != nil || top == nil {
		return resource
	}
	var exts []json.RawMessage
	if raw, ok := top["extension"]; ok && json.Unmarshal(raw, &exts) != nil {
		return resource
	}
	kept := exts[:0]
	for _, e := range exts {
		var probe struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(e, &probe) == nil && probe.URL == RxLedgerURL {
			continue
		}
		kept = append(kept, e)
	}
	quantity := func(milli int64) map[string]any {
		q := map[string]any{"value": json.Number(MilliText(milli))}
		if l.Unit != "" {
			q["unit"] = l.Unit
		}
		return q
	}
	subs := []any{
		map[string]any{"url": "status", "valueCode": l.Status},
		map[string]any{"url": "dispensed", "valueQuantity": quantity(l.DispensedMilli)},
		map[string]any{"url": "remaining", "valueQuantity": quantity(l.RemainingMilli)},
		map[string]any{"url": "total", "valueQuantity": quantity(l.TotalMilli)},
		map[string]any{"url": "fills", "valueUnsignedInt": l.Fills},
	}
	if l.ValidUntil != "" {
		subs = append(subs, map[string]any{"url": "validUntil", "valueDate": l.ValidUntil})
	}
	ext, err := json.Marshal(map[string]any{"url": RxLedgerURL, "extension": subs})
	if err != nil {
		return resource
	}
	if top["extension"], err = json.Marshal(append(kept, ext)); err != nil {
		return resource
	}
	top["status"], _ = json.Marshal(l.Status)
	out, err := json.Marshal(top)
	if err != nil {
		return resource
	}
	return out
}

// MilliText is the exact decimal text of a quantity in thousandths
// (30000 → "30", 2500 → "2.5", 125 → "0.125"), the inverse of MilliOf.
func MilliText(milli int64) string {
	neg := milli < 0
	if neg {
		milli = -milli
	}
	s := strconv.FormatInt(milli/1000, 10)
	if frac := milli % 1000; frac != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(1000+frac, 10)[1:], "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
