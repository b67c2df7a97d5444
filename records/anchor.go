package records

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	cc "carechain"
	"carechain/identity"
)

// Limits of record anchors.
const (
	// MaxAnchorsPerTx is the most anchors one record.anchor transaction
	// may carry.
	MaxAnchorsPerTx = 2000
	// MaxIDLen is the longest record id "{Type}/{logical id}", in bytes.
	MaxIDLen = 200
	// MaxTypeLen is the longest FHIR resource type name, in bytes.
	MaxTypeLen = 64
	// MaxCategories is the most category and security-label codes one
	// anchor may list.
	MaxCategories = 32
	// MaxCategoryLen is the longest "system|code", in bytes.
	MaxCategoryLen = 256
	// MaxNodeLen is the longest custodian node name, in bytes.
	MaxNodeLen = 64
	// HashSize is the size of a content hash (HMAC-SHA256), in bytes.
	HashSize = 32
)

// directoryTypes are the FHIR resource types that belong to no patient
// compartment: their anchors carry an empty patient. Every other type needs
// a registered patient.
var directoryTypes = []string{
	"Device", "Endpoint", "HealthcareService", "Location", "Medication",
	"Organization", "Practitioner", "PractitionerRole", "Substance",
} // sorted

// anchorRoles are the member roles that may anchor records for their
// organization: the clinical roles and the organization's node key, the
// same roles that link patients to it (identity.CustodianRoles).
var anchorRoles = identity.CustodianRoles()

// IsDirectoryType reports whether FHIR resource type typ is a directory
// type (Organization, Location, Practitioner, …) whose anchors have no
// patient.
func IsDirectoryType(typ string) bool {
	_, ok := slices.BinarySearch(directoryTypes, typ)
	return ok
}

// anchorPayload is the payload of "record.anchor". Each element of Anchors
// is an anchorItem, decoded strictly on its own.
type anchorPayload struct {
	Anchors []json.RawMessage `json:"anchors"`
}

// anchorItem is one anchor of a "record.anchor" payload.
type anchorItem struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	Patient     cc.DID   `json:"patient"`
	Org         string   `json:"org"`
	Node        string   `json:"node"`
	Author      cc.DID   `json:"author"`
	AuthorOrg   string   `json:"author_org"`
	Categories  []string `json:"categories"`
	DataTime    string   `json:"data_time"`    // RFC 3339, optional
	Version     int      `json:"version"`      // 1 for a new record
	PrevHash    string   `json:"prev_hash"`    // base64 (standard, padded) of the previous version's content_hash
	ContentHash string   `json:"content_hash"` // base64 (standard, padded), 32 bytes
}

// anchorResult is the Data of a record.anchor transaction.
type anchorResult struct {
	Count   int   `json:"count"`
	Created int   `json:"created"` // version 1 anchors
	Updated int   `json:"updated"` // later versions
	Height  int64 `json:"height"`
}

// validType reports whether s looks like a FHIR resource type name:
// [A-Z][A-Za-z]{0,63}.
func validType(s string) bool {
	if len(s) == 0 || len(s) > MaxTypeLen || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// ValidID reports whether id is a record id: "{Type}/{logical id}" of at
// most MaxIDLen printable ASCII bytes without spaces, with a valid type
// and a non-empty logical id that contains no further '/'.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	typ, logical, ok := strings.Cut(id, "/")
	return ok && validType(typ) && logical != "" && !strings.Contains(logical, "/")
}

// validCategory reports whether s is "system|code": printable ASCII of at
// most MaxCategoryLen bytes, exactly one '|', both parts non-empty and
// without surrounding spaces.
func validCategory(s string) bool {
	if len(s) == 0 || len(s) > MaxCategoryLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	system, code, ok := strings.Cut(s, "|")
	return ok && system != "" && code != "" && !strings.Contains(code, "|") &&
		strings.TrimSpace(system) == system && strings.TrimSpace(code) == code
}

