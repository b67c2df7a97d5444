package gatekeeper

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"time"

	cc "carechain"
	"carechain/fhir"
	"carechain/records"
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
	Existing int            `json:"existing"`
	ByType   map[string]int `json:"by_type"`
	IDs      []string       `json:"ids"`
	Height   int64          `json:"height"`
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
	b, err := fhir.ParseBundle(raw)
	if err != nil {
		return nil, err
	}
	resolved, err := fhir.Resolve(b, g.cfg.Index.Lookup, newID)
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
	return g.store(ctx, resolved.Entries, who)
}

// store encrypts and anchors the new resources of entries.
func (g *Gatekeeper) store(ctx context.Context, entries []fhir.ResolvedEntry, who Submitter) (*IngestResult, error) {
	res := &IngestResult{ByType: map[string]int{}}
	var items []vault.Item
	var fresh []*fhir.Resource
	patients := map[string]cc.DID{} // "Patient/id" → DID, for this bundle
	for _, e := range entries {
		r := e.Resource
		if r == nil {
			continue
		}
		if e.Existing {
			res.Existing++
			continue
		}
		if r.Type == "Patient" {
			if who.Patient == "" {
				return nil, cc.Errorf("ingest", cc.Invalid, "the bundle holds a Patient: give the patient DID it belongs to")
			}
			patients[r.Reference()] = who.Patient
		}
		fresh = append(fresh, r)
		items = append(items, vault.Item{RecordID: r.Reference(), Version: 1, Plaintext: r.JSON})
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
		a := map[string]any{"id": r.Reference(), "type": r.Type, "patient": patient, "org": g.cfg.Org,
			"author": who.Author, "author_org": who.AuthorOrg, "version": 1}
		if len(r.Categories) > 0 {
			a["categories"] = r.Categories
		}
		if !r.DataTime.IsZero() {
			a["data_time"] = r.DataTime.UTC().Format(time.RFC3339)
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
		r, err := g.submit(ctx, records.TypeAnchor, map[string]any{"anchors": anchors[start:end]})
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
	for _, r := range fresh {
		res.Created++
		res.ByType[r.Type]++
		res.IDs = append(res.IDs, r.Reference())
		if len(r.Identifiers) > 0 {
			idx = append(idx, IndexEntry{Type: r.Type, ID: r.ID, Identifiers: r.Identifiers})
		}
	}
	sort.Strings(res.IDs)
	if err := g.cfg.Index.Put(idx); err != nil {
		return nil, err
	}
	return res, nil
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
