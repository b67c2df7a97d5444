package ledger

import (
	"strconv"

	cc "carechain"
	"carechain/ledger/store"
)

// Version is the application's protocol version: the rules by which
// transactions change the state. It is reported to CometBFT (Info's
// AppVersion, which a new chain's block headers then carry) and written to
// the state at genesis (keyAppVersion, committed with block 1). A chain's
// blocks replay to its AppHashes only under the rules that made them, so a
// node refuses to continue a state written under another version
// (CheckStateVersion); a network changes version at one height, all
// validators together.
//
//	1  until 2026-12-02 (no keyAppVersion entry)
//	2  a registered patient is its DID record (cc.DIDRecord.PatientSince):
//	   patient.register, patient.attest and patient.custodial.create no
//	   longer write an "id/patient/{did}" record
const Version = 2

// keyAppVersion is the state key holding the Version a chain's state was
// written under, in decimal.
const keyAppVersion = "meta/app_version"

// CheckStateVersion returns nil if st is fresh (no committed block) or its
// state was written under this Version; otherwise a FailedPrecondition
// error that names both versions and what to do. A state without a
// version entry is version 1's.
func CheckStateVersion(st *store.Store) error {
	const op = "ledger.version"
	if st.LastHeight() == 0 {
		return nil
	}
	b, err := st.Committed().Get(keyAppVersion)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	v := 1
	if b != nil {
		if v, err = strconv.Atoi(string(b)); err != nil || v < 1 {
			return cc.Errorf(op, cc.Integrity, "state entry %s = %q is not a version", keyAppVersion, b)
		}
	}
	if v != Version {
		return cc.Errorf(op, cc.FailedPrecondition,
			"this home's state was written under application version %d and this carechain runs version %d, whose rules would not replay that chain: use the carechain release that wrote it, or start a new home (carechain demo --fresh)", v, Version)
	}
	return nil
}
