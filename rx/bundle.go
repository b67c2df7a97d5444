package rx

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	cc "carechain"
	"carechain/supply"
)

// TypeBundle is the transaction that records, in one ledger transaction,
// a FHIR bundle holding both immunizations and e-prescription facts: the
// supply.administer part (anchors and doses) and an rx.issue or rx.dispense
// part.
const TypeBundle = "rx.bundle"

// bundlePayload is the payload of "rx.bundle".
type bundlePayload struct {
	Org             string            `json:"org"`
	Pharmacist      cc.DID            `json:"pharmacist"`
	Anchors         []json.RawMessage `json:"anchors"`
	Administrations []json.RawMessage `json:"administrations"`
	Prescriptions   []json.RawMessage `json:"prescriptions"`
	Dispenses       []json.RawMessage `json:"dispenses"`
}

// BundleResult is the Data of rx.bundle: the supply.administer result, and
// the rx.issue or rx.dispense result when the immunizations were recorded
// (both nil when a fraud signal refused them).
type BundleResult struct {
	Administer supply.AdministerResult `json:"administer"`
	Issue      *IssueResult            `json:"issue,omitempty"`
	Dispense   *DispenseResult         `json:"dispense,omitempty"`
}

// BundleHandler returns the handler of "rx.bundle" {org, pharmacist?,
// anchors, administrations, prescriptions? | dispenses?}, built on
// administer, the ledger's supply.administer handler (wrapped as the
// ledger wires it, so that programs count the doses).
//
// The transaction first applies supply.administer {org, anchors,
// administrations} — every anchor, with supply's rules on the doses —
// and then, on the state it left, rx.issue {org, prescriptions} or
// rx.dispense {org, pharmacist, dispenses} without anchors: their record
// ids are among the anchors just written, so rx's rules (a
// MedicationDispense of the prescription's patient held by org, a
// pharmacist of org, what remains …) apply unchanged. Giving both
// prescriptions and dispenses, or neither, is cc.Invalid; an empty
// administrations is cc.Invalid (use rx.issue or rx.dispense).
//
// It is all or nothing, with supply's fraud rule first: when
// supply.administer answers rejections (fraud signals), the transaction
// commits those fraud alerts only — no anchor, no dose, no prescription
// or dispense — and Data says so; an error of either part fails the whole
// transaction and changes nothing (both parts write to a buffer that is
// flushed only when both succeed).
func BundleHandler(administer cc.Handler) cc.Handler {
	return func(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
		buf := newBuffer(kv)
		res, err := applyBundle(administer, ctx, buf, payload)
		if err != nil {
			return cc.Result{}, err
		}
		buf.flush()
		return res, nil
	}
}

// applyBundle applies "rx.bundle" to kv (see BundleHandler).
func applyBundle(administer cc.Handler, ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeBundle
	var p bundlePayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	switch {
	case len(p.Administrations) == 0:
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "administrations must not be empty (use %s or %s)", TypeIssue, TypeDispense)
	case len(p.Prescriptions) > 0 && len(p.Dispenses) > 0:
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "a bundle cannot issue and dispense e-prescriptions together")
	case len(p.Prescriptions) == 0 && len(p.Dispenses) == 0:
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "prescriptions or dispenses must not be empty (use %s)", supply.TypeAdminister)
	}
	adm, err := json.Marshal(map[string]any{"org": p.Org, "anchors": p.Anchors, "administrations": p.Administrations})
	if err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	ares, err := administer(ctx, kv, adm)
	if err != nil {
		return cc.Result{}, err
	}
	var res BundleResult
	if err := json.Unmarshal(ares.Data, &res.Administer); err != nil {
		return cc.Result{}, cc.E(op, cc.Internal, err)
	}
	out := cc.Result{Events: ares.Events}
	if len(res.Administer.Rejected) == 0 {
		var part []byte
		var h cc.Handler
		if len(p.Prescriptions) > 0 {
			part, err = json.Marshal(map[string]any{"org": p.Org, "prescriptions": p.Prescriptions})
			h = handleIssue
		} else {
			part, err = json.Marshal(map[string]any{"org": p.Org, "pharmacist": p.Pharmacist, "dispenses": p.Dispenses})
			h = handleDispense
		}
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		rres, err := h(ctx, kv, part)
		if err != nil {
			return cc.Result{}, err
		}
		if len(p.Prescriptions) > 0 {
			res.Issue = new(IssueResult)
			err = json.Unmarshal(rres.Data, res.Issue)
		} else {
			res.Dispense = new(DispenseResult)
			err = json.Unmarshal(rres.Data, res.Dispense)
		}
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		out.Events = append(out.Events, rres.Events...)
	}
	if out.Data, err = cc.ResultData(op, res); err != nil {
		return cc.Result{}, err
	}
	return out, nil
}

// buffer is a cc.KV that keeps writes in memory over a parent until
// flush: reads see the writes, the parent sees none of them before.
type buffer struct {
	parent cc.KV
	writes map[string][]byte // nil value: deleted
}

func newBuffer(parent cc.KV) *buffer { return &buffer{parent: parent, writes: map[string][]byte{}} }

// Get returns the buffered value of key, else the parent's.
func (b *buffer) Get(key string) ([]byte, error) {
	if v, ok := b.writes[key]; ok {
		return v, nil
	}
	return b.parent.Get(key)
}

// Set buffers key = value.
func (b *buffer) Set(key string, value []byte) { b.writes[key] = bytes.Clone(value) }

// Delete buffers the deletion of key.
func (b *buffer) Delete(key string) { b.writes[key] = nil }

// Iterate calls fn for each key with prefix, in ascending key order, as
// the parent with the buffered writes applied holds them, until fn
// returns false.
func (b *buffer) Iterate(prefix string, fn func(key string, value []byte) bool) error {
	merged := map[string][]byte{}
	if err := b.parent.Iterate(prefix, func(k string, v []byte) bool {
		merged[k] = bytes.Clone(v)
		return true
	}); err != nil {
		return err
	}
	for k, v := range b.writes {
		if strings.HasPrefix(k, prefix) {
			merged[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		if v := merged[k]; v != nil && !fn(k, v) {
			break
		}
	}
	return nil
}

// flush writes the buffered writes to the parent, in key order.
func (b *buffer) flush() {
	for _, k := range slices.Sorted(maps.Keys(b.writes)) {
		if v := b.writes[k]; v == nil {
			b.parent.Delete(k)
		} else {
			b.parent.Set(k, v)
		}
	}
}
