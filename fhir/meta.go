package fhir

import (
	"encoding/json"
	"strconv"
	"time"
)

// WithMeta returns resource (FHIR JSON) with meta.versionId set to version
// and meta.lastUpdated to updated (the time its version was anchored), as
// a FHIR server answers reads; the other meta fields (security labels,
// tags, profiles) are kept. A body that is not a JSON object is returned
// unchanged.
func WithMeta(resource []byte, version int, updated time.Time) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(resource, &top) != nil || top == nil {
		return resource
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := top["meta"]; ok && json.Unmarshal(raw, &meta) != nil {
		return resource
	}
	meta["versionId"], _ = json.Marshal(strconv.Itoa(version))
	if !updated.IsZero() {
		meta["lastUpdated"], _ = json.Marshal(updated.UTC().Format(time.RFC3339Nano))
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return resource
	}
	top["meta"] = m
	out, err := json.Marshal(top)
	if err != nil {
		return resource
	}
	return out
}
