package seed

import (
	"encoding/json"
	"fmt"
	"time"
)

// The demo vaccine supply chain: Acme Vaccines makes a COVID-19 mRNA
// vaccine (CVX 208, stored at −90…−60 °C, 6 doses per vial) and ships it
// through Coldline, the national store, to the North and South regional
// stores and on to the three vaccination sites. Three lots tell three
// stories: LotGood reaches every site; LotRecalled reaches Northside
// Family Clinic and is recalled after its first doses; LotExcursion is
// quarantined at the South store after a freezer failure (50 minutes at
// +6 °C, beyond the product's 30-minute budget) and waits there for the
// regulator's review.
const (
	Manufacturer  = "acme-vaccines"
	NationalStore = "coldline-distribution"
	NorthStore    = "north-regional-store"
	SouthStore    = "south-regional-store"
	Regulator     = "medicines-regulator"

	LotGood      = "ACM-2611A"
	LotRecalled  = "ACM-2611B"
	LotExcursion = "ACM-2611C"

	// CampaignCVX is the vaccine of the demo campaign.
	CampaignCVX = "208"
	// DosesPerVial is the campaign vaccine's doses per vial.
	DosesPerVial = 6

	vialPrefix = "urn:epc:id:sgtin:0614141.107346."
	casePrefix = "urn:epc:id:sscc:0614141."
)

// Site is a vaccination site of the demo campaign: the organization, the
// regional store that supplies it, and the practitioner (keystore name)
// who records its immunizations and receives its deliveries.
type Site struct {
	Org, Store, Staff string
}

// Sites are the demo's vaccination sites (the organizations that hold the
// demo patients' records, see LinkedOrgs).
var Sites = []Site{
	{"northside-clinic", NorthStore, "northside-nurse"},
	{"riverside-hospital", NorthStore, "riverside-physician"},
	{"st-mary-hospital", SouthStore, "st-mary-nurse"},
}

// SupplyStep is one step of the demo supply chain, signed by Signer for
// organization Org: a ledger transaction (Type and Payload) or, when Type
// is empty, an EPCIS 2.0 document (Doc) captured through the node's
// POST /epcis/capture.
type SupplyStep struct {
	Label   string
	Signer  Identity
	Org     string
	Type    string
	Payload any
	Doc     []byte
}

// shipment is one case of ten vials of a lot on its way to a site (or,
// for LotExcursion, to the South store only).
type shipment struct {
	lot   string
	site  string // "" when the case stops at its regional store
	store string
}

// shipments lists the demo's cases, in order.
var shipments = []shipment{
	{LotGood, "northside-clinic", NorthStore}, {LotGood, "northside-clinic", NorthStore},
	{LotGood, "riverside-hospital", NorthStore}, {LotGood, "riverside-hospital", NorthStore},
	{LotGood, "st-mary-hospital", SouthStore}, {LotGood, "st-mary-hospital", SouthStore},
	{LotRecalled, "northside-clinic", NorthStore},
	{LotExcursion, "", SouthStore},
}

// caseEPC returns the SSCC of case k (from 0) and the SGTINs of its vials.
func caseEPC(k int, lot string) (string, []string) {
	vials := make([]string, 10)
	for j := range vials {
		vials[j] = fmt.Sprintf("%s%s%03d", vialPrefix, lot[len(lot)-1:], k*10+j+1)
	}
	return fmt.Sprintf("%s%010d", casePrefix, 1000000000+k+1), vials
}

// gln returns the demo SGLN of an organization's main location.
func gln(n int) string { return fmt.Sprintf("urn:epc:id:sgln:0614141.%05d.0", n) }

