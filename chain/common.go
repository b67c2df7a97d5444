package chain

import (
	"encoding/json"
	"time"

	cc "carechain"
	"carechain/ledger"
)

// storeProofBundle returns a bundle with the store proof of key's latest
// write; the caller adds the signed header when it has one.
func storeProofBundle(app *ledger.App, key string) (*cc.ProofBundle, error) {
	p, err := app.Store().Proof(key)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, cc.E("proof", cc.Internal, err)
	}
	return &cc.ProofBundle{ChainID: app.ChainID(), Key: key, Height: p.Height, StoreProof: b}, nil
}

// appMetrics converts the App's counters.
func appMetrics(app *ledger.App, mempool int, interval time.Duration) cc.Metrics {
	st := app.Stats()
	m := cc.Metrics{
		CommittedTx:     st.CommittedTx.Load(),
		FailedTx:        st.FailedTx.Load(),
		Blocks:          st.Blocks.Load(),
		RejectedByKind:  map[string]uint64{},
		MempoolSize:     mempool,
		LastBlockTime:   interval,
		Height:          app.Store().LastHeight(),
		PreVerifiedSigs: st.PreVerified.Load(),
	}
	for _, c := range st.Rejected() {
		m.RejectedByKind[cc.KindFromCode(c.Code).String()] += c.Count
	}
	return m
}

// jsonOrNil returns b as raw JSON if it is valid JSON, else nil.
func jsonOrNil(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return json.RawMessage(b)
}
