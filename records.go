package carechain

import (
	"encoding/json"
	"time"
)

// RecordAnchor is the on-chain anchor of one version of one FHIR resource.
// It carries no PHI: an opaque id, DIDs, organization ids, codes of resource
// type and category, and a salted content hash (HMAC-SHA256 under a
// per-record secret held in the custodian's vault), so a guessable resource
// cannot be confirmed from its anchor.
type RecordAnchor struct {
	ID          string    `json:"id"`      // "{Type}/{logical id}", the server-assigned FHIR id
	Type        string    `json:"type"`    // FHIR resource type, e.g. "Immunization"
	Patient     DID       `json:"patient"` // compartment owner; empty for directory resources
	Org         string    `json:"org"`     // custodian organization id (holds the vault blob)
	Node        string    `json:"node,omitempty"`
	Author      DID       `json:"author"`               // practitioner (or organization) that submitted it
	AuthorOrg   string    `json:"author_org,omitempty"` // the author's organization
	Categories  []string  `json:"categories,omitempty"` // "system|code" of category and security labels, sorted
	DataTime    time.Time `json:"data_time,omitempty"`  // clinically relevant date (for data-period consent)
	Version     int       `json:"version"`
	PrevHash    []byte    `json:"prev_hash,omitempty"`
	ContentHash []byte    `json:"content_hash"`
	Height      int64     `json:"height"`
	Time        time.Time `json:"time"`
	Erased      bool      `json:"erased,omitempty"`
	ErasedAt    int64     `json:"erased_at,omitempty"`
}

// ProvisionType says whether a consent provision permits or denies.
type ProvisionType string

// Provision types (FHIR Consent.provision.type).
const (
	Permit ProvisionType = "permit"
	Deny   ProvisionType = "deny"
)

// Actor names who a consent provision applies to. Exactly one of the forms
// is used: a practitioner (DID), an organization (Org), a role within an
// organization (Org+Role) or a care team (CareTeam, a list of DIDs).
type Actor struct {
	DID      DID    `json:"did,omitempty"`
	Org      string `json:"org,omitempty"`
	Role     Role   `json:"role,omitempty"`
	CareTeam []DID  `json:"care_team,omitempty"`
}

// Period is a half-open time range [Start, End); a zero bound is open.
type Period struct {
	Start time.Time `json:"start,omitempty"`
	End   time.Time `json:"end,omitempty"`
}

// Contains reports whether t lies in the period.
func (p Period) Contains(t time.Time) bool {
	return (p.Start.IsZero() || !t.Before(p.Start)) && (p.End.IsZero() || t.Before(p.End))
}

// Provision is one rule of a consent (the FHIR Consent.provision model).
// Empty lists mean "any".
type Provision struct {
	Type          ProvisionType `json:"type"`
	Actors        []Actor       `json:"actors,omitempty"`
	Actions       []string      `json:"actions,omitempty"`        // "read", "search", "export"
	Purposes      []string      `json:"purposes,omitempty"`       // HL7 v3 PurposeOfUse: TREAT, ETREAT, HPAYMT, HOPERAT, PUBHLTH, HRESEARCH, …
	ResourceTypes []string      `json:"resource_types,omitempty"` // FHIR types
	Categories    []string      `json:"categories,omitempty"`     // "system|code" or bare code
	Period        Period        `json:"period,omitempty"`         // when the provision is in force
	DataPeriod    Period        `json:"data_period,omitempty"`    // which data (by RecordAnchor.DataTime)
	Condition     string        `json:"condition,omitempty"`      // optional CEL expression (see consent package)
}

// Consent is a patient's signed consent: permits and denies. Deny
// provisions override permits.
type Consent struct {
	ID         string      `json:"id"`
	Patient    DID         `json:"patient"`
	Grantor    DID         `json:"grantor"` // the patient or a delegate acting within scope
	Provisions []Provision `json:"provisions"`
	Created    int64       `json:"created"`
	Time       time.Time   `json:"time"`
	Revoked    int64       `json:"revoked,omitempty"` // height of revocation; effective from the next block
}

