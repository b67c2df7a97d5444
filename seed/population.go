// Package seed builds carechain's demo world: the founding organizations,
// their practitioners and a synthetic population of patients, each with a
// key in a local keystore, and submits the transactions that put them on
// the ledger. Everything is derived from a seed string, so two runs with
// the same seed produce the same identities.
package seed

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	cc "carechain"
	"carechain/ledger/tx"
)

// OrgSpec describes one demo organization.
type OrgSpec struct {
	ID    string
	Name  string
	Type  cc.OrgType
	Staff []StaffSpec
}

// StaffSpec is one practitioner of an organization.
type StaffSpec struct {
	Name  string // keystore name, e.g. "st-mary-physician"
	Roles []cc.Role
}

// Orgs are the demo's founding organizations.
var Orgs = []OrgSpec{
	{ID: "ministry-of-health", Name: "Ministry of Health — Public Health Agency", Type: cc.OrgPublicHealth, Staff: []StaffSpec{
		{"ministry-officer", []cc.Role{cc.RolePublicHealthOffice}}}},
	{ID: "st-mary-hospital", Name: "St Mary's Hospital", Type: cc.OrgHospital, Staff: []StaffSpec{
		{"st-mary-physician", []cc.Role{cc.RolePhysician}},
		{"st-mary-nurse", []cc.Role{cc.RoleNurse}},
		{"st-mary-emergency", []cc.Role{cc.RoleEmergency, cc.RolePhysician}},
		{"st-mary-privacy", []cc.Role{cc.RolePrivacyOfficer}}}},
	{ID: "riverside-hospital", Name: "Riverside General Hospital", Type: cc.OrgHospital, Staff: []StaffSpec{
		{"riverside-physician", []cc.Role{cc.RolePhysician}},
		{"riverside-emergency", []cc.Role{cc.RoleEmergency}},
		{"riverside-privacy", []cc.Role{cc.RolePrivacyOfficer}}}},
	{ID: "northside-clinic", Name: "Northside Family Clinic", Type: cc.OrgClinic, Staff: []StaffSpec{
		{"northside-physician", []cc.Role{cc.RolePhysician}},
		{"northside-nurse", []cc.Role{cc.RoleNurse}}}},
	{ID: "central-pharmacy", Name: "Central Pharmacy", Type: cc.OrgPharmacy, Staff: []StaffSpec{
		{"central-pharmacist", []cc.Role{cc.RolePharmacist}}}},
	{ID: "harbour-pharmacy", Name: "Harbour Pharmacy", Type: cc.OrgPharmacy, Staff: []StaffSpec{
		{"harbour-pharmacist", []cc.Role{cc.RolePharmacist}}}},
	{ID: "acme-vaccines", Name: "Acme Vaccines Manufacturing", Type: cc.OrgManufacturer, Staff: []StaffSpec{
		{"acme-logistics", []cc.Role{cc.RoleLogistics}}}},
	{ID: "coldline-distribution", Name: "Coldline Distribution — National Vaccine Store", Type: cc.OrgDistributor, Staff: []StaffSpec{
		{"coldline-logistics", []cc.Role{cc.RoleLogistics}}}},
	{ID: "north-regional-store", Name: "North Regional Vaccine Store", Type: cc.OrgDistributor, Staff: []StaffSpec{
		{"north-store-logistics", []cc.Role{cc.RoleLogistics}}}},
	{ID: "south-regional-store", Name: "South Regional Vaccine Store", Type: cc.OrgDistributor, Staff: []StaffSpec{
		{"south-store-logistics", []cc.Role{cc.RoleLogistics}}}},
	{ID: "national-research-institute", Name: "National Research Institute", Type: cc.OrgResearch, Staff: []StaffSpec{
		{"nri-researcher", []cc.Role{cc.RoleResearcher}}}},
	{ID: "medicines-regulator", Name: "National Medicines Regulator", Type: cc.OrgRegulator, Staff: []StaffSpec{
		{"regulator-inspector", []cc.Role{cc.RolePublicHealthOffice}}}},
}

// HoldsRecords reports whether the organization keeps patient records
// (hospitals, clinics, pharmacies and the public-health agency): such an
// organization runs a node whose gatekeeper anchors records and logs
// reads with the node key NodeKey(ID).
func (o OrgSpec) HoldsRecords() bool {
	switch o.Type {
	case cc.OrgHospital, cc.OrgClinic, cc.OrgPharmacy, cc.OrgPublicHealth:
		return true
	}
	return false
}

