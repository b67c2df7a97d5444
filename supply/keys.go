package supply

import (
	"fmt"
	"strings"
)

// State layout. Every key this package owns starts with "sup/". Values are
// JSON written with cc.SetJSON (struct fields in declaration order, so the
// bytes are deterministic).
//
// An EPC can contain '/' (GS1 Digital Link, "https://id.gs1.org/01/…/21/…"),
// so it is escaped in a key segment by epcSegment: '%' becomes "%25" and
// '/' becomes "%2F". The escaping is injective and never yields '/', so a
// prefix that ends in '/' selects exactly one parent's children.
//
//	sup/i/{epc}                                        Item: the custody state of one EPC (children listed in the item)
//	sup/ev/{%020d height}/{tx hash hex}/{%04d idx}     StoredEvent: every accepted event, in payload order
//	sup/fraud/{%020d height}/{%06d idx}                FraudAlert: idx in order within the block
//
// Readers outside this package should use GetItem, Children, ParentOf,
// Events and FraudAlerts rather than these keys.
const (
	prefixItem  = "sup/i/"
	prefixEvent = "sup/ev/"
	prefixFraud = "sup/fraud/"
)

// epcSegment escapes epc for use as one key segment.
func epcSegment(epc string) string {
	if !strings.ContainsAny(epc, "%/") {
		return epc
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(epc)
}

// itemKey is the key of the custody state of epc.
func itemKey(epc string) string { return prefixItem + epcSegment(epc) }

// eventKey is the key of the idx-th event of the transaction txHash (hex)
// at height.
func eventKey(height int64, txHash string, idx int) string {
	return fmt.Sprintf("%s%020d/%s/%04d", prefixEvent, height, txHash, idx)
}

// fraudBlockPrefix selects the fraud alerts of one block.
func fraudBlockPrefix(height int64) string {
	return fmt.Sprintf("%s%020d/", prefixFraud, height)
}

// fraudKey is the key of the idx-th fraud alert of the block at height.
func fraudKey(height int64, idx int) string {
	return fmt.Sprintf("%s%06d", fraudBlockPrefix(height), idx)
}
