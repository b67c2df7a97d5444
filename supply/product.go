package supply

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	cc "carechain"
	"carechain/identity"
)

// The master-data transaction types.
const (
	TypeProductRegister  = "supply.product.register"
	TypeLocationRegister = "supply.location.register"
)

// Limits of master data.
const (
	// MaxNameLen is the longest product or location name, in bytes.
	MaxNameLen = 200
	// MaxRegionLen is the longest location region, in bytes.
	MaxRegionLen = 64
	// MaxDosesPerVial is the most doses one registered item may hold.
	MaxDosesPerVial = 100
	// MaxExcursionMinutes is the largest excursion budget of a product.
	MaxExcursionMinutes = 100000
)

// The statuses of a lot.
const (
	LotActive   = "active"
	LotRecalled = "recalled"
)

// masterRoles are the member roles with which a member registers master
// data for its organization.
var masterRoles = []cc.Role{cc.RoleAdmin, cc.RoleLogistics}

// Product is the master data of a trade item, registered by its
// manufacturer: codes, storage range and excursion budget. Temperatures
// are milli-degrees Celsius.
type Product struct {
	GTIN             string `json:"gtin"` // GTIN-14
	Org              string `json:"org"`  // the manufacturer that registered it
	Name             string `json:"name"`
	CVX              string `json:"cvx,omitempty"`    // CDC vaccine code, 1-3 digits
	SNOMED           string `json:"snomed,omitempty"` // SNOMED CT concept id
	StorageMinMilliC int64  `json:"storage_min_milli_c"`
	StorageMaxMilliC int64  `json:"storage_max_milli_c"`
	ExcursionMinutes int64  `json:"excursion_minutes"` // cumulative time allowed outside the range
	DosesPerVial     int    `json:"doses_per_vial"`
	Condition        string `json:"condition,omitempty"` // CEL excursion condition, replaces the range rule
	Version          int    `json:"version"`             // 1, then +1 per re-registration
	RegisteredAt     int64  `json:"registered_at"`       // height of version 1
	UpdatedAt        int64  `json:"updated_at"`          // height of this version
}

// Location is a registered site (GLN) of an organization.
type Location struct {
	GLN          string `json:"gln"` // GLN-13
	Org          string `json:"org"`
	Name         string `json:"name"`
	Region       string `json:"region,omitempty"`
	Version      int    `json:"version"`
	RegisteredAt int64  `json:"registered_at"`
	UpdatedAt    int64  `json:"updated_at"`
}

// Lot is the master record of a production lot of one GTIN, created when
// an item of the lot is first commissioned.
type Lot struct {
	GTIN         string `json:"gtin"` // "" when the lot's EPCs carry no GTIN (SSCC, GIAI, …)
	Lot          string `json:"lot"`
	Expiry       string `json:"expiry,omitempty"` // of the first commissioning, YYYY-MM-DD
	Org          string `json:"org"`              // the organization that commissioned it (its manufacturer)
	Status       string `json:"status"`           // LotActive or LotRecalled
	RecalledAt   int64  `json:"recalled_at,omitempty"`
	RecallReason string `json:"recall_reason,omitempty"`
	CreatedAt    int64  `json:"created_at"`
}

// productPayload is the payload of "supply.product.register".
type productPayload struct {
	Org              string `json:"org"`
	GTIN             string `json:"gtin"`
	Name             string `json:"name"`
	CVX              string `json:"cvx"`
	SNOMED           string `json:"snomed"`
	StorageMinMilliC *int64 `json:"storage_min_milli_c"`
	StorageMaxMilliC *int64 `json:"storage_max_milli_c"`
	ExcursionMinutes int64  `json:"excursion_minutes"`
	DosesPerVial     int    `json:"doses_per_vial"`
	Condition        string `json:"condition"`
}

// locationPayload is the payload of "supply.location.register".
type locationPayload struct {
	Org    string `json:"org"`
	GLN    string `json:"gln"`
	Name   string `json:"name"`
	Region string `json:"region"`
}

