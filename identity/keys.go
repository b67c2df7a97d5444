package identity

import (
	"fmt"

	cc "carechain"
)

// State layout. Every key this package owns starts with "id/". Values are
// JSON written with cc.SetJSON (struct fields in declaration order, so the
// bytes are deterministic). Key segments are either did:cc identifiers
// (lowercase base32, never '/'), organization slugs ([a-z0-9-], never '/'),
// zero-padded decimal numbers or unpadded base64url, so a prefix that ends
// in '/' selects exactly one parent's children.
//
//	id/did/{did}                 cc.DIDRecord: current key, key version, guardians; for a
//	                             registered patient also when it registered and who attested it
//	id/link/{did}/{org}          cc.PatientLink: org may hold records of patient did
//	id/claim/{did}               custodialClaim: the pending claim of a custodial patient DID
//	id/org/{org}                 cc.Organization: an admitted organization
//	id/member/{org}/{did}        cc.Member: one DID's roles in one organization
//	id/memberof/{did}/{org}      JSON string org: index of the organizations a DID belongs to
//	id/gov                       cc.Governance: governance members and approval threshold
//	id/prop/{%020d id}           cc.Proposal: a governance proposal (ids sort numerically)
//	id/propnext                  JSON number: the id the next proposal gets (absent means 1)
//	id/recovery/{did}            cc.Recovery: the pending guardian recovery of a DID
//	id/deleg/{principal}/{dlg}   cc.Delegation: what delegate dlg may do for principal
//	id/val/{base64url key}       cc.ValidatorUpdate: a validator's current voting power
//
// Readers outside this package should use the exported getters rather than
// these keys; the layout is documented so that state dumps and proofs can be
// interpreted.
const (
	prefixDID        = "id/did/"
	prefixLink       = "id/link/"
	prefixClaim      = "id/claim/"
	prefixOrg        = "id/org/"
	prefixMember     = "id/member/"
	prefixMemberOf   = "id/memberof/"
	keyGovernance    = "id/gov"
	prefixProposal   = "id/prop/"
	keyProposalNext  = "id/propnext"
	prefixRecovery   = "id/recovery/"
	prefixDelegation = "id/deleg/"
	prefixValidator  = "id/val/"
)

// didKey is the key of a DID's record.
func didKey(d cc.DID) string { return prefixDID + string(d) }

// linksPrefix selects every link of patient d, in organization order.
func linksPrefix(d cc.DID) string { return prefixLink + string(d) + "/" }

// linkKey is the key of the link between patient d and org.
func linkKey(d cc.DID, org string) string { return linksPrefix(d) + org }

// claimKey is the key of the pending claim of the custodial DID d.
func claimKey(d cc.DID) string { return prefixClaim + string(d) }

// orgKey is the key of an organization.
func orgKey(id string) string { return prefixOrg + id }

// membersPrefix selects every member of org.
func membersPrefix(org string) string { return prefixMember + org + "/" }

// memberKey is the key of did's membership of org.
func memberKey(org string, d cc.DID) string { return membersPrefix(org) + string(d) }

// memberOfPrefix selects the membership index entries of d.
func memberOfPrefix(d cc.DID) string { return prefixMemberOf + string(d) + "/" }

// memberOfKey is the index entry saying d is a member of org.
func memberOfKey(d cc.DID, org string) string { return memberOfPrefix(d) + org }

// proposalKey is the key of proposal id; the zero padding makes keys sort in
// numeric order.
func proposalKey(id uint64) string { return fmt.Sprintf("%s%020d", prefixProposal, id) }

// recoveryKey is the key of d's pending recovery.
func recoveryKey(d cc.DID) string { return prefixRecovery + string(d) }

// delegationsPrefix selects every delegation granted by principal.
func delegationsPrefix(principal cc.DID) string { return prefixDelegation + string(principal) + "/" }

// delegationKey is the key of principal's delegation to delegate.
func delegationKey(principal, delegate cc.DID) string {
	return delegationsPrefix(principal) + string(delegate)
}

// validatorKey is the key of the validator with the base64url public key k.
func validatorKey(k string) string { return prefixValidator + k }
