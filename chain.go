package carechain

import (
	"context"
	"encoding/json"
	"time"
)

// Chain is what the edges (HTTP API, CLI, benchmarks) need from a running
// carechain node: submit signed transactions, read committed state, and
// inspect blocks and proofs.
type Chain interface {
	// Submit hands raw transactions to the node's mempool in order. With
	// wait, it returns once each accepted transaction is committed (or ctx
	// ends). One result per transaction, in order.
	Submit(ctx context.Context, txs [][]byte, wait bool) []SubmitResult
	// Status reports the node's view of the chain.
	Status(ctx context.Context) (Status, error)
	// State is the committed application state (read-only, concurrent-safe).
	State() Reader
	// Block returns a committed block summary.
	Block(ctx context.Context, height int64) (*BlockInfo, error)
	// Tx returns where a committed transaction is and its result.
	Tx(ctx context.Context, hash []byte) (*TxInfo, error)
	// Proof returns an inclusion proof of key's latest write, anchored in a
	// validator-signed header.
	Proof(ctx context.Context, key string) (*ProofBundle, error)
	// Sequence returns the next sequence signer must use.
	Sequence(ctx context.Context, signer DID) (uint64, error)
	// Metrics returns counters for /metrics.
	Metrics() Metrics
}

// SubmitResult is the outcome of one submitted transaction.
type SubmitResult struct {
	Hash     string          `json:"hash"` // hex
	Accepted bool            `json:"accepted"`
	Code     uint32          `json:"code"`
	Kind     string          `json:"kind,omitempty"`
	Log      string          `json:"log,omitempty"`
	Height   int64           `json:"height,omitempty"` // set once committed
	Data     json.RawMessage `json:"data,omitempty"`
}

// Status is a node's view of the chain.
type Status struct {
	ChainID         string      `json:"chain_id"`
	NodeID          string      `json:"node_id"`
	Moniker         string      `json:"moniker"`
	LatestHeight    int64       `json:"latest_height"`
	LatestAppHash   string      `json:"latest_app_hash"` // hex
	LatestBlockTime time.Time   `json:"latest_block_time"`
	CatchingUp      bool        `json:"catching_up"`
	MempoolSize     int         `json:"mempool_size"`
	Validators      []Validator `json:"validators"`
}

// Validator is a member of the validator set.
type Validator struct {
	Address string `json:"address"` // hex
	PubKey  []byte `json:"pub_key"`
	Power   int64  `json:"power"`
}

// BlockInfo summarizes a committed block.
type BlockInfo struct {
	Height   int64     `json:"height"`
	Hash     string    `json:"hash"`
	Time     time.Time `json:"time"`
	AppHash  string    `json:"app_hash"` // state after the previous block
	Proposer string    `json:"proposer"`
	NumTxs   int       `json:"num_txs"`
	TxHashes []string  `json:"tx_hashes"`
}

// TxInfo locates a committed transaction.
type TxInfo struct {
	Hash   string          `json:"hash"`
	Height int64           `json:"height"`
	Index  int             `json:"index"`
	Code   uint32          `json:"code"`
	Tx     json.RawMessage `json:"tx,omitempty"` // the envelope
}

// ProofBundle proves that a key had a value (or was deleted) at a height:
// a store proof that recomputes the AppHash of that height, and the
// validator-signed header that carries that AppHash, with the validator set
// that signed it. It is checkable offline (`carechain verify-proof`).
type ProofBundle struct {
	ChainID      string          `json:"chain_id"`
	Key          string          `json:"key"`
	Height       int64           `json:"height"`        // block whose execution wrote key
	StoreProof   json.RawMessage `json:"store_proof"`   // ledger/store.Proof
	SignedHeader json.RawMessage `json:"signed_header"` // CometBFT header at Height+1 with its commit
	Validators   json.RawMessage `json:"validators"`    // CometBFT validator set of Height+1
}

// Metrics are node counters for Prometheus.
type Metrics struct {
	CommittedTx    uint64
	FailedTx       uint64
	Blocks         uint64
	RejectedByKind map[string]uint64
	MempoolSize    int
	LastBlockTime  time.Duration // interval between the last two blocks
	Height         int64
	// CheckBatches and CheckBatchedTxs count the batches in which the
	// mempool checked transactions gossiped by peers (their signatures
	// verified together) and the transactions they held.
	CheckBatches, CheckBatchedTxs uint64
	// PreVerifiedSigs counts the signatures verified in batches before
	// CheckTx (submissions and gossiped transactions).
	PreVerifiedSigs uint64
	// LastBlockStages is how long the last committed block spent in each
	// stage on this node: "consensus" (proposal → FinalizeBlock), "execute"
	// (FinalizeBlock) and "commit" (Commit). Empty without a consensus node.
	LastBlockStages map[string]time.Duration
}
