package supply

import (
	"fmt"
	"strings"

	cc "carechain"
)

// State layout. Every key this package owns starts with "sup/". Values are
// JSON written with cc.SetJSON (struct fields in declaration order, so the
// bytes are deterministic), except items: sup/i/ values are the compact
// binary form of itemcodec.go (encodeItem) and stored events sup/ev/ that
// of eventcodec.go (encodeStoredEvent), equally deterministic.
//
// An EPC can contain '/' (GS1 Digital Link, "https://id.gs1.org/01/…/21/…"),
// so it is escaped in a key segment by epcSegment: '%' becomes "%25" and
// '/' becomes "%2F". The escaping is injective and never yields '/', so a
// prefix that ends in '/' selects exactly one parent's children.
//
//	sup/i/{epc}                                        Item (binary, encodeItem): the custody state of one EPC (children listed in the item)
//	sup/ev/{%020d height}/{tx hash hex}/{%04d idx}     StoredEvent (binary, encodeStoredEvent): every accepted event, in payload order
//	sup/fraud/{%020d height}/{%06d idx}                FraudAlert: idx in order within the block
//	sup/p/{gtin-14}                                    Product: master data of a trade item
//	sup/loc/{gln-13}                                   Location: a registered site
//	sup/lot/{lot}/{gtin-14 or "-"}                     Lot: lot master, created by the first commissioning
//	sup/lr/{epc}                                       JSON int: Unix second of the last temperature report on the EPC
//	sup/exc/{%020d height}/{%06d idx}                  Excursion: a cold-chain excursion that quarantined items
//	sup/rev/{%020d height}/{%06d idx}                  Review: a regulator's quarantine decision
//	sup/recall/{%020d height}/{%06d idx}               Recall: a lot recall
//
// (stock.go lists the indexes sup/member/, sup/li/, sup/h/, sup/lu/ and the
// immunization log sup/adm/, sup/al/.) Lot numbers are escaped like EPCs.
//
// Readers outside this package should use GetItem, Children, ParentOf,
// Events, FraudAlerts, GetProduct, GetLocation, GetLot, Excursions, Reviews
// and Recalls rather than these keys.
const (
	prefixItem      = "sup/i/"
	prefixEvent     = "sup/ev/"
	prefixFraud     = "sup/fraud/"
	prefixProduct   = "sup/p/"
	prefixLocation  = "sup/loc/"
	prefixLot       = "sup/lot/"
	prefixLastRead  = "sup/lr/"
	prefixExcursion = "sup/exc/"
	prefixReview    = "sup/rev/"
	prefixRecall    = "sup/recall/"
)

// HotPrefixes are the state key prefixes whose values one block writes and
// the next reads: the custody items (a case commissioned, then packed, then
// shipped and received, each by the document after the one before
// committed). See ledger.Config.HotPrefixes.
func HotPrefixes() []string { return []string{prefixItem} }

// productKey is the key of the product of a GTIN-14.
func productKey(gtin string) string { return prefixProduct + gtin }

// locationKey is the key of the location of a GLN-13.
func locationKey(gln string) string { return prefixLocation + gln }

// lotPrefix selects the lot masters of lot number lot.
func lotPrefix(lot string) string { return prefixLot + epcSegment(lot) + "/" }

// lotKey is the key of the lot master of lot and gtin ("" when none).
func lotKey(lot, gtin string) string {
	if gtin == "" {
		gtin = "-"
	}
	return lotPrefix(lot) + gtin
}

// lastReadKey is the key of the time of the last temperature report on epc.
func lastReadKey(epc string) string { return prefixLastRead + epcSegment(epc) }

// blockKey is the key of the idx-th record under prefix of the block at
// height; blockPrefix selects the block's records.
func blockKey(prefix string, height int64, idx int) string {
	return fmt.Sprintf("%s%06d", blockPrefix(prefix, height), idx)
}

func blockPrefix(prefix string, height int64) string {
	return fmt.Sprintf("%s%020d/", prefix, height)
}

// countIn returns how many keys start with prefix.
func countIn(kv cc.Reader, prefix string) (int, error) {
	n := 0
	if err := kv.Iterate(prefix, func(string, []byte) bool { n++; return true }); err != nil {
		return 0, err
	}
	return n, nil
}

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
