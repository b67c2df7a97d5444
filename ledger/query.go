package ledger

import (
	"context"
	"encoding/json"
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"

	cc "carechain"
)

// Query paths served over ABCI (CometBFT's /abci_query). The HTTP API reads
// the committed store directly; these exist for standard tooling.
const (
	QueryState    = "/state"    // data: a state key; value: its committed value; prove=true adds the store proof as JSON in Info… see Proof
	QuerySequence = "/sequence" // data: a DID; value: its next sequence as decimal
)

// Query answers read-only questions about committed state.
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	height := a.store.LastHeight()
	fail := func(err error) (*abci.QueryResponse, error) {
		return &abci.QueryResponse{Code: cc.KindOf(err).Code(), Log: a.userText(err), Height: height, Codespace: "carechain"}, nil
	}
	switch req.Path {
	case QueryState:
		key := string(req.Data)
		v, err := a.store.Committed().Get(key)
		if err != nil {
			return fail(cc.E("query", cc.Internal, err))
		}
		if v == nil {
			return fail(cc.Errorf("query", cc.NotFound, "no state at %q", key))
		}
		resp := &abci.QueryResponse{Key: req.Data, Value: v, Height: height}
		if req.Prove {
			p, err := a.store.Proof(key)
			if err != nil {
				return fail(err)
			}
			b, err := json.Marshal(p)
			if err != nil {
				return fail(cc.E("query", cc.Internal, err))
			}
			resp.Info = string(b)
		}
		return resp, nil
	case QuerySequence:
		n, err := Sequence(a.store.Committed(), cc.DID(req.Data))
		if err != nil {
			return fail(err)
		}
		return &abci.QueryResponse{Key: req.Data, Value: []byte(strconv.FormatUint(n, 10)), Height: height}, nil
	}
	return fail(cc.Errorf("query", cc.UnknownType, "unknown query path %q", req.Path))
}