// validName reports whether s is 1..max bytes of printable UTF-8 (spaces
// allowed, not at either end).
func validName(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// authorize checks that org is an active organization, of type typ unless
// typ is empty, and that signer is a member of it with one of roles;
// otherwise cc.Unauthorized.
func authorize(op string, kv cc.Reader, org string, signer cc.DID, typ cc.OrgType, roles ...cc.Role) error {
	o, err := identity.GetOrg(kv, org)
	if cc.Is(cc.NotFound, err) {
		return cc.Errorf(op, cc.Unauthorized, "organization %q is not on the ledger", cc.Echo(org))
	}
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if !o.Active {
		return cc.Errorf(op, cc.Unauthorized, "organization %s is suspended", org)
	}
	if typ != "" && o.Type != typ {
		return cc.Errorf(op, cc.Unauthorized, "organization %s is a %s, not a %s", org, o.Type, typ)
	}
	for _, r := range roles {
		has, err := identity.HasRole(kv, org, signer, r)
		if err != nil {
			return cc.E(op, cc.Internal, err)
		}
		if has {
			return nil
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return cc.Errorf(op, cc.Unauthorized, "%s may not act for %s (needs role %s)", signer, org, strings.Join(names, " or "))
}

// handleProductRegister applies "supply.product.register" {org, gtin,
// name, cvx?, snomed?, storage_min_milli_c, storage_max_milli_c,
// excursion_minutes?, doses_per_vial, condition?}.
//
// Rules (cc.Invalid): gtin is a GTIN-8/12/13/14 with a valid check digit
// (stored as GTIN-14); name 1..MaxNameLen printable bytes; cvx 1-3 digits
// and snomed 6-18 digits when given; both storage bounds given, within
// MinMilliC..MaxMilliC, min < max; excursion_minutes 0..MaxExcursionMinutes;
// doses_per_vial 1..MaxDosesPerVial; condition, when given, compiles (see
// CompileCondition). org must be an active manufacturer and the signer a
// member with role admin or logistics (cc.Unauthorized). A GTIN registered
// by another organization is cc.Conflict; registering it again from the
// same one replaces it with Version+1.
//
// Writes sup/p/{gtin}; emits supply.product; Data is the Product.
func handleProductRegister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeProductRegister
	var p productPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	bad := func(format string, args ...any) (cc.Result, error) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, format, args...)
	}
	if !cc.ValidOrgID(p.Org) {
		return bad("org %q must be an organization id", cc.Echo(p.Org))
	}
	gtin, ok := NormalizeGTIN(p.GTIN)
	if !ok {
		return bad("gtin %q must be a GTIN-8, -12, -13 or -14 with a valid check digit", cc.Echo(p.GTIN))
	}
	if !validName(p.Name, MaxNameLen) {
		return bad("name must be 1 to %d bytes of printable text", MaxNameLen)
	}
	if p.CVX != "" && (len(p.CVX) > 3 || !digits(p.CVX, 0)) {
		return bad("cvx %q must be 1 to 3 digits", cc.Echo(p.CVX))
	}
	if p.SNOMED != "" && (len(p.SNOMED) < 6 || len(p.SNOMED) > 18 || !digits(p.SNOMED, 0)) {
		return bad("snomed %q must be a SNOMED CT id of 6 to 18 digits", cc.Echo(p.SNOMED))
	}
	if p.StorageMinMilliC == nil || p.StorageMaxMilliC == nil {
		return bad("storage_min_milli_c and storage_max_milli_c are required")
	}
	lo, hi := *p.StorageMinMilliC, *p.StorageMaxMilliC
	if lo < MinMilliC || hi > MaxMilliC || lo >= hi {
		return bad("the storage range %d..%d must satisfy %d <= min < max <= %d", lo, hi, MinMilliC, MaxMilliC)
	}
	if p.ExcursionMinutes < 0 || p.ExcursionMinutes > MaxExcursionMinutes {
		return bad("excursion_minutes must be 0 to %d", MaxExcursionMinutes)
	}
	if p.DosesPerVial < 1 || p.DosesPerVial > MaxDosesPerVial {
		return bad("doses_per_vial must be 1 to %d", MaxDosesPerVial)
	}
	if p.Condition != "" {
		c := conditions.Compile(p.Condition)
		if c.Internal != nil {
			return cc.Result{}, cc.E(op, cc.Internal, c.Internal)
		}
		if c.Problem != "" {
			return bad("%s", c.Problem)
		}
	}
	if err := authorize(op, kv, p.Org, ctx.Signer, cc.OrgManufacturer, masterRoles...); err != nil {
		return cc.Result{}, err
	}
	prod := Product{GTIN: gtin, Org: p.Org, Name: p.Name, CVX: p.CVX, SNOMED: p.SNOMED,
		StorageMinMilliC: lo, StorageMaxMilliC: hi, ExcursionMinutes: p.ExcursionMinutes,
		DosesPerVial: p.DosesPerVial, Condition: p.Condition, Version: 1, RegisteredAt: ctx.Height, UpdatedAt: ctx.Height}
	var old Product
	found, err := cc.GetJSON(kv, productKey(gtin), &old)
	if err != nil {
		return cc.Result{}, err
	}
	if found {
		if old.Org != p.Org {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "GTIN %s is registered by %s", gtin, old.Org)
		}
		prod.Version, prod.RegisteredAt = old.Version+1, old.RegisteredAt
	}
	if err := cc.SetJSON(kv, productKey(gtin), prod); err != nil {
		return cc.Result{}, err
	}
	data, err := cc.ResultData(op, prod)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent("supply.product",
		"gtin", gtin, "org", p.Org, "version", strconv.Itoa(prod.Version))}}, nil
}