// RunsNode reports whether the organization runs a node with a node key
// (NodeKey(ID)): those that hold records, and the supply chain's
// manufacturers, distributors and regulators, whose gatekeeper signs the
// EPCIS events they capture over HTTP.
func (o OrgSpec) RunsNode() bool {
	switch o.Type {
	case cc.OrgManufacturer, cc.OrgDistributor, cc.OrgRegulator:
		return true
	}
	return o.HoldsRecords()
}

// LinkedOrgs are the organizations every demo patient is linked to (with
// the patient's approval), so that they may anchor the patient's records.
var LinkedOrgs = []string{"st-mary-hospital", "riverside-hospital", "northside-clinic"}

// GovernanceKey is the keystore name of the demo's governance member (the
// ministry's administrator); the demo genesis makes it the sole member.
const GovernanceKey = "ministry-of-health-admin"

// AdminKey returns the keystore name of an organization's administrator.
func AdminKey(org string) string { return org + "-admin" }

// NodeKey returns the keystore name of the node key of an organization
// that holds records: a member with role node, with which the
// organization's gatekeeper signs.
func NodeKey(org string) string { return org + "-node" }

// PatientKey returns the keystore name of the i-th demo patient (from 1).
func PatientKey(i int) string { return fmt.Sprintf("patient-%03d", i) }

// Identity is one demo identity with its key.
type Identity struct {
	Name string
	Kind cc.DIDKind
	DID  cc.DID
	Key  ed25519.PrivateKey
}

// Population is every identity of the demo world.
type Population struct {
	Seed       string
	Governance Identity
	Admins     map[string]Identity // by org id
	Staff      []Identity          // with Orgs order
	StaffOrg   map[string]string   // staff name → org id
	StaffRoles map[string][]cc.Role
	Nodes      map[string]Identity // by org id, for the organizations that run a node (OrgSpec.RunsNode)
	Patients   []Identity
}

// DeriveKey returns a deterministic Ed25519 key for name under seed. It is
// for the demo and tests only: real users create random keys (`carechain
// keys create`).
func DeriveKey(seed, name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("carechain-demo-key-v1\x00" + seed + "\x00" + name))
	return ed25519.NewKeyFromSeed(s[:])
}

func ident(seed, name string, kind cc.DIDKind) Identity {
	k := DeriveKey(seed, name)
	return Identity{Name: name, Kind: kind, DID: tx.DeriveDID(k.Public().(ed25519.PublicKey)), Key: k}
}

// NewPopulation derives the demo world for seed with n patients.
func NewPopulation(seed string, n int) *Population {
	p := &Population{Seed: seed, Admins: map[string]Identity{}, StaffOrg: map[string]string{}, StaffRoles: map[string][]cc.Role{},
		Nodes: map[string]Identity{}}
	for _, o := range Orgs {
		p.Admins[o.ID] = ident(seed, AdminKey(o.ID), cc.KindOrganization)
		if o.RunsNode() {
			p.Nodes[o.ID] = ident(seed, NodeKey(o.ID), cc.KindNode)
		}
		for _, s := range o.Staff {
			p.Staff = append(p.Staff, ident(seed, s.Name, cc.KindPractitioner))
			p.StaffOrg[s.Name] = o.ID
			p.StaffRoles[s.Name] = s.Roles
		}
	}
	p.Governance = p.Admins["ministry-of-health"]
	for i := 1; i <= n; i++ {
		p.Patients = append(p.Patients, ident(seed, PatientKey(i), cc.KindPatient))
	}
	return p
}

// Genesis returns the demo's genesis app_state: the governance member as
// the only account, with a threshold of one.
func (p *Population) Genesis() cc.GenesisState {
	g := p.Governance
	return cc.GenesisState{
		Accounts:   []cc.GenesisAccount{{DID: g.DID, Kind: g.Kind, PublicKey: g.Key.Public().(ed25519.PublicKey)}},
		Governance: cc.Governance{Members: []cc.DID{g.DID}, Threshold: 1},
	}
}

// All returns every identity (governance first, then admins in Orgs order,
// staff, node keys in Orgs order, patients).
func (p *Population) All() []Identity {
	out := []Identity{}
	for _, o := range Orgs {
		out = append(out, p.Admins[o.ID])
	}
	out = append(out, p.Staff...)
	out = append(out, p.NodeList()...)
	return append(out, p.Patients...)
}

// NodeList returns the node keys of the organizations that hold records,
// in Orgs order.
func (p *Population) NodeList() []Identity {
	var out []Identity
	for _, o := range Orgs {
		if n, ok := p.Nodes[o.ID]; ok {
			out = append(out, n)
		}
	}
	return out
}
