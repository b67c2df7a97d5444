// Package research holds carechain's research projects as pure,
// deterministic state transitions: a research institute registers a
// project, governance approves it, patients opt in or out, researchers ask
// aggregate questions that spend the project's privacy budget, and a
// custodian node records the (noisy) answer once.
//
// # Projects
//
// research.project.register {id, org, title, protocol, ethics, purposes,
// resource_types, categories?, aggregates, extracts, period,
// budget_micro_epsilon} is signed by an admin or researcher member of the
// active research-institute organization org. The project starts
// "pending"; governance members sign research.project.approve {id} and
// the project becomes "approved" in the transaction whose approvals (by
// current members, see identity.GetGovernance) reach the governance
// threshold. Only an approved project whose period contains the block
// time is "active": only then may patients opt in, questions be asked and
// extracts be made.
//
// # Participation: the default is out
//
// research.optin {project, patient} (the patient, or a delegate with the
// scope consent.manage) records the patient's opt-in AND grants, in the
// same transaction and through consent's own consent.grant handler, a real
// consent: one permit provision for actor {org: the institute, role:
// researcher}, actions read/search/export, purpose HRESEARCH, the
// project's resource types and categories, period = the project's period.
// So consent.Can, the gatekeeper and the on-chain access log allow exactly
// the institute's researchers' HRESEARCH reads of the project's data.
// research.optout {project, patient} records an opt-out (which wins over
// any other consent for that project) and revokes the opt-in consent if it
// is still live. A patient may also opt in per category with an ordinary
// consent.grant: a permit with purpose HRESEARCH and no condition whose
// actors are empty or name the institute (alone or with the researcher
// role) and whose resource types and categories overlap the project's.
// Counts is the pure decision; non-consenting patients are never counted
// nor extracted.
//
// # Privacy budget
//
// Budgets and costs are integers in micro-ε (1 ε = 1,000,000), so the
// accounting in state is exact and float-free. research.query.ask
// {project, query, epsilon_micro} by an admin or researcher of the
// institute spends epsilon_micro from the budget of an active project
// with aggregates: a question that would spend past the budget is refused
// with cc.FailedPrecondition ("privacy budget exhausted", ABCI code 14)
// and changes nothing. The question is stored "pending" with the next
// number (from 1).
//
// research.query.answer {project, query, answer} records the answer: its
// signer must be a member with the node role of an active organization (a
// custodian node's gatekeeper key). The first answer of a question wins;
// any later one is cc.Conflict, so however many nodes race, one noise
// draw is ever released. The noise is drawn off-chain (package
// research/dp, crypto/rand); the ledger stores the noisy, suppressed,
// integer-valued cells. The Answer documents its mechanism, sensitivity,
// ε and δ.
//
// # State layout
//
//	research/p/{id}                   Project
//	research/o/{project}/{patient}    Participation: the latest opt-in or opt-out
//	research/q/{project}/{n, 8 digits} Query, with its Answer once answered
//
// Everything here is deterministic: no clock (block time only), no
// randomness, goroutines or I/O besides the injected state, no floats in
// state, no map order in outputs. Errors are *cc.Error: cc.Malformed for a
// payload of the wrong shape, cc.Invalid for a bad field, and
// cc.Unauthorized, cc.NotFound, cc.Conflict, cc.FailedPrecondition as each
// handler documents. A rejected transaction writes nothing.
package research

import (
	"fmt"

	cc "carechain"
)

// The transaction types this package handles.
const (
	TypeRegister = "research.project.register"
	TypeApprove  = "research.project.approve"
	TypeOptIn    = "research.optin"
	TypeOptOut   = "research.optout"
	TypeAsk      = "research.query.ask"
	TypeAnswer   = "research.query.answer"
)

// Purpose is the purpose of use of research reads and opt-in consents.
const Purpose = "HRESEARCH"

// MicroPerEpsilon is the number of budget units in one ε.
const MicroPerEpsilon = 1_000_000

// Limits.
const (
	MaxBudgetMicro   = 20 * MicroPerEpsilon // a project's whole budget: at most ε = 20
	MinQueryMicro    = 10_000               // one question costs at least ε = 0.01
	MaxTextLen       = 512                  // title, protocol, ethics reference
	MaxCodes         = 64                   // resource types or categories of a project
	MaxCategoryLen   = 256                  // bytes of one "system|code" category
	MaxResourceType  = 64                   // bytes of a FHIR resource type name
	MaxAnswerCells   = 4096                 // cells of one answer
	MaxGroupValueLen = 64                   // bytes of one stratum value
	MinCell          = 11                   // small-cell threshold k: a count below it is suppressed
)

// Project statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
)

// Participation statuses.
const (
	OptedIn  = "in"
	OptedOut = "out"
)

// Query statuses.
const (
	QueryPending  = "pending"
	QueryAnswered = "answered"
)

const (
	prefixProject = "research/p/"
	prefixPart    = "research/o/"
	prefixQuery   = "research/q/"
)

// projectKey is the key of project id.
func projectKey(id string) string { return prefixProject + id }

// partPrefix selects the participations of project.
func partPrefix(project string) string { return prefixPart + project + "/" }

// partKey is the key of patient's participation in project.
func partKey(project string, patient cc.DID) string { return partPrefix(project) + string(patient) }

// queryPrefix selects the questions of project.
func queryPrefix(project string) string { return prefixQuery + project + "/" }

// queryKey is the key of question n of project (zero-padded so that key
// order is number order).
func queryKey(project string, n int) string { return fmt.Sprintf("%s%08d", queryPrefix(project), n) }