// SupplyScript returns the demo supply chain's steps up to the sites'
// receipts, with event times in the three weeks before now: master data
// (product and locations), then EPCIS documents as each organization
// captures them. The recall (RecallStep) comes later, after the first
// doses of LotRecalled are given.
func (p *Population) SupplyScript(now time.Time) []SupplyStep {
	staff := map[string]Identity{}
	for _, s := range p.Staff {
		staff[s.Name] = s
	}
	acme := staff["acme-logistics"]
	steps := []SupplyStep{{Label: "product", Signer: acme, Org: Manufacturer, Type: "supply.product.register", Payload: map[string]any{
		"org": Manufacturer, "gtin": "10614141073464", "name": "Acme COVID-19 mRNA vaccine, 6-dose vial", "cvx": CampaignCVX,
		"snomed": "1119349007", "storage_min_milli_c": -90000, "storage_max_milli_c": -60000, "excursion_minutes": 30,
		"doses_per_vial": DosesPerVial}}}
	locs := []struct{ org, name, region string }{
		{Manufacturer, "Acme fill-finish plant", "East"}, {NationalStore, "National vaccine store", "East"},
		{NorthStore, "North regional store", "North"}, {SouthStore, "South regional store", "South"},
		{"northside-clinic", "Northside Family Clinic", "North"}, {"riverside-hospital", "Riverside General pharmacy", "North"},
		{"st-mary-hospital", "St Mary's vaccination centre", "South"},
	}
	where := map[string]string{}
	for i, l := range locs {
		where[l.org] = gln(i + 1)
		signer := p.Admins[l.org]
		steps = append(steps, SupplyStep{Label: "location", Signer: signer, Org: l.org, Type: "supply.location.register",
			Payload: map[string]any{"org": l.org, "gln": gln(i + 1), "name": l.name, "region": l.region}})
	}
	t := now.UTC().Add(-21 * 24 * time.Hour).Truncate(time.Hour)
	at := func(h int) string { return t.Add(time.Duration(h) * time.Hour).Format(time.RFC3339) }
	cold := func(h int, milliC int64) map[string]any {
		return map[string]any{"type": "gs1:Temperature", "time": at(h), "value": float64(milliC) / 1000, "uom": "CEL"}
	}
	expiry := now.UTC().AddDate(1, 0, 0).Format(time.DateOnly)

	// Acme commissions and packs each lot, and ships every case.
	var acmeEvents []map[string]any
	cases := make([]string, len(shipments))
	for k, s := range shipments {
		c, vials := caseEPC(k, s.lot)
		cases[k] = c
		acmeEvents = append(acmeEvents,
			objectEvent("ADD", "commissioning", "active", at(0), vials, where[Manufacturer], map[string]any{
				"ilmd": map[string]string{"cbvmda:lotNumber": s.lot, "cbvmda:itemExpirationDate": expiry}}),
			map[string]any{"type": "AggregationEvent", "action": "ADD", "bizStep": "packing", "disposition": "in_progress",
				"eventTime": at(1), "eventTimeZoneOffset": "+00:00", "parentID": c, "childEPCs": vials,
				"bizLocation": map[string]string{"id": where[Manufacturer]}})
	}
	acmeEvents = append(acmeEvents, shipEvent(at(2), cases, where[Manufacturer], NationalStore, cold(2, -75000)))
	steps = append(steps, SupplyStep{Label: "Acme commissions, packs and ships", Signer: acme, Org: Manufacturer, Doc: epcisDoc(now, acmeEvents)})

	// The national store receives everything and ships on to the regions.
	byStore := map[string][]string{}
	for k, s := range shipments {
		byStore[s.store] = append(byStore[s.store], cases[k])
	}
	steps = append(steps, SupplyStep{Label: "national store", Signer: staff["coldline-logistics"], Org: NationalStore, Doc: epcisDoc(now, []map[string]any{
		objectEvent("OBSERVE", "receiving", "in_progress", at(26), cases, where[NationalStore], nil),
		shipEvent(at(50), byStore[NorthStore], where[NationalStore], NorthStore, cold(50, -74000)),
		shipEvent(at(51), byStore[SouthStore], where[NationalStore], SouthStore, cold(51, -76000)),
	})})

	// Each regional store receives and ships to its sites; the South
	// store's freezer fails with LotExcursion's case inside.
	for n, store := range []string{NorthStore, SouthStore} {
		h := 80 + 40*n
		evs := []map[string]any{objectEvent("OBSERVE", "receiving", "in_progress", at(h), byStore[store], where[store], nil)}
		bySite := map[string][]string{}
		var siteOrder []string
		for k, s := range shipments {
			if s.store != store {
				continue
			}
			if s.site == "" {
				evs = append(evs, map[string]any{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing", "disposition": "in_progress",
					"eventTime": at(h + 3), "eventTimeZoneOffset": "+00:00", "epcList": []string{cases[k]},
					"bizLocation":       map[string]string{"id": where[store]},
					"sensorElementList": []any{map[string]any{"sensorReport": []any{cold(h+2, -72000), tempAt(t, h+2, 50, 6000)}}}})
				continue
			}
			if _, ok := bySite[s.site]; !ok {
				siteOrder = append(siteOrder, s.site)
			}
			bySite[s.site] = append(bySite[s.site], cases[k])
		}
		for j, site := range siteOrder {
			evs = append(evs, shipEvent(at(h+6+j), bySite[site], where[store], site, cold(h+6+j, -73000)))
		}
		steps = append(steps, SupplyStep{Label: "regional store " + store, Signer: staff[map[string]string{NorthStore: "north-store-logistics", SouthStore: "south-store-logistics"}[store]],
			Org: store, Doc: epcisDoc(now, evs)})
	}

	// The sites receive their cases.
	for j, site := range Sites {
		var mine []string
		for k, s := range shipments {
			if s.site == site.Org {
				mine = append(mine, cases[k])
			}
		}
		steps = append(steps, SupplyStep{Label: "site " + site.Org, Signer: staff[site.Staff], Org: site.Org, Doc: epcisDoc(now, []map[string]any{
			objectEvent("OBSERVE", "receiving", "in_progress", at(150+j), mine, where[site.Org], nil)})})
	}
	return steps
}

