// Package gatekeeper is a custodian node's door to patient data: it ingests
// FHIR resources (validate, encrypt into the vault, anchor on the ledger)
// and answers reads only after the ledger has decided and logged them.
// It runs at the edge, outside consensus: it may use goroutines, the clock
// and randomness, and submits ordinary signed transactions with the node's
// gatekeeper key (a DID with the node role in the custodian organization).
package gatekeeper

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"strings"
	"sync"
	"time"

	cc "carechain"
	"carechain/access"
	"carechain/fhir"
	"carechain/ledger/tx"
	"carechain/vault"
)

// Config wires a Gatekeeper.
type Config struct {
	Chain   cc.Chain
	Vault   *vault.Vault
	Index   *Index
	Org     string             // the custodian organization this node serves
	NodeDID cc.DID             // the gatekeeper key's DID: a member of Org with the node role
	NodeKey ed25519.PrivateKey //
	Log     *slog.Logger
	// OnPatients, when set, is called after an ingest committed new or
	// updated Patient resources, with their demographics (PHI that stays
	// in the node: the node's read model keeps them as the population
	// register of coverage statistics).
	OnPatients func([]PatientDemographics)
	// OnImmunizations, when set, is called after an ingest committed new
	// or updated Immunization resources, with their occurrence dates (PHI
	// that stays in the node: the read model's coverage trends).
	OnImmunizations func([]ImmunizationDate)
}

// PatientDemographics are the demographics of a patient's Patient
// resource (see fhir.DemographicsOf).
type PatientDemographics struct {
	DID cc.DID
	fhir.Demographics
}

// Gatekeeper ingests and releases records for one custodian organization.
// Its methods are safe for concurrent use.
type Gatekeeper struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex // serializes the node key's sequence
	seq   uint64
	known bool

	loggerOnce sync.Once
	accessLog  *accessLogger

	nonceOnce sync.Once
	nonce     *nonceCache

	head      headCache     // the chain's status between commits (Committed)
	decisions decisionCache // consent pre-check facts between commits
	erasures  eraseQueue    // committed erasures not yet shredded (Watch)
}

// New returns a Gatekeeper.
func New(cfg Config) *Gatekeeper {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gatekeeper{cfg: cfg, log: log}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns a fresh server-assigned FHIR logical id (26 characters of
// lowercase base32: 128 random bits).
func newID(string) string {
	var b [16]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// Org returns the custodian organization this gatekeeper serves.
func (g *Gatekeeper) Org() string { return g.cfg.Org }

// sign builds the node's next transaction of typ. The payload is put in
// canonical form, and decoded ahead for its handler when the chain can, before
// the node key's lock is taken (most of the work for a large capture), so
// only the signing orders the node's transactions.
func (g *Gatekeeper) sign(ctx context.Context, typ string, payload any) ([]byte, func(ok bool), error) {
	p, err := tx.NewPayload(payload)
	if err != nil {
		return nil, nil, err
	}
	if pd, ok := g.cfg.Chain.(predecoder); ok {
		pd.Predecode(typ, p.Bytes())
	}
	return g.signWith(ctx, func(chainID string, seq uint64) ([]byte, error) {
		return tx.BuildPayload(chainID, g.cfg.NodeDID, g.cfg.NodeKey, seq, typ, p)
	})
}

// signWith builds the node's next transaction with build, given the chain
// id and the node's next sequence. The returned done releases the
// sequence (see sign).
func (g *Gatekeeper) signWith(ctx context.Context, build func(chainID string, seq uint64) ([]byte, error)) ([]byte, func(ok bool), error) {
	g.mu.Lock()
	if !g.known {
		n, err := g.cfg.Chain.Sequence(ctx, g.cfg.NodeDID)
		if err != nil {
			g.mu.Unlock()
			return nil, nil, err
		}
		g.seq, g.known = n, true
	}
	st, err := g.status(ctx) // for the chain id
	if err != nil {
		g.mu.Unlock()
		return nil, nil, err
	}
	raw, err := build(st.ChainID, g.seq)
	if err != nil {
		g.mu.Unlock()
		return nil, nil, err
	}
	g.seq++
	// done releases the sequence; a failed submission forgets it so the
	// next transaction re-reads the committed sequence.
	done := func(ok bool) {
		if !ok {
			g.known = false
		}
		g.mu.Unlock()
	}
	return raw, done, nil
}

// predecoder is a chain whose handlers can decode a payload ahead of the
// transaction that will carry it (chain.Node).
type predecoder interface {
	Predecode(typ string, payload []byte)
}

// pipeliner is a chain that can check a transaction into the mempool and
// wait for its commit separately (chain.Node, chain.Local).
type pipeliner interface {
	SubmitThen(ctx context.Context, raw []byte) (cc.SubmitResult, func(context.Context) cc.SubmitResult)
}

// includer is a chain that signals when a block holding a transaction
// begins executing (chain.Node, chain.Local): the access logger prepares
// the reads of a batch then, while the block executes.
type includer interface {
	WhenIncluded(hash [32]byte) (<-chan struct{}, func())
}

// submit signs and commits one node transaction, returning its result.
// The node key's lock is held only until the transaction is in the
// mempool (when the chain can pipeline), so the node's transactions of
// one block do not wait for each other's commits.
func (g *Gatekeeper) submit(ctx context.Context, typ string, payload any) (cc.SubmitResult, error) {
	raw, done, err := g.sign(ctx, typ, payload)
	if err != nil {
		return cc.SubmitResult{}, err
	}
	var res cc.SubmitResult
	if p, ok := g.cfg.Chain.(pipeliner); ok {
		checked, wait := p.SubmitThen(ctx, raw)
		done(checked.Accepted)
		res = checked
		if wait != nil {
			res = wait(ctx)
		}
	} else {
		res = g.cfg.Chain.Submit(ctx, [][]byte{raw}, true)[0]
		done(res.Accepted && res.Height > 0)
	}
	if !res.Accepted || res.Height == 0 {
		k := cc.KindFromCode(res.Code)
		if res.Code == 0 {
			k = cc.Unavailable
		}
		return res, &cc.Error{Op: typ, Kind: k, Msg: trimLog(res.Log)}
	}
	return res, nil
}

// trimLog strips the "op: kind: " prefix of a ledger log.
func trimLog(s string) string {
	if parts := strings.SplitN(s, ": ", 3); len(parts) == 3 {
		return parts[2]
	}
	return s
}

// SignRelay signs, with this gatekeeper's node key, a write request whose
// body is the bytes relayed (the requester's signed read header), so that
// the custodian node receiving a forwarded read knows which node relayed
// it (access.VerifyWrite, author with the node role in Org).
func (g *Gatekeeper) SignRelay(chainID string, relayed []byte, issued time.Time) (access.SignedRead, error) {
	var b [16]byte
	rand.Read(b[:])
	return access.SignWrite(access.WriteRequest{ChainID: chainID, Author: g.cfg.NodeDID, Org: g.cfg.Org,
		Body: access.BodyHash(relayed), Issued: issued, Nonce: idEncoding.EncodeToString(b[:])}, g.cfg.NodeKey)
}
