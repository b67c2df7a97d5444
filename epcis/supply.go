package epcis

import (
	"math"
	"strconv"
	"time"

	"carechain/supply"
)

const op = "epcis"

// SupplyEvents converts the events of a parsed document into supply.capture events:
// times in RFC 3339 with the event's own zone offset, lots and expiry
// dates from the ILMD, and temperature reports as integer milli-degrees
// Celsius (the ledger holds no floats: the value, else the mean, else the
// maximum of an interval report, with its minimum, maximum and span).
// Reports that are not temperatures are left out; business transactions
// and quantity lists are kept. A TransformationEvent keeps its input and
// output EPCs and quantities and its transformationID (its ILMD lot and
// expiry are those of the outputs).
func SupplyEvents(doc *Document) ([]supply.Event, error) {
	out := make([]supply.Event, 0, len(doc.Events))
	for _, e := range doc.Events {
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
		for _, l := range e.BizTransactions {
			se.BizTransactions = append(se.BizTransactions, supply.Link{Type: l.Type, ID: l.ID})
		}
		se.Quantities = quantities(e.Quantities)
		se.ChildQuantities = quantities(e.ChildQuantities)
		se.InputEPCs, se.OutputEPCs, se.TransformationID = e.InputEPCs, e.OutputEPCs, e.TransformationID
		se.InputQuantities = quantities(e.InputQuantities)
		se.OutputQuantities = quantities(e.OutputQuantities)
		for _, s := range e.Sensors {
			c := s.Celsius
			if c == nil {
				c = s.MeanCelsius
			}
			if c == nil {
				c = s.MaxCelsius // an interval report without a value: its worst value
			}
			if c == nil {
				continue
			}
			sr := supply.Sensor{Type: s.Type, ValueMilliC: milliC(*c), MinMilliC: milliPtr(s.MinCelsius), MaxMilliC: milliPtr(s.MaxCelsius)}
			if !s.Time.IsZero() {
				sr.Time = s.Time.Format(time.RFC3339Nano)
			}
			if !s.StartTime.IsZero() && !s.EndTime.IsZero() {
				sr.StartTime, sr.EndTime = s.StartTime.Format(time.RFC3339Nano), s.EndTime.Format(time.RFC3339Nano)
			}
			se.Sensors = append(se.Sensors, sr)
		}
		out = append(out, se)
	}
	return out, nil
}

// milliC converts °C to integer milli-degrees, rounding half away from
// zero.
func milliC(c float64) int64 { return int64(math.Round(c * 1000)) }

func milliPtr(c *float64) *int64 {
	if c == nil {
		return nil
	}
	v := milliC(*c)
	return &v
}

// quantities converts quantity elements, amounts as decimal strings.
func quantities(qs []Quantity) []supply.Quantity {
	var out []supply.Quantity
	for _, q := range qs {
		sq := supply.Quantity{Class: q.Class, UOM: q.UOM}
		if q.HasQuantity {
			sq.Quantity = strconv.FormatFloat(q.Quantity, 'f', -1, 64)
		}
		out = append(out, sq)
	}
	return out
}