// Agreement is a data-sharing agreement between two organizations: the
// provider releases the named data to the recipient for the purposes,
// where the patient's consent state allows.
type Agreement struct {
	ID            string          `json:"id"`
	Provider      string          `json:"provider"`  // organization that holds the data
	Recipient     string          `json:"recipient"` // organization that receives it
	ResourceTypes []string        `json:"resource_types"`
	Categories    []string        `json:"categories,omitempty"`
	Purposes      []string        `json:"purposes"`
	Condition     string          `json:"condition,omitempty"` // CEL
	OptOut        bool            `json:"opt_out"`             // true: flows unless the patient denied; false: needs a patient permit
	Status        AgreementStatus `json:"status"`
	ProposedBy    DID             `json:"proposed_by"`
	SignedBy      DID             `json:"signed_by,omitempty"`
	Created       int64           `json:"created"`
	Effective     int64           `json:"effective,omitempty"`
	Terminated    int64           `json:"terminated,omitempty"`
	Period        Period          `json:"period,omitempty"`
	Terms         json.RawMessage `json:"terms,omitempty"` // free, non-PHI terms (reference to the legal text)
}

// AgreementStatus is an agreement's lifecycle state.
type AgreementStatus string

// Agreement states.
const (
	AgreementProposed   AgreementStatus = "proposed"
	AgreementActive     AgreementStatus = "active"
	AgreementTerminated AgreementStatus = "terminated"
)

// AccessRequest is one question to the access decision: may Requester do
// Action on the record for Purpose at Time?
type AccessRequest struct {
	Requester DID
	Orgs      []Member // the requester's memberships (org and roles)
	Action    string   // "read", "search", "export"
	Purpose   string
	Record    RecordAnchor
	Time      time.Time // the decision time (latest committed block time)
}

// Basis says on what grounds an access was allowed.
type Basis string

// The bases of an allowed access.
const (
	BasisPatient    Basis = "patient"     // the patient reads their own record
	BasisDelegate   Basis = "delegate"    // a delegate of the patient within scope
	BasisAuthor     Basis = "author-org"  // the organization that authored the record
	BasisCustodian  Basis = "custodian"   // the custodian organization, for operations on its own holdings
	BasisConsent    Basis = "consent"     // a patient consent's permit provision
	BasisAgreement  Basis = "agreement"   // a data-sharing agreement the consent state allows
	BasisBreakGlass Basis = "break-glass" // an emergency access window
	BasisMixed      Basis = "mixed"       // an event's records were allowed on different bases (see AccessEvent.Bases)
)

// Decision is the outcome of an access decision. Denials carry no detail
// to the requester (a denied record looks exactly like a missing one).
type Decision struct {
	Allow  bool   `json:"allow"`
	Basis  Basis  `json:"basis,omitempty"`
	Ref    string `json:"ref,omitempty"`    // consent, agreement or break-glass id
	Reason string `json:"reason,omitempty"` // for the audit log, never for the requester
}

// AccessEvent is one committed read of someone else's data: the access log
// entry the patient sees. It is written on-chain before the data is
// released.
type AccessEvent struct {
	ID         string    `json:"id"`
	Patient    DID       `json:"patient"`
	Accessor   DID       `json:"accessor"`
	Org        string    `json:"org,omitempty"`
	Records    []string  `json:"records"` // RecordAnchor ids
	Action     string    `json:"action"`
	Purpose    string    `json:"purpose"`
	Basis      Basis     `json:"basis"`
	Bases      []Basis   `json:"bases,omitempty"` // per record, when Basis is "mixed"
	Ref        string    `json:"ref,omitempty"`
	BreakGlass bool      `json:"break_glass,omitempty"`
	Request    []byte    `json:"request"` // hash of the requester's signed request
	Height     int64     `json:"height"`
	Time       time.Time `json:"time"`
}

// BreakGlass is an emergency access window for one practitioner and one
// patient, flagged, time-boxed and reviewed afterwards by the
// organization's privacy officer.
type BreakGlass struct {
	ID         string    `json:"id"`
	Patient    DID       `json:"patient"`
	Clinician  DID       `json:"clinician"`
	Org        string    `json:"org"`
	Reason     string    `json:"reason"` // a coded reason plus short text; no PHI
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Height     int64     `json:"height"`
	Review     string    `json:"review,omitempty"` // "", "accepted", "misuse"
	ReviewedBy DID       `json:"reviewed_by,omitempty"`
	ReviewedAt int64     `json:"reviewed_at,omitempty"`
}

// Notification is an entry in a patient's feed (break-glass reads, recalls,
// reminders).
type Notification struct {
	ID      string    `json:"id"`
	Patient DID       `json:"patient"`
	Kind    string    `json:"kind"`
	Ref     string    `json:"ref,omitempty"`
	Text    string    `json:"text"` // generated, non-PHI text
	Height  int64     `json:"height"`
	Time    time.Time `json:"time"`
}