// handleLocationRegister applies "supply.location.register" {org, gln,
// name, region?}: gln is a GLN-13 with a valid check digit, an SGLN URN or
// a Digital Link /414/ (see NormalizeGLN; stored as the GLN-13), name
// 1..MaxNameLen and region 1..MaxRegionLen printable bytes (cc.Invalid).
// The signer must be an admin or logistics member of the active
// organization org, of any type (cc.Unauthorized). A GLN registered by
// another organization is cc.Conflict; registering it again from the same
// one replaces it with Version+1. Registering a location makes org a
// supply-chain member (see IsMember).
//
// Writes sup/loc/{gln} and sup/member/{org}; emits supply.location; Data
// is the Location.
func handleLocationRegister(ctx cc.TxContext, kv cc.KV, payload json.RawMessage) (cc.Result, error) {
	const op = TypeLocationRegister
	var p locationPayload
	if err := decodeObject(op, "payload", payload, &p); err != nil {
		return cc.Result{}, err
	}
	if !cc.ValidOrgID(p.Org) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "org %q must be an organization id", cc.Echo(p.Org))
	}
	gln, ok := NormalizeGLN(p.GLN)
	if !ok {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "gln %q must be a GLN-13 with a valid check digit, an SGLN URN or a GS1 Digital Link /414/", cc.Echo(p.GLN))
	}
	if !validName(p.Name, MaxNameLen) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "name must be 1 to %d bytes of printable text", MaxNameLen)
	}
	if p.Region != "" && !validName(p.Region, MaxRegionLen) {
		return cc.Result{}, cc.Errorf(op, cc.Invalid, "region must be 1 to %d bytes of printable text", MaxRegionLen)
	}
	if err := authorize(op, kv, p.Org, ctx.Signer, "", masterRoles...); err != nil {
		return cc.Result{}, err
	}
	loc := Location{GLN: gln, Org: p.Org, Name: p.Name, Region: p.Region, Version: 1, RegisteredAt: ctx.Height, UpdatedAt: ctx.Height}
	var old Location
	found, err := cc.GetJSON(kv, locationKey(gln), &old)
	if err != nil {
		return cc.Result{}, err
	}
	if found {
		if old.Org != p.Org {
			return cc.Result{}, cc.Errorf(op, cc.Conflict, "GLN %s is registered by %s", gln, old.Org)
		}
		loc.Version, loc.RegisteredAt = old.Version+1, old.RegisteredAt
	}
	member, err := IsMember(kv, p.Org)
	if err != nil {
		return cc.Result{}, err
	}
	if err := cc.SetJSON(kv, locationKey(gln), loc); err != nil {
		return cc.Result{}, err
	}
	if !member {
		if err := markMember(kv, p.Org); err != nil {
			return cc.Result{}, err
		}
	}
	data, err := cc.ResultData(op, loc)
	if err != nil {
		return cc.Result{}, err
	}
	return cc.Result{Data: data, Events: []cc.Event{cc.NewEvent("supply.location",
		"gln", gln, "org", p.Org, "version", strconv.Itoa(loc.Version))}}, nil
}

