package records

import (
	"strings"

	cc "carechain"
)

// GetAnchor returns the latest anchor of record id, cc.NotFound if there is
// none (or id is not a record id). An erased record is returned with Erased
// set; callers answer cc.Gone for it.
//
// The anchor is read from kv on every call; decoding its bytes is
// remembered (decodedAnchors), and the anchor returned is the caller's.
func GetAnchor(kv cc.Reader, id string) (*cc.RecordAnchor, error) {
	a, err := SharedAnchor(kv, id)
	if err != nil {
		return nil, err
	}
	return cloneAnchor(a), nil
}

// SharedAnchor is GetAnchor for a caller that only reads the anchor: it is
// the decoded value the process shares (decoded.Cache.Shared), so neither
// it nor the slices it holds may be changed. The access log's decisions
// and the HTTP API's custodian lookups use it on every read.
func SharedAnchor(kv cc.Reader, id string) (*cc.RecordAnchor, error) {
	var b []byte
	if ValidID(id) {
		var err error
		if b, err = kv.Get(anchorKey(id)); err != nil {
			return nil, cc.E("state.get", cc.Internal, err)
		}
	}
	if b == nil {
		return nil, cc.Errorf("records.anchor", cc.NotFound, "no record %q", cc.Echo(id))
	}
	a, err := decodedAnchors.Shared(b)
	if err != nil {
		return nil, cc.E("state.get", cc.Internal, err)
	}
	return a, nil
}

// GetVersion returns version of record id as it was anchored, cc.NotFound
// if there is no such version. When the record has been erased the
// returned anchor has Erased and ErasedAt set, because erasure destroys the
// data of every version.
func GetVersion(kv cc.Reader, id string, version int) (*cc.RecordAnchor, error) {
	latest, err := GetAnchor(kv, id)
	if err != nil {
		return nil, err
	}
	var a cc.RecordAnchor
	found := false
	if version >= 1 && version <= latest.Version {
		if found, err = cc.GetJSON(kv, versionKey(id, version), &a); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("records.version", cc.NotFound, "record %q has no version %d", cc.Echo(id), version)
	}
	a.Erased, a.ErasedAt = latest.Erased, latest.ErasedAt
	return &a, nil
}

// History returns every version of record id, oldest first: the immutable
// chain in which each version's PrevHash is the previous version's
// ContentHash. An unknown record is cc.NotFound. Like GetVersion, every
// version of an erased record has Erased and ErasedAt set.
func History(kv cc.Reader, id string) ([]cc.RecordAnchor, error) {
	latest, err := GetAnchor(kv, id)
	if err != nil {
		return nil, err
	}
	out := make([]cc.RecordAnchor, 0, latest.Version)
	err = iterateJSON(kv, versionsPrefix(id), func(a cc.RecordAnchor) bool {
		a.Erased, a.ErasedAt = latest.Erased, latest.ErasedAt
		out = append(out, a)
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PatientRecords calls fn with the latest anchor of each of patient's
// records, erased ones included, in record id order, until fn returns
// false. A patient without records calls fn never.
func PatientRecords(kv cc.Reader, patient cc.DID, fn func(cc.RecordAnchor) bool) error {
	return PatientRecordsOfType(kv, patient, "", fn)
}

// PatientRecordsOfType is PatientRecords for the records of one resource
// type (every type when typ is empty); a typ that cannot be a resource type
// selects nothing.
func PatientRecordsOfType(kv cc.Reader, patient cc.DID, typ string, fn func(cc.RecordAnchor) bool) error {
	if !patient.Valid() || strings.Contains(typ, "/") {
		return nil
	}
	prefix := patientPrefix(patient)
	if typ != "" {
		prefix += typ + "/"
	}
	ids, err := patientRecordIDs(kv, prefix)
	if err != nil {
		return err
	}
	for _, id := range ids {
		a, err := GetAnchor(kv, id)
		if err != nil {
			return cc.E("records.patient", cc.Internal, err)
		}
		if !fn(*a) {
			return nil
		}
	}
	return nil
}

// patientRecordIDs returns the ids in a patient's record index under
// prefix, in order.
// They are collected before any anchor is read so that no read happens
// inside an iteration.
func patientRecordIDs(kv cc.Reader, prefix string) ([]string, error) {
	var ids []string
	err := iterateJSON(kv, prefix, func(id string) bool {
		ids = append(ids, id)
		return true
	})
	return ids, err
}

// Versions calls fn with every anchored version of every record, in
// (record id, version) order, until fn returns false. Versions of erased
// records are included (Erased is not set on them here; see GetAnchor).
func Versions(kv cc.Reader, fn func(cc.RecordAnchor) bool) error {
	return iterateJSON(kv, prefixVersion, fn)
}
