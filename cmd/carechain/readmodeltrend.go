package main

import (
	"log/slog"

	"carechain/gatekeeper"
	"carechain/index"
)

// occurrences keeps the occurrence dates of the Immunizations this node's
// custodians ingest in the read model, for coverage trends (the
// gatekeepers' OnImmunizations hook).
func (rm *readModel) occurrences(log *slog.Logger) func([]gatekeeper.ImmunizationDate) {
	return func(ds []gatekeeper.ImmunizationDate) {
		occ := make([]index.Occurrence, len(ds))
		for i, d := range ds {
			occ[i] = index.Occurrence{RecordID: d.RecordID, Date: d.Date}
		}
		if err := rm.db.UpsertOccurrences(occ); err != nil {
			log.Error("occurrence dates", "err", err, "immunizations", len(occ))
		}
	}
}
