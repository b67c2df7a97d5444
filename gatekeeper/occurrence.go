package gatekeeper

import (
	"time"

	"carechain/fhir"
)

// ImmunizationDate is the occurrence date of an Immunization this node
// ingested: PHI that stays in the node (the ledger keeps the year only).
// The node's read model joins it to the ledger's administration by record
// id for coverage trends.
type ImmunizationDate struct {
	RecordID string // "Immunization/{id}"
	Date     string // YYYY-MM-DD, the date of occurrenceDateTime as written (its own time zone)
}

// immunizationDates returns the occurrence dates of the Immunizations
// among fresh (the new resources and new versions an ingest stored).
func immunizationDates(fresh []*fhir.Resource) []ImmunizationDate {
	var out []ImmunizationDate
	for _, r := range fresh {
		if r.Type == "Immunization" && !r.DataTime.IsZero() {
			out = append(out, ImmunizationDate{RecordID: r.Reference(), Date: r.DataTime.Format(time.DateOnly)})
		}
	}
	return out
}