// RecallStep is Acme's recall of LotRecalled.
func (p *Population) RecallStep() SupplyStep {
	var acme Identity
	for _, s := range p.Staff {
		if s.Name == "acme-logistics" {
			acme = s
		}
	}
	return SupplyStep{Label: "recall", Signer: acme, Org: Manufacturer, Type: "supply.recall", Payload: map[string]any{
		"org": Manufacturer, "lot": LotRecalled, "reason": "potency below specification in stability testing"}}
}

// districtUptake is the demo campaign's designed uptake of dose 1, in
// permille, by home district: higher in less deprived districts (the
// quintiles of index/areas.csv) and in the North, so that coverage shows
// disparities by region and deprivation.
var districtUptake = map[string]int{
	"Northbridge": 620, "Hillcrest": 760, "Ashford": 840, // North: quintiles 2, 4, 5
	"Eastfield": 300, "Millbrook": 500, "Stonegate": 600, // East: 1, 3, 4
	"Riverside": 560, "Southport": 340, "Greenvale": 760, // South: 3, 1, 5
	"Lakeview": 400, "Westmoor": 480, "Oakridge": 260, // West: 2, 3, 1
}

// CampaignDoses returns how many campaign doses (0, 1 or 2) demo patient
// i (from 1) receives: dose 1 with the uptake of their district, dose 2
// for seven in ten of those. Deterministic for the seed.
func (p *Population) CampaignDoses(i int) int {
	r := &rnd{seed: p.Seed + "\x00campaign\x00" + PatientKey(i)}
	if r.intn(1000) >= districtUptake[p.District(i)] {
		return 0
	}
	if r.intn(10) < 7 {
		return 2
	}
	return 1
}

func objectEvent(action, step, disp, at string, epcs []string, loc string, extra map[string]any) map[string]any {
	e := map[string]any{"type": "ObjectEvent", "action": action, "bizStep": step, "disposition": disp,
		"eventTime": at, "eventTimeZoneOffset": "+00:00", "epcList": epcs,
		"readPoint": map[string]string{"id": loc}, "bizLocation": map[string]string{"id": loc}}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func shipEvent(at string, epcs []string, from, to string, report map[string]any) map[string]any {
	e := objectEvent("OBSERVE", "shipping", "in_transit", at, epcs, from, nil)
	delete(e, "bizLocation")
	e["destinationList"] = []any{map[string]string{"type": "owning_party", "destination": "org:" + to}}
	e["sensorElementList"] = []any{map[string]any{"sensorReport": []any{report}}}
	return e
}

// tempAt is a temperature report minutes after hour h of t.
func tempAt(t time.Time, h, minutes int, milliC int64) map[string]any {
	return map[string]any{"type": "gs1:Temperature", "uom": "CEL", "value": float64(milliC) / 1000,
		"time": t.Add(time.Duration(h)*time.Hour + time.Duration(minutes)*time.Minute).Format(time.RFC3339)}
}

func epcisDoc(now time.Time, events []map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"@context": []string{"https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"},
		"type":     "EPCISDocument", "schemaVersion": "2.0", "creationDate": now.UTC().Format(time.RFC3339),
		"epcisBody": map[string]any{"eventList": events},
	})
	return b
}
