package supply

import (
	"slices"

	cc "carechain"
)

// The custody statuses of an item.
const (
	StatusActive         = "active"         // commissioned (or created by packing), with its owner
	StatusInTransit      = "in_transit"     // shipped to InTransitTo, still owned by the shipper
	StatusReceived       = "received"       // received by its owner
	StatusDecommissioned = "decommissioned" // ended; every later event on it is cc.Gone
	StatusQuarantined    = "quarantined"    // held after a cold-chain excursion (see coldchain.go)
)

// MaxChildren is the most EPCs one container may hold directly.
const MaxChildren = 5000

// maxWalk bounds a walk up the packing hierarchy. Packing never creates a
// cycle, so a walk ends at the top; the bound only guards against a
// corrupted state.
const maxWalk = 100000

// Item is the custody state of one EPC.
type Item struct {
	EPC            string   `json:"epc"`
	Owner          string   `json:"owner"` // organization id of the custodian
	Status         string   `json:"status"`
	InTransitTo    string   `json:"in_transit_to,omitempty"` // organization id, when Status is in_transit
	Location       string   `json:"location,omitempty"`      // last biz_location (SGLN or Digital Link /414/)
	Parent         string   `json:"parent,omitempty"`        // the container the item is packed in
	Children       []string `json:"children,omitempty"`      // the EPCs packed directly in it, sorted
	Lot            string   `json:"lot,omitempty"`
	Expiry         string   `json:"expiry,omitempty"` // YYYY-MM-DD
	Disposition    string   `json:"disposition,omitempty"`
	Container      bool     `json:"container,omitempty"`  // created by packing, not by commissioning
	DosesUsed      int      `json:"doses_used,omitempty"` // doses administered from it (see handleAdminister)
	CommissionedAt int64    `json:"commissioned_at"`
	CommissionedBy string   `json:"commissioned_by"`
	UpdatedAt      int64    `json:"updated_at"`

	// Cold chain and holds: see coldchain.go.
	ExcursionSeconds int64  `json:"excursion_seconds,omitempty"`
	PrevStatus       string `json:"prev_status,omitempty"`
	PrevDisposition  string `json:"prev_disposition,omitempty"`
}

// state buffers the items a transaction reads and writes, so that nothing
// is written before the whole transaction has been checked. Its maps are
// lookups only; flush writes in key order.
type state struct {
	kv    cc.Reader
	items map[string]*Item // nil: absent
	orig  map[string]Item  // the stored item as loaded, for the index updates of flush
	dirty map[string]bool
}

func newState(kv cc.Reader) *state {
	return &state{kv: kv, items: map[string]*Item{}, orig: map[string]Item{}, dirty: map[string]bool{}}
}

// get returns the buffered or stored item of epc, nil if there is none.
// The caller may change it and must then call put.
func (s *state) get(epc string) (*Item, error) {
	if it, ok := s.items[epc]; ok {
		return it, nil
	}
	var it Item
	found, err := getItem(s.kv, epc, &it)
	if err != nil {
		return nil, err
	}
	if !found {
		s.items[epc] = nil
		return nil, nil
	}
	s.orig[epc] = it
	s.items[epc] = &it
	return &it, nil
}

// put marks it to be written.
func (s *state) put(it *Item) {
	s.items[it.EPC] = it
	s.dirty[it.EPC] = true
}

// flush writes the changed items in key order, and keeps the indexes that
// derive from them (see indexItem) in step.
func (s *state) flush(kv cc.KV) error {
	keys := make([]string, 0, len(s.dirty))
	for epc := range s.dirty {
		keys = append(keys, epc)
	}
	slices.Sort(keys)
	members := map[string]bool{}
	for _, epc := range keys {
		it := s.items[epc]
		setItem(kv, it)
		var old *Item
		if o, ok := s.orig[epc]; ok {
			old = &o
		}
		if err := indexItem(kv, old, it, members); err != nil {
			return err
		}
	}
	return nil
}
