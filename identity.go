package carechain

import (
	"encoding/json"
	"time"
)

// DIDKind says what a DID stands for. It is informative: powers come from
// organization membership and governance, not from the kind.
type DIDKind string

// The kinds of DID.
const (
	KindPatient      DIDKind = "patient"
	KindPractitioner DIDKind = "practitioner"
	KindOrganization DIDKind = "organization"
	KindNode         DIDKind = "node"
)

// DIDRecord is the ledger's state for one DID: its current key and recovery
// and delegation settings. The W3C DID document is rendered from it.
type DIDRecord struct {
	ID         DID      `json:"id"`
	Kind       DIDKind  `json:"kind"`
	PublicKey  []byte   `json:"public_key"` // raw Ed25519, 32 bytes
	KeyVersion int      `json:"key_version"`
	Created    int64    `json:"created"` // height
	Updated    int64    `json:"updated"` // height
	Guardians  []DID    `json:"guardians,omitempty"`
	Threshold  int      `json:"threshold,omitempty"`
	DelayBlock int64    `json:"delay_blocks,omitempty"`
	Attested   []string `json:"attested_by,omitempty"` // organization ids
	// PatientSince is the height at which the DID's holder became a
	// registered patient (patient.register, or a custodial DID's creation);
	// 0 if they are not one. A patient's record (Patient) is read from it.
	PatientSince int64 `json:"patient_since,omitempty"`
}

// Recovery is a pending guardian recovery of a DID to a new key.
type Recovery struct {
	DID         DID    `json:"did"`
	NewKey      []byte `json:"new_key"`
	Approvals   []DID  `json:"approvals"` // sorted
	Started     int64  `json:"started"`
	ReadyHeight int64  `json:"ready_height,omitempty"` // set when threshold is reached
}

// Delegation lets Delegate act for Principal within Scopes until Expires.
type Delegation struct {
	Principal DID       `json:"principal"`
	Delegate  DID       `json:"delegate"`
	Scopes    []string  `json:"scopes"`
	Expires   time.Time `json:"expires"`
	Created   int64     `json:"created"`
}

// OrgType is the kind of organization.
type OrgType string

// The organization types governance may admit.
const (
	OrgHospital     OrgType = "hospital"
	OrgClinic       OrgType = "clinic"
	OrgPharmacy     OrgType = "pharmacy"
	OrgLaboratory   OrgType = "laboratory"
	OrgManufacturer OrgType = "manufacturer"
	OrgDistributor  OrgType = "distributor"
	OrgPublicHealth OrgType = "public-health-agency"
	OrgResearch     OrgType = "research-institute"
	OrgRegulator    OrgType = "regulator"
)

// Role is a member's role within an organization.
type Role string

// The member roles.
const (
	RoleAdmin              Role = "admin"
	RolePhysician          Role = "physician"
	RoleNurse              Role = "nurse"
	RolePharmacist         Role = "pharmacist"
	RoleEmergency          Role = "emergency-clinician"
	RolePrivacyOfficer     Role = "privacy-officer"
	RoleLogistics          Role = "logistics"
	RolePublicHealthOffice Role = "public-health-officer"
	RoleResearcher         Role = "researcher"
	RoleNode               Role = "node" // a node's gatekeeper key: logs reads on the organization's behalf
)

// Organization is an admitted organization. Its id is a short slug chosen at
// admission; DID is the organization's own identifier (its admin key signs
// for it until members are added).
type Organization struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Type     OrgType `json:"type"`
	DID      DID     `json:"did"`
	Admitted int64   `json:"admitted"` // height
	Active   bool    `json:"active"`
}

// ValidOrgID reports whether s can be an organization id: a slug of 2 to
// 40 bytes from [a-z0-9-].
func ValidOrgID(s string) bool {
	if len(s) < 2 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Member is a DID's membership of an organization.
type Member struct {
	Org   string `json:"org"`
	DID   DID    `json:"did"`
	Roles []Role `json:"roles"` // sorted
	Added int64  `json:"added"`
}

// Patient is a self-registered patient identity.
type Patient struct {
	DID        DID      `json:"did"`
	Registered int64    `json:"registered"`
	AttestedBy []string `json:"attested_by,omitempty"` // organization ids, sorted
}

// PatientLink says that an organization may hold records of a patient:
// record anchors name a patient only for an organization linked to it. A
// link is made with the patient's signed approval (patient.link), or when
// the organization creates a custodial DID for a person who has none yet
// (patient.custodial.create); the person later claims that DID with a
// one-time code and their own key (patient.claim), which keeps the link.
type PatientLink struct {
	Patient   DID       `json:"patient"`
	Org       string    `json:"org"`
	Height    int64     `json:"height"`            // when the link was made
	Custodial bool      `json:"custodial"`         // the organization holds the patient's key (not yet claimed)
	Claimed   int64     `json:"claimed,omitempty"` // height at which the patient claimed the custodial DID
	Expires   time.Time `json:"expires,omitzero"`  // expiry of the approval that made the link (patient.link); the link itself does not expire
}

// Governance is the set of DIDs that admit organizations and change
// validators, and how many of them must approve.
type Governance struct {
	Members   []DID `json:"members"` // sorted
	Threshold int   `json:"threshold"`
}

// Proposal is a governance proposal awaiting approvals.
type Proposal struct {
	ID        uint64          `json:"id"`
	Action    string          `json:"action"`
	Params    json.RawMessage `json:"params"` // canonical JSON (RFC 8785) of the action's parameters, embedded as an object
	Proposer  DID             `json:"proposer"`
	Approvals []DID           `json:"approvals"` // sorted
	Created   int64           `json:"created"`
	Executed  int64           `json:"executed,omitempty"`
	Status    ProposalStatus  `json:"status"`
}

// ProposalStatus is a proposal's lifecycle state.
type ProposalStatus string

// Proposal states.
const (
	ProposalOpen     ProposalStatus = "open"
	ProposalExecuted ProposalStatus = "executed"
)

// GenesisAccount is a DID created at genesis (governance members, and in the
// demo the founding organizations' admins).
type GenesisAccount struct {
	DID       DID     `json:"did"`
	Kind      DIDKind `json:"kind"`
	PublicKey []byte  `json:"public_key"`
}

// GenesisState is the application part of genesis.json ("app_state").
type GenesisState struct {
	Accounts      []GenesisAccount `json:"accounts"`
	Governance    Governance       `json:"governance"`
	Organizations []Organization   `json:"organizations,omitempty"`
	Members       []Member         `json:"members,omitempty"`
}
