package gatekeeper

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"strings"

	cc "carechain"
	"carechain/identity"
	"carechain/ledger/tx"
)

// A custodial patient DID is for a person who has no DID of their own yet:
// the custodian creates it (patient.custodial.create) when it ingests
// the person's records, and hands the person a one-time claim code. The
// gatekeeper does not keep the custodial private key: nobody can sign in
// the patient's name until the person claims the DID with the code and
// their own new key (Claim), which rotates the DID to that key. Until
// then the custodian reads and writes the records under its own rights
// (author organization), like any other record it holds.

// claimCodeEncoding spells claim codes without the characters people
// confuse most (0/O, 1/I), upper case (codes are case-insensitive).
var claimCodeEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// newClaimCode returns 16 characters (80 random bits) as XXXX-XXXX-XXXX-XXXX.
func newClaimCode() string {
	var b [10]byte
	rand.Read(b[:])
	s := claimCodeEncoding.EncodeToString(b[:])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// createCustodial creates a custodial patient DID linked to this
// custodian and returns it with its claim code.
func (g *Gatekeeper) createCustodial(ctx context.Context) (cc.DID, string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader) // the private key is dropped: see above
	if err != nil {
		return "", "", cc.E("custodial", cc.Internal, err)
	}
	did := tx.DeriveDID(pub)
	code := newClaimCode()
	_, err = g.submit(ctx, identity.TypeCustodialCreate, map[string]string{
		"public_key": tx.EncodeKey(pub), "org": g.cfg.Org,
		"claim_hash": base64.RawURLEncoding.EncodeToString(identity.ClaimHash(did, code)),
	})
	if err != nil {
		return "", "", err
	}
	return did, code, nil
}

// Claim is a person's claim of a custodial DID: the one-time code and
// their new key, with its proof (identity.SignClaimProof).
type Claim struct {
	DID       cc.DID `json:"did"`
	Code      string `json:"code"`
	PublicKey string `json:"public_key"`
	Proof     string `json:"proof"`
}

// Claim relays a person's claim of a custodial DID this custodian created
// as a patient.claim transaction signed with the node key. The ledger
// checks the code against its hash and the proof against the new key; a
// wrong code is cc.Unauthorized and changes nothing. A DID that is not
// custodial at this organization is cc.NotFound.
func (g *Gatekeeper) Claim(ctx context.Context, c Claim) error {
	l, err := identity.GetLink(g.cfg.Chain.State(), c.DID, g.cfg.Org)
	if err != nil || !l.Custodial {
		return cc.Errorf("claim", cc.NotFound, "%s is not a custodial DID of %s", cc.Echo(string(c.DID)), g.cfg.Org)
	}
	if strings.TrimSpace(c.Code) == "" {
		return cc.Errorf("claim", cc.Invalid, "give the claim code")
	}
	_, err = g.submit(ctx, identity.TypePatientClaim, c)
	return err
}
