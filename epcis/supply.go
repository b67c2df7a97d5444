package epcis

import (
	"math"
	"time"

	cc "carechain"
	"carechain/supply"
)

const op = "epcis"

// SupplyEvents converts the events of a parsed document into supply.capture events:
// times in RFC 3339 with the event's own zone offset, lots and expiry
// dates from the ILMD, and temperature reports as integer milli-degrees
// Celsius (the ledger holds no floats). Reports that are not temperatures
// are left out. TransformationEvents, which the ledger does not capture
// yet, are cc.Invalid.
func SupplyEvents(doc *Document) ([]supply.Event, error) {
	out := make([]supply.Event, 0, len(doc.Events))
	for i, e := range doc.Events {
		if e.Type == TransformationEvent {
			return nil, cc.Errorf(op, cc.Invalid, "event %d: TransformationEvent is not captured yet", i)
		}
		se := supply.Event{
			Type: e.Type, Action: e.Action, EventTime: e.EventTime.Format(time.RFC3339Nano), EventID: e.EventID,
			EPCs: e.EPCs, ParentID: e.ParentID, ChildEPCs: e.ChildEPCs, BizStep: e.BizStep, Disposition: e.Disposition,
			ReadPoint: e.ReadPoint, BizLocation: e.BizLocation, Lot: e.ILMD.Lot,
		}
		for _, l := range e.Sources {
			se.Sources = append(se.Sources, supply.Link{Type: l.Type, ID: l.ID})
		}
		for _, l := range e.Destinations {
			se.Destinations = append(se.Destinations, supply.Link{Type: l.Type, ID: l.ID})
		}
		if !e.ILMD.Expiry.IsZero() {
			se.Expiry = e.ILMD.Expiry.Format("2006-01-02")
		}
		for _, s := range e.Sensors {
			c := s.Celsius
			if c == nil {
				c = s.MaxCelsius // an interval report: its worst value
			}
			if c == nil {
				continue
			}
			sr := supply.Sensor{Type: s.Type, ValueMilliC: int64(math.Round(*c * 1000))}
			if !s.Time.IsZero() {
				sr.Time = s.Time.Format(time.RFC3339Nano)
			}
			se.Sensors = append(se.Sensors, sr)
		}
		out = append(out, se)
	}
	return out, nil
}
