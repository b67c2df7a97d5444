package gatekeeper

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	cc "carechain"
	"carechain/fhir"
	"carechain/records"
	"carechain/supply"
	"carechain/vault"
)

// Submitter says who submits data and for which patient: the practitioner
// (authenticated at the edge) and their organization, and the patient DID
// the bundle's Patient compartment is bound to (for single-patient bundles
// such as Synthea's; empty for directory bundles).
type Submitter struct {
	Author    cc.DID
	AuthorOrg string
	Patient   cc.DID
}

// IngestResult reports what an ingest stored.
type IngestResult struct {
	Created  int            `json:"created"`
	Updated  int            `json:"updated"`
	Existing int            `json:"existing"`
	ByType   map[string]int `json:"by_type"`
	IDs      []string       `json:"ids"` // created and updated, sorted
	Entries  []EntryResult  `json:"entries"`
	Height   int64          `json:"height"`
	// Patient and ClaimCode are set by a custodial ingest: the patient
	// DID created and the one-time code to hand to the person.
	Patient   cc.DID `json:"patient,omitempty"`
	ClaimCode string `json:"claim_code,omitempty"`
}

// EntryResult is the outcome of one bundle entry, in bundle order.
type EntryResult struct {
	Ref     string `json:"ref"`     // "{Type}/{id}"
	Version int    `json:"version"` // the version stored or found
	Status  string `json:"status"`  // "201 Created", "200 OK" (an update) or "200 OK" (existing)
}

// maxAnchorsPerTx keeps each record.anchor transaction under the ledger's
// per-transaction limits.
const maxAnchorsPerTx = 1000

// IngestBundle validates a FHIR transaction or batch bundle, resolves its
// references, encrypts every new resource into the vault and anchors them
// on the ledger. A transaction is all or nothing: if validation, resolution
// or anchoring fails, nothing is anchored and the blobs written are
// removed. Invalid input answers a *fhir.OutcomeError.
func (g *Gatekeeper) IngestBundle(ctx context.Context, raw []byte, who Submitter) (*IngestResult, error) {
	entries, err := g.prepare(raw)
	if err != nil {
		return nil, err
	}
	return g.store(ctx, entries, who)
}

// prepare parses and resolves a bundle — every resource to be stored is
// validated here — without writing anything.
func (g *Gatekeeper) prepare(raw []byte) ([]fhir.ResolvedEntry, error) {
	b, err := fhir.ParseBundleForResolve(raw)
	if err != nil {
		return nil, err
	}
	lookup := func(typ, ident string) (string, bool) { return g.cfg.Index.Lookup(g.cfg.Org, typ, ident) }
	resolved, err := fhir.Resolve(b, lookup, newID)
	if err != nil {
		return nil, err
	}
	for _, e := range resolved.Entries {
		if e.Err != nil {
			// Batch entries fail one by one; this ingest path is
			// all-or-nothing for simplicity and clarity of the result.
			return nil, e.Err
		}
	}
	return resolved.Entries, nil
}

