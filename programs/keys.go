package programs

import (
	"fmt"
	"regexp"

	cc "carechain"
)

// State layout. Every key this package owns starts with "prog/". Values
// are JSON written with cc.SetJSON (struct fields in declaration order, so
// the bytes are deterministic). Program ids match idPattern, regions
// regionPattern and patients are did:cc identifiers, so no segment holds
// '/' and a prefix that ends in '/' selects one parent's children.
//
//	prog/p/{id}                                         Program: the header (status, version, budget, counters, milestones)
//	prog/v/{id}/{%06d version}                          Version: every deployed version, oldest first
//	prog/m/{id}/{patient}                               Member: one enrolled patient (region and dose count only)
//	prog/r/{id}/{region}                                Region: enrolled and reached counts of one region
//	prog/o/{id}/{org}                                   Payee: the credits paid to one administering organization
//	prog/due/{id}/{%020d unix second}/{patient}         JSON true: a reminder falls due then
//	prog/d/{id}/{%020d height}/{tx hash hex}/{%04d idx}/{kind}  Decision: the decision log
//
// A decision's idx is the administration's index in its transaction for
// decisions on doses, and the decision's sequence in a program.run
// transaction otherwise; together with the kind it makes the key unique.
// Readers outside this package should use the exported getters.
const (
	prefixProgram  = "prog/p/"
	prefixVersion  = "prog/v/"
	prefixMember   = "prog/m/"
	prefixRegion   = "prog/r/"
	prefixPayee    = "prog/o/"
	prefixDue      = "prog/due/"
	prefixDecision = "prog/d/"
)

// idPattern is what a program id looks like.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,63}$`)

// regionPattern is what a region label looks like: a short code or name
// of an area table's region, never a finer geography.
var regionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,47}$`)

// ValidID reports whether id can name a program.
func ValidID(id string) bool { return idPattern.MatchString(id) }

func programKey(id string) string { return prefixProgram + id }

func versionsPrefix(id string) string { return prefixVersion + id + "/" }

func versionKey(id string, v int) string { return fmt.Sprintf("%s%06d", versionsPrefix(id), v) }

func membersPrefix(id string) string { return prefixMember + id + "/" }

func memberKey(id string, patient cc.DID) string { return membersPrefix(id) + string(patient) }

func regionsPrefix(id string) string { return prefixRegion + id + "/" }

func regionKey(id, region string) string { return regionsPrefix(id) + region }

func payeesPrefix(id string) string { return prefixPayee + id + "/" }

func payeeKey(id, org string) string { return payeesPrefix(id) + org }

func duePrefix(id string) string { return prefixDue + id + "/" }

func dueKey(id string, unix int64, patient cc.DID) string {
	return fmt.Sprintf("%s%020d/%s", duePrefix(id), unix, patient)
}

func decisionsPrefix(id string) string { return prefixDecision + id + "/" }

func decisionKey(id string, height int64, txHash string, idx int, kind string) string {
	return fmt.Sprintf("%s%020d/%s/%04d/%s", decisionsPrefix(id), height, txHash, idx, kind)
}
