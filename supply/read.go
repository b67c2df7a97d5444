package supply

import (
	"slices"

	cc "carechain"
)

// GetItem returns the custody state of epc, cc.NotFound if the ledger has
// never seen it.
func GetItem(kv cc.Reader, epc string) (*Item, error) {
	var it Item
	found := false
	if ValidEPC(epc) {
		var err error
		if found, err = getItem(kv, epc, &it); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, cc.Errorf("supply.item", cc.NotFound, "no item %q", cc.Echo(epc))
	}
	return &it, nil
}

// Children returns the EPCs packed directly in epc, sorted (cc.NotFound if
// epc is unknown).
func Children(kv cc.Reader, epc string) ([]string, error) {
	it, err := GetItem(kv, epc)
	if err != nil {
		return nil, err
	}
	return slices.Clone(it.Children), nil
}

// ParentOf returns the container epc is packed in, "" if none (cc.NotFound
// if epc is unknown).
func ParentOf(kv cc.Reader, epc string) (string, error) {
	it, err := GetItem(kv, epc)
	if err != nil {
		return "", err
	}
	return it.Parent, nil
}

// FraudAlerts returns every fraud alert, oldest first.
func FraudAlerts(kv cc.Reader) ([]FraudAlert, error) {
	var out []FraudAlert
	err := cc.IterateJSON("supply.fraud", kv, prefixFraud, func(a FraudAlert) bool {
		out = append(out, a)
		return true
	})
	return out, err
}

// Events returns every accepted event, in ledger order.
func Events(kv cc.Reader) ([]StoredEvent, error) {
	var out []StoredEvent
	err := iterateEvents("supply.events", kv, prefixEvent, func(e StoredEvent) bool {
		out = append(out, e)
		return true
	})
	return out, err
}
