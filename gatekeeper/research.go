package gatekeeper

import (
	"context"

	cc "carechain"
	"carechain/research"
)

// RecordResearchAnswer submits, signed with this node's key, the
// research.query.answer transaction that records answer as the answer of
// question n of project, and waits for its block. The ledger keeps the
// first answer of a question: a question answered meanwhile (by this or
// another node) is cc.Conflict, and the caller then reads the committed
// answer instead of releasing its own.
func (g *Gatekeeper) RecordResearchAnswer(ctx context.Context, project string, n int, answer *research.Answer) (cc.SubmitResult, error) {
	return g.submit(ctx, research.TypeAnswer, map[string]any{"project": project, "query": n, "answer": answer})
}