// store encrypts and anchors the new resources and new versions of
// entries.
func (g *Gatekeeper) store(ctx context.Context, entries []fhir.ResolvedEntry, who Submitter) (*IngestResult, error) {
	state := g.cfg.Chain.State()
	res := &IngestResult{ByType: map[string]int{}}
	var items []vault.Item
	var fresh []*fhir.Resource
	var prev []*cc.RecordAnchor     // the current anchor of an updated record, nil for a new one
	var slots []int                 // each fresh resource's index in res.Entries
	patients := map[string]cc.DID{} // "Patient/id" → DID, for this bundle
	for _, e := range entries {
		r := e.Resource
		if r == nil {
			continue
		}
		if e.Existing {
			res.Existing++
			ver := 1
			if a, err := records.GetAnchor(state, r.Reference()); err == nil {
				ver = a.Version
			}
			res.Entries = append(res.Entries, EntryResult{Ref: r.Reference(), Version: ver, Status: "200 OK"})
			continue
		}
		cur, err := records.GetAnchor(state, r.Reference())
		switch {
		case err == nil && cur.Org != g.cfg.Org:
			return nil, cc.Errorf("ingest", cc.Conflict, "%s is held by another organization", r.Reference())
		case err == nil && cur.Erased:
			return nil, cc.Errorf("ingest", cc.Gone, "%s was erased at the patient's request", r.Reference())
		case err != nil && !cc.Is(cc.NotFound, err):
			return nil, err
		case err != nil:
			cur = nil
		}
		if e.IfMatch != "" && (cur == nil || e.IfMatch != fmt.Sprintf(`W/"%d"`, cur.Version)) {
			return nil, cc.Errorf("ingest", cc.Conflict, "%s: version precondition %s does not hold", r.Reference(), e.IfMatch)
		}
		if r.Type == "Patient" {
			switch {
			case cur != nil:
				patients[r.Reference()] = cur.Patient
			case who.Patient == "":
				return nil, cc.Errorf("ingest", cc.Invalid, "the bundle holds a Patient: give the patient DID it belongs to")
			default:
				patients[r.Reference()] = who.Patient
			}
		}
		version := 1
		if cur != nil {
			version = cur.Version + 1
		}
		fresh = append(fresh, r)
		prev = append(prev, cur)
		items = append(items, vault.Item{RecordID: r.Reference(), Version: version, Plaintext: r.JSON})
		slots = append(slots, len(res.Entries))
		res.Entries = append(res.Entries, EntryResult{Ref: r.Reference(), Version: version})
	}
	if len(fresh) == 0 {
		return res, nil
	}
	anchors := make([]map[string]any, len(fresh))
	for i, r := range fresh {
		patient, err := g.patientOf(r, patients)
		if err != nil {
			return nil, err
		}
		if prev[i] != nil && prev[i].Patient != patient {
			return nil, cc.Errorf("ingest", cc.Conflict, "%s belongs to another patient", r.Reference())
		}
		a := map[string]any{"id": r.Reference(), "type": r.Type, "patient": patient, "org": g.cfg.Org,
			"author": who.Author, "author_org": who.AuthorOrg, "version": items[i].Version}
		if prev[i] != nil {
			a["prev_hash"] = base64.StdEncoding.EncodeToString(prev[i].ContentHash)
		}
		if len(r.Categories) > 0 {
			a["categories"] = r.Categories
		}
		if !r.DataTime.IsZero() {
			a["data_time"] = AnchorTime(r.DataTime).Format(time.RFC3339)
		}
		anchors[i] = a
	}
	hashes, err := g.cfg.Vault.PutBatch(items)
	if err != nil {
		return nil, err
	}
	for i := range anchors {
		anchors[i]["content_hash"] = base64.StdEncoding.EncodeToString(hashes[i])
	}
	for start := 0; start < len(anchors); start += maxAnchorsPerTx {
		end := min(start+maxAnchorsPerTx, len(anchors))
		var doses []map[string]any
		for i := start; i < end; i++ {
			if prev[i] == nil && fresh[i].Type == "Immunization" {
				doses = append(doses, administration(fresh[i]))
			}
		}
		plan, err := g.planRx(state, fresh[start:end], prev[start:end])
		var r cc.SubmitResult
		if err == nil {
			r, err = g.submitChunk(ctx, anchors[start:end], doses, plan, who)
		}
		if err != nil {
			// Blobs whose anchors did not commit are removed; anchors of
			// earlier chunks stay (they are valid records).
			for _, it := range items[start:] {
				if derr := g.cfg.Vault.Delete(it.RecordID, it.Version); derr != nil {
					g.log.Error("removing an unanchored blob", "record", it.RecordID, "err", derr)
				}
			}
			return nil, err
		}
		res.Height = r.Height
	}
	var idx []IndexEntry
	for i, r := range fresh {
		status := "201 Created"
		if prev[i] != nil {
			res.Updated++
			status = "200 OK"
		} else {
			res.Created++
		}
		res.ByType[r.Type]++
		res.IDs = append(res.IDs, r.Reference())
		res.Entries[slots[i]].Status = status
		if len(r.Identifiers) > 0 || len(r.Codes) > 0 || !r.DataTime.IsZero() {
			idx = append(idx, IndexEntry{Type: r.Type, ID: r.ID, Identifiers: r.Identifiers, Codes: r.Codes, DataTime: r.DataTime})
		}
	}
	sort.Strings(res.IDs)
	if err := g.cfg.Index.Put(g.cfg.Org, idx); err != nil {
		return nil, err
	}
	if g.cfg.OnPatients != nil {
		var people []PatientDemographics
		for _, r := range fresh {
			if d, ok := fhir.DemographicsOf(r); ok && patients[r.Reference()] != "" {
				people = append(people, PatientDemographics{DID: patients[r.Reference()], Demographics: d})
			}
		}
		if len(people) > 0 {
			g.cfg.OnPatients(people)
		}
	}
	if dates := immunizationDates(fresh); g.cfg.OnImmunizations != nil && len(dates) > 0 {
		g.cfg.OnImmunizations(dates)
	}
	return res, nil
}