// validNode reports whether s is a custodian node name: 1..MaxNodeLen
// printable ASCII bytes without spaces.
func validNode(s string) bool {
	if len(s) == 0 || len(s) > MaxNodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// decodeHash decodes a standard, padded base64 hash of HashSize bytes.
func decodeHash(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil && len(b) == HashSize
}

// checkItem validates one anchor's fields (no state) and returns the
// anchor it describes, without Height and Time. Violations are cc.Invalid.
func checkItem(op string, i int, it anchorItem) (cc.RecordAnchor, error) {
	bad := func(format string, args ...any) (cc.RecordAnchor, error) {
		return cc.RecordAnchor{}, cc.Errorf(op, cc.Invalid, "anchors[%d]: "+format, append([]any{i}, args...)...)
	}
	if !ValidID(it.ID) {
		return bad("id %q must be \"{Type}/{logical id}\", at most %d printable bytes without spaces", cc.Echo(it.ID), MaxIDLen)
	}
	if !validType(it.Type) || !strings.HasPrefix(it.ID, it.Type+"/") {
		return bad("type %q must be the FHIR type that starts the id %q", cc.Echo(it.Type), cc.Echo(it.ID))
	}
	if IsDirectoryType(it.Type) {
		if it.Patient != "" {
			return bad("a %s belongs to no patient; patient must be empty", it.Type)
		}
	} else if !it.Patient.Valid() {
		return bad("patient %q must be a did:cc identifier (type %s belongs to a patient)", cc.Echo(string(it.Patient)), it.Type)
	}
	if !cc.ValidOrgID(it.Org) {
		return bad("org %q must be an organization id", cc.Echo(it.Org))
	}
	if it.Node != "" && !validNode(it.Node) {
		return bad("node must be 1 to %d printable bytes without spaces", MaxNodeLen)
	}
	if !it.Author.Valid() {
		return bad("author %q is not a did:cc identifier", cc.Echo(string(it.Author)))
	}
	if it.AuthorOrg != "" && !cc.ValidOrgID(it.AuthorOrg) {
		return bad("author_org %q must be an organization id", cc.Echo(it.AuthorOrg))
	}
	if len(it.Categories) > MaxCategories {
		return bad("at most %d categories", MaxCategories)
	}
	for j, c := range it.Categories {
		if !validCategory(c) {
			return bad("category %q must be \"system|code\" of printable ASCII, at most %d bytes", cc.Echo(c), MaxCategoryLen)
		}
		if j > 0 && it.Categories[j-1] >= c {
			return bad("categories must be sorted and distinct (%q after %q)", cc.Echo(c), cc.Echo(it.Categories[j-1]))
		}
	}
	var dataTime time.Time
	if it.DataTime != "" {
		t, err := time.Parse(time.RFC3339, it.DataTime)
		if err != nil {
			return bad("data_time must be an RFC 3339 time")
		}
		dataTime = t.UTC()
	}
	if it.Version < 1 {
		return bad("version must be 1 or more")
	}
	var prev []byte
	switch {
	case it.Version == 1 && it.PrevHash != "":
		return bad("version 1 has no prev_hash")
	case it.Version > 1:
		var ok bool
		if prev, ok = decodeHash(it.PrevHash); !ok {
			return bad("prev_hash of version %d must be %d bytes of standard base64", it.Version, HashSize)
		}
	}
	content, ok := decodeHash(it.ContentHash)
	if !ok {
		return bad("content_hash must be %d bytes of standard base64", HashSize)
	}
	cats := it.Categories
	if len(cats) == 0 {
		cats = nil
	}
	return cc.RecordAnchor{
		ID: it.ID, Type: it.Type, Patient: it.Patient, Org: it.Org, Node: it.Node,
		Author: it.Author, AuthorOrg: it.AuthorOrg, Categories: cats, DataTime: dataTime,
		Version: it.Version, PrevHash: prev, ContentHash: content,
	}, nil
}

// anchorChecker authorizes the signer and checks the state an anchor
// depends on, remembering answers so that a large batch reads each
// organization, author, patient and patient link once. Its maps are
// lookups only.
type anchorChecker struct {
	op       string
	kv       cc.Reader
	signer   cc.DID
	orgs     map[string]bool
	authors  map[cc.DID]bool
	patients map[cc.DID]bool
	known    map[string]bool     // author organizations
	links    map[patientOrg]bool // is the patient linked to the custodian organization
}

// patientOrg is a (patient, custodian organization) pair.
type patientOrg struct {
	patient cc.DID
	org     string
}

// authorize reports cc.Unauthorized unless the signer is a member of the
// active organization org with one of anchorRoles.
func (c *anchorChecker) authorize(i int, org string) error {
	ok, seen := c.orgs[org]
	if !seen {
		for _, r := range anchorRoles {
			has, err := identity.HasRole(c.kv, org, c.signer, r)
			if err != nil {
				return cc.E(c.op, cc.Internal, err)
			}
			if has {
				ok = true
				break
			}
		}
		c.orgs[org] = ok
	}
	if !ok {
		return cc.Errorf(c.op, cc.Unauthorized, "anchors[%d]: %s may not anchor records for %q (needs a clinical or node role in an active organization)", i, c.signer, org)
	}
	return nil
}

// references checks that the anchor's author is on the ledger, its
// author_org (if any) is an organization and its patient (if any) is a
// registered patient, each missing one cc.NotFound, and that the patient
// is linked to the custodian organization (identity.IsLinked), else
// cc.Unauthorized.
func (c *anchorChecker) references(i int, a *cc.RecordAnchor) error {
	if _, seen := c.authors[a.Author]; !seen {
		_, err := identity.GetDID(c.kv, a.Author)
		if err != nil && !cc.Is(cc.NotFound, err) {
			return cc.E(c.op, cc.Internal, err)
		}
		c.authors[a.Author] = err == nil
	}
	if !c.authors[a.Author] {
		return cc.Errorf(c.op, cc.NotFound, "anchors[%d]: author %s is not on the ledger", i, a.Author)
	}
	if a.AuthorOrg != "" {
		if _, seen := c.known[a.AuthorOrg]; !seen {
			_, err := identity.GetOrg(c.kv, a.AuthorOrg)
			if err != nil && !cc.Is(cc.NotFound, err) {
				return cc.E(c.op, cc.Internal, err)
			}
			c.known[a.AuthorOrg] = err == nil
		}
		if !c.known[a.AuthorOrg] {
			return cc.Errorf(c.op, cc.NotFound, "anchors[%d]: author_org %q is not an organization", i, a.AuthorOrg)
		}
	}
	if a.Patient == "" {
		return nil
	}
	if _, seen := c.patients[a.Patient]; !seen {
		_, err := identity.GetPatient(c.kv, a.Patient)
		if err != nil && !cc.Is(cc.NotFound, err) {
			return cc.E(c.op, cc.Internal, err)
		}
		c.patients[a.Patient] = err == nil
	}
	if !c.patients[a.Patient] {
		return cc.Errorf(c.op, cc.NotFound, "anchors[%d]: patient %s is not a registered patient", i, a.Patient)
	}
	key := patientOrg{a.Patient, a.Org}
	if _, seen := c.links[key]; !seen {
		linked, err := identity.IsLinked(c.kv, a.Patient, a.Org)
		if err != nil {
			return cc.E(c.op, cc.Internal, err)
		}
		c.links[key] = linked
	}
	if !c.links[key] {
		return cc.Errorf(c.op, cc.Unauthorized, "anchors[%d]: patient %s is not linked to org %s: link with the patient's approval (patient.link) or create a custodial DID (patient.custodial.create)", i, a.Patient, a.Org)
	}
	return nil
}

// chain checks a against the record's current anchor cur (nil for a new
// record): an erased record is cc.Gone; a version that is not the next
// one, a prev_hash that is not the current content hash, or a change of
// patient or custodian organization is cc.Conflict.
func chain(op string, i int, a *cc.RecordAnchor, cur *cc.RecordAnchor) error {
	if cur == nil {
		if a.Version != 1 {
			return cc.Errorf(op, cc.Conflict, "anchors[%d]: %s does not exist yet, so its version must be 1, not %d", i, a.ID, a.Version)
		}
		return nil
	}
	if cur.Erased {
		return cc.Errorf(op, cc.Gone, "anchors[%d]: %s was erased at height %d", i, a.ID, cur.ErasedAt)
	}
	if a.Version != cur.Version+1 {
		return cc.Errorf(op, cc.Conflict, "anchors[%d]: %s is at version %d, so the next version is %d, not %d", i, a.ID, cur.Version, cur.Version+1, a.Version)
	}
	if !bytes.Equal(a.PrevHash, cur.ContentHash) {
		return cc.Errorf(op, cc.Conflict, "anchors[%d]: prev_hash is not the content_hash of %s version %d", i, a.ID, cur.Version)
	}
	if a.Patient != cur.Patient || a.Org != cur.Org {
		return cc.Errorf(op, cc.Conflict, "anchors[%d]: a new version of %s cannot change its patient or custodian organization", i, a.ID)
	}
	return nil
}

// handleAnchor applies "record.anchor" {anchors: [{id, type, patient, org,
// node?, author, author_org?, categories?, data_time?, version, prev_hash?,
// content_hash}]}: 1..MaxAnchorsPerTx anchors, each a new record (version
// 1, no prev_hash) or the next version of an existing one (prev_hash the
// current content_hash), all or none.
//
// Rules: field violations and a duplicate id in one transaction are
// cc.Invalid; the signer must be a member of every anchor's (active)
// organization with a clinical role (physician, nurse,
// emergency-clinician, pharmacist) or the node role, else cc.Unauthorized;
// an unknown author, author_org or patient is cc.NotFound; a patient who
// is not linked to the anchor's organization (identity.IsLinked: by
// patient.link or patient.custodial.create) is cc.Unauthorized; an erased
// record is cc.Gone; a wrong version or prev_hash, or a new version that
// changes the patient or organization, is cc.Conflict.
//
// Writes rec/a/{id} (latest), rec/v/{id}/{version} and rec/p/{patient}/{id}
// with Height and Time from ctx, and emits one event with the counts.
func handleAnchor(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeAnchor
	var p anchorPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if len(p.Anchors) == 0 || len(p.Anchors) > MaxAnchorsPerTx {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "anchors must list 1 to %d anchors", MaxAnchorsPerTx)
	}
	anchors := make([]cc.RecordAnchor, len(p.Anchors))
	ids := make(map[string]bool, len(p.Anchors))
	for i, raw := range p.Anchors {
		var it anchorItem
		if err := decodeObject(op, "anchors["+strconv.Itoa(i)+"]", raw, &it); err != nil {
			return cc.Result{}, err
		}
		a, err := checkItem(op, i, it)
		if err != nil {
			return cc.Result{}, err
		}
		if ids[a.ID] {
			return cc.Result{}, cc.Errorf(op, cc.Invalid, "anchors[%d]: %s is listed twice", i, a.ID)
		}
		ids[a.ID] = true
		anchors[i] = a
	}
	c := &anchorChecker{op: op, kv: kv, signer: ctx.Signer,
		orgs: map[string]bool{}, authors: map[cc.DID]bool{}, patients: map[cc.DID]bool{}, known: map[string]bool{},
		links: map[patientOrg]bool{}}
	for i := range anchors {
		if err := c.authorize(i, anchors[i].Org); err != nil {
			return cc.Result{}, err
		}
	}
	created := 0
	for i := range anchors {
		a := &anchors[i]
		if err := c.references(i, a); err != nil {
			return cc.Result{}, err
		}
		cur, err := GetAnchor(kv, a.ID)
		if cc.Is(cc.NotFound, err) {
			cur, err = nil, nil
		}
		if err != nil {
			return cc.Result{}, cc.E(op, cc.Internal, err)
		}
		if err := chain(op, i, a, cur); err != nil {
			return cc.Result{}, err
		}
		if cur == nil {
			created++
		}
		a.Height, a.Time = ctx.Height, ctx.Time.UTC()
	}
	for i := range anchors {
		a := &anchors[i]
		if err := cc.SetJSON(kv, anchorKey(a.ID), a); err != nil {
			return cc.Result{}, err
		}
		if err := cc.SetJSON(kv, versionKey(a.ID, a.Version), a); err != nil {
			return cc.Result{}, err
		}
		if a.Patient != "" && a.Version == 1 {
			if err := cc.SetJSON(kv, patientKey(a.Patient, a.ID), a.ID); err != nil {
				return cc.Result{}, err
			}
		}
	}
	res := anchorResult{Count: len(anchors), Created: created, Updated: len(anchors) - created, Height: ctx.Height}
	data, err := cc.ResultData(op, res)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{
		Events: []cc.Event{cc.NewEvent(op,
			"signer", string(ctx.Signer),
			"count", strconv.Itoa(res.Count),
			"created", strconv.Itoa(res.Created),
			"updated", strconv.Itoa(res.Updated))},
		Data: data,
	}, nil
}
