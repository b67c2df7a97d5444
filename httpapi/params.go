package httpapi

import (
	"context"
	"net/url"
	"strconv"
	"time"

	cc "carechain"
)

// intParam names an integer query parameter and where its value goes.
type intParam struct {
	name string
	dst  *int
}

// readModelQuery reads what the read model's reports share from q: the
// required vaccine and the integer parameters ps that are present (left
// as they are when absent). A missing vaccine or a value that is not an
// integer is cc.Invalid of op.
func readModelQuery(op string, q url.Values, ps ...intParam) (vaccine string, err error) {
	vaccine = q.Get("vaccine")
	if vaccine == "" {
		return "", cc.Errorf(op, cc.Invalid, "vaccine is required (a code such as 208, or system|code)")
	}
	for _, p := range ps {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", cc.Errorf(op, cc.Invalid, "%s must be an integer", p.name)
			}
			*p.dst = n
		}
	}
	return vaccine, nil
}

// defaultAsOf sets *asOf, when 0, to the year of the latest block (the
// clock's year before the first block): the year ages are computed at.
func (s *Server) defaultAsOf(ctx context.Context, asOf *int) error {
	if *asOf != 0 {
		return nil
	}
	st, err := s.chain.Status(ctx)
	if err != nil {
		return err
	}
	*asOf = st.LatestBlockTime.Year()
	if st.LatestBlockTime.IsZero() {
		*asOf = time.Now().Year()
	}
	return nil
}