// administration is the supply.administer entry of a new Immunization:
// its lot number, the vial's EPC when an identifier carries one (an SGTIN
// URN or a GS1 Digital Link with a serial), its CVX vaccine code (else its
// first code) and the year it was given.
func administration(r *fhir.Resource) map[string]any {
	d := map[string]any{"record_id": r.Reference()}
	if r.Lot != "" {
		d["lot"] = r.Lot
	}
	for _, id := range r.Identifiers {
		_, v, _ := strings.Cut(id, "|")
		if strings.HasPrefix(v, "urn:epc:id:sgtin:") || strings.HasPrefix(v, "https://") && strings.Contains(v, "/01/") && strings.Contains(v, "/21/") {
			d["epc"] = v
			break
		}
	}
	for _, c := range r.Codes {
		if strings.HasPrefix(c, supply.CVXSystem+"|") {
			d["vaccine"] = c
			break
		}
	}
	if _, ok := d["vaccine"]; !ok && len(r.Codes) > 0 {
		d["vaccine"] = r.Codes[0]
	}
	if !r.DataTime.IsZero() {
		d["year"] = r.DataTime.UTC().Year()
	}
	return d
}

// administerRefusal returns the error of a supply.administer transaction
// that committed fraud alerts instead of the immunizations (nil when the
// immunizations were recorded).
func administerRefusal(data []byte) error {
	var res supply.AdministerResult
	if err := json.Unmarshal(data, &res); err != nil {
		return cc.E("ingest", cc.Internal, err)
	}
	return refusedDoses(res)
}

// refusedDoses returns the error of a supply.administer result that
// recorded fraud alerts instead of the immunizations (nil when it
// recorded them).
func refusedDoses(res supply.AdministerResult) error {
	if len(res.Rejected) == 0 {
		return nil
	}
	// Whatever the signal (unknown, foreign or used-up serial), the write
	// conflicts with the ledger's custody state.
	return &cc.Error{Op: supply.TypeAdminister, Kind: cc.Conflict, Msg: "refused as suspected fraud (a fraud alert was recorded): " + trimLog(res.Rejected[0].Reason)}
}

// AnchorTime is the clinical date as an anchor carries it: the year only
// (January 1, UTC). Dates more precise than the year that relate to a
// person (birth, admission, vaccination …) are PHI, so the ledger gets the
// year, which consent data periods are decided on, and the precise time
// stays in the node's off-chain index for search.
func AnchorTime(t time.Time) time.Time {
	return time.Date(t.UTC().Year(), 1, 1, 0, 0, 0, 0, time.UTC)
}

// patientOf returns the patient DID a resource's compartment belongs to:
// the bundle's patient, or the DID anchored for an existing Patient.
func (g *Gatekeeper) patientOf(r *fhir.Resource, inBundle map[string]cc.DID) (cc.DID, error) {
	if r.Type == "Patient" {
		return inBundle[r.Reference()], nil
	}
	if r.Patient == "" {
		if records.IsDirectoryType(r.Type) {
			return "", nil
		}
		return "", cc.Errorf("ingest", cc.Invalid, "%s belongs to no patient compartment and is not a directory resource", r.Reference())
	}
	if d, ok := inBundle[r.Patient]; ok {
		return d, nil
	}
	a, err := records.GetAnchor(g.cfg.Chain.State(), r.Patient)
	if err != nil || a.Patient == "" {
		return "", cc.Errorf("ingest", cc.Invalid, "%s refers to %s, which this network does not hold", r.Reference(), r.Patient)
	}
	return a.Patient, nil
}

// String describes a result in one line.
func (r *IngestResult) String() string {
	return fmt.Sprintf("%d created, %d existing, at height %d", r.Created, r.Existing, r.Height)
}