// GetProduct returns the product of gtin (any GTIN form NormalizeGTIN
// accepts), cc.NotFound if none is registered.
func GetProduct(kv cc.Reader, gtin string) (*Product, error) {
	var p Product
	found := false
	if g, ok := NormalizeGTIN(gtin); ok {
		var err error
		if found, err = cc.GetJSON(kv, productKey(g), &p); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("supply.product", cc.NotFound, "no product %q", cc.Echo(gtin))
	}
	return &p, nil
}

// Products returns every registered product, ordered by GTIN.
func Products(kv cc.Reader) ([]Product, error) {
	out := []Product{}
	err := cc.IterateJSON("supply.product", kv, prefixProduct, func(p Product) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// GetLocation returns the location of gln (any form NormalizeGLN
// accepts), cc.NotFound if none is registered.
func GetLocation(kv cc.Reader, gln string) (*Location, error) {
	var l Location
	found := false
	if g, ok := NormalizeGLN(gln); ok {
		var err error
		if found, err = cc.GetJSON(kv, locationKey(g), &l); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("supply.location", cc.NotFound, "no location %q", cc.Echo(gln))
	}
	return &l, nil
}

// Locations returns every registered location, ordered by GLN.
func Locations(kv cc.Reader) ([]Location, error) {
	out := []Location{}
	err := cc.IterateJSON("supply.location", kv, prefixLocation, func(l Location) bool {
		out = append(out, l)
		return true
	})
	return out, err
}

// GetLot returns the lot masters with lot number lot, one per GTIN,
// the one without a GTIN first, then by GTIN; cc.NotFound if no item of
// that lot was ever commissioned.
func GetLot(kv cc.Reader, lot string) ([]Lot, error) {
	var out []Lot
	if validLot(lot) {
		err := cc.IterateJSON("supply.lot", kv, lotPrefix(lot), func(l Lot) bool {
			out = append(out, l)
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, cc.Errorf("supply.lot", cc.NotFound, "no lot %q", cc.Echo(lot))
	}
	return out, nil
}

// Lots returns every lot master, ordered by lot number, then GTIN.
func Lots(kv cc.Reader) ([]Lot, error) {
	out := []Lot{}
	err := cc.IterateJSON("supply.lot", kv, prefixLot, func(l Lot) bool {
		out = append(out, l)
		return true
	})
	return out, err
}

// pendingLot is a lot master a capture has read or will create.
type pendingLot struct {
	lot   Lot
	write bool // created by this transaction
}

// noteLot records the lot master of a commissioned epc, if the event
// carries a lot and the master is absent: GTIN from the EPC, expiry from
// the event, the capturer as manufacturer. Commissioning into a recalled
// lot is cc.FailedPrecondition.
func (c *capture) noteLot(i int, epc string, ev *Event) error {
	if ev.Lot == "" {
		return nil
	}
	gtin, _ := GTINOf(epc)
	key := lotKey(ev.Lot, gtin)
	pl, seen := c.ext.lots[key]
	if !seen {
		var l Lot
		found, err := cc.GetJSON(c.st.kv, key, &l)
		if err != nil {
			return c.internal(err)
		}
		if found {
			pl = &pendingLot{lot: l}
		} else {
			pl = &pendingLot{write: true, lot: Lot{GTIN: gtin, Lot: ev.Lot, Expiry: ev.Expiry, Org: c.org, Status: LotActive, CreatedAt: c.height}}
		}
		if c.ext.lots == nil {
			c.ext.lots = map[string]*pendingLot{}
		}
		c.ext.lots[key] = pl
	}
	if pl.lot.Status == LotRecalled {
		return c.errf(cc.FailedPrecondition, i, "cannot commission EPC %s into lot %s: the lot was recalled at height %d", epc, ev.Lot, pl.lot.RecalledAt)
	}
	return nil
}
