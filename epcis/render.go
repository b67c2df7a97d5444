package epcis

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"carechain/supply"
)

// ContextURL is the standard EPCIS 2.0 JSON-LD context.
const ContextURL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

// carechainContext maps the "cc:" prefix of the ledger fields that
// QueryDocument adds to each event (where and by whom it was captured).
var carechainContext = map[string]string{"cc": "https://carechain.dev/epcis/"}

// QueryDocument renders stored supply events as an EPCIS 2.0
// EPCISQueryDocument (JSON-LD) answering queryName, created at created.
// Each event carries the normalized fields the ledger keeps (the EPCIS
// fields of supply.Event; temperatures in °C) and, as extension fields,
// the capturing organization (cc:org), the block height (cc:height) and
// transaction (cc:txHash). The document passes Parse. next, when not
// empty, is the token of the next page (cc:nextPageToken).
func QueryDocument(queryName string, events []supply.StoredEvent, created time.Time, next string) ([]byte, error) {
	list := make([]map[string]any, len(events))
	for i := range events {
		list[i] = renderEvent(&events[i])
	}
	results := map[string]any{"queryName": queryName, "resultsBody": map[string]any{"eventList": list}}
	if next != "" {
		results["cc:nextPageToken"] = next
	}
	doc := map[string]any{
		"@context":      []any{ContextURL, carechainContext},
		"type":          "EPCISQueryDocument",
		"schemaVersion": "2.0",
		"creationDate":  created.UTC().Format(time.RFC3339Nano),
		"epcisBody":     map[string]any{"queryResults": results},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// renderEvent is one stored event in EPCIS 2.0 JSON.
func renderEvent(se *supply.StoredEvent) map[string]any {
	e := &se.Event
	m := map[string]any{"type": e.Type, "eventTime": e.EventTime, "eventTimeZoneOffset": zoneOffset(e.EventTime)}
	if e.EventID != "" {
		m["eventID"] = e.EventID
	}
	if e.Action != "" {
		m["action"] = e.Action
	}
	switch e.Type {
	case supply.AggregationEvent, supply.AssociationEvent:
		if e.ParentID != "" {
			m["parentID"] = e.ParentID
		}
		m["childEPCs"] = nonNil(e.ChildEPCs)
	case supply.TransformationEvent:
		m["inputEPCList"] = nonNil(e.InputEPCs)
		m["outputEPCList"] = nonNil(e.OutputEPCs)
		if e.TransformationID != "" {
			m["transformationID"] = e.TransformationID
		}
	case supply.TransactionEvent:
		if e.ParentID != "" {
			m["parentID"] = e.ParentID
		}
		m["epcList"] = nonNil(e.EPCs)
	default:
		m["epcList"] = nonNil(e.EPCs)
	}
	if len(e.BizTransactions) > 0 {
		bts := make([]map[string]string, len(e.BizTransactions))
		for i, l := range e.BizTransactions {
			bts[i] = map[string]string{"bizTransaction": l.ID}
			if l.Type != "" {
				bts[i]["type"] = l.Type
			}
		}
		m["bizTransactionList"] = bts
	}
	for _, l := range []struct {
		key string
		qs  []supply.Quantity
	}{{"quantityList", e.Quantities}, {"childQuantityList", e.ChildQuantities},
		{"inputQuantityList", e.InputQuantities}, {"outputQuantityList", e.OutputQuantities}} {
		if len(l.qs) > 0 {
			m[l.key] = renderQuantities(l.qs)
		}
	}
	if e.BizStep != "" {
		m["bizStep"] = e.BizStep
	}
	if e.Disposition != "" {
		m["disposition"] = e.Disposition
	}
	if e.ReadPoint != "" {
		m["readPoint"] = map[string]string{"id": e.ReadPoint}
	}
	if e.BizLocation != "" {
		m["bizLocation"] = map[string]string{"id": e.BizLocation}
	}
	if len(e.Sources) > 0 {
		m["sourceList"] = links(e.Sources, "source")
	}
	if len(e.Destinations) > 0 {
		m["destinationList"] = links(e.Destinations, "destination")
	}
	if e.Lot != "" || e.Expiry != "" {
		ilmd := map[string]string{}
		if e.Lot != "" {
			ilmd["cbvmda:lotNumber"] = e.Lot
		}
		if e.Expiry != "" {
			ilmd["cbvmda:itemExpirationDate"] = e.Expiry
		}
		m["ilmd"] = ilmd
	}
	if len(e.Sensors) > 0 {
		// One sensorElement per report: a span is element metadata.
		elems := make([]map[string]any, len(e.Sensors))
		for i, s := range e.Sensors {
			typ := s.Type
			if !strings.Contains(typ, ":") {
				typ = "gs1:" + typ
			}
			r := map[string]any{"type": typ, "value": json.Number(milli(s.ValueMilliC)), "uom": "CEL"}
			if s.Time != "" {
				r["time"] = s.Time
			}
			if s.MinMilliC != nil {
				r["minValue"] = json.Number(milli(*s.MinMilliC))
			}
			if s.MaxMilliC != nil {
				r["maxValue"] = json.Number(milli(*s.MaxMilliC))
			}
			el := map[string]any{"sensorReport": []any{r}}
			if s.StartTime != "" {
				el["sensorMetadata"] = map[string]string{"startTime": s.StartTime, "endTime": s.EndTime}
			}
			elems[i] = el
		}
		m["sensorElementList"] = elems
	}
	m["cc:org"] = se.Org
	m["cc:height"] = se.Height
	m["cc:txHash"] = se.TxHash
	return m
}

// milli formats an integer in thousandths as a decimal number.
func milli(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := sign + strconv.FormatInt(v/1000, 10)
	if f := v % 1000; f != 0 {
		s += strings.TrimRight("."+strconv.FormatInt(1000+f, 10)[1:], "0")
	}
	return s
}

// zoneOffset is the "+hh:mm" offset of an RFC 3339 time ("+00:00" for Z).
func zoneOffset(t string) string {
	if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
		return p.Format("-07:00")
	}
	return "+00:00"
}

func links(ls []supply.Link, key string) []map[string]string {
	out := make([]map[string]string, len(ls))
	for i, l := range ls {
		out[i] = map[string]string{"type": l.Type, key: l.ID}
	}
	return out
}

func renderQuantities(qs []supply.Quantity) []map[string]any {
	out := make([]map[string]any, len(qs))
	for i, q := range qs {
		m := map[string]any{"epcClass": q.Class}
		if q.Quantity != "" {
			m["quantity"] = json.Number(q.Quantity)
		}
		if q.UOM != "" {
			m["uom"] = q.UOM
		}
		out[i] = m
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
