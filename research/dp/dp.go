// Package dp answers a research project's aggregate questions off-chain,
// with small-cell suppression and differential-privacy noise, as a
// research.Answer that a custodian node records on the ledger once (see
// package research: the first answer wins, so a question's noise is drawn
// and released once).
//
// # Mechanism
//
// Every released value is an integer query (a count or a sum of clamped
// integers) plus noise from the discrete Laplace (two-sided geometric)
// distribution, P(X = x) ∝ exp(−|x|·ε/Δ), drawn as the difference of two
// geometric variables from crypto/rand. It is ε-differentially private
// for an integer query of L1 sensitivity Δ, with δ = 0, and has none of
// the floating-point weaknesses of a continuous Laplace sample rounded
// afterwards. The neighbouring relation is one participant added or
// removed.
//
// The released vector of a question is every stratum of the full domain
// of the asked dimensions (the cross product of the values a dimension can
// take, whether anyone is in the stratum or not, so that a stratum's
// presence reveals nothing) plus the total:
//
//   - count: the participants per stratum and in total. One participant
//     changes one stratum and the total by 1: Δ = 2, noise scale 2/ε.
//   - coverage: the participants (denominator) and those with at least
//     the asked doses of the vaccine (numerator), per stratum and total:
//     Δ = 4, scale 4/ε. The rate is numerator/denominator of the noisy
//     values (post-processing, no further cost), in parts per million.
//   - mean_age: ε is split in halves; the counts get scale 2/(ε/2) and
//     the sums of ages, each age clamped to [0, MaxAge] years, Δ = 2·MaxAge
//     and scale 2·MaxAge/(ε/2). The mean is noisy sum / noisy count, in
//     thousandths of a year. Participants without a birth year count in
//     neither.
//
// Noisy values are clamped at 0 (post-processing). The Answer's
// Sensitivity is Δ of the counts (2 or 4) for count and coverage, and
// 2·MaxAge for mean_age; its EpsilonMicro is the question's whole ε, its
// DeltaPPB 0.
//
// # Suppression
//
// On top of the noise, a stratum (or the total) is suppressed — all its
// values withheld — when its true or noisy count is below the small-cell
// threshold k = research.MinCell (11), or, for coverage, its true or
// noisy numerator is between 1 and k−1. Suppressing on the true counts is
// the usual statistical-disclosure rule (it is not itself differentially
// private, but it only withholds values); the noise bounds what any
// combination of released values, differences with the total included,
// can reveal.
package dp

import (
	"crypto/rand"
	"encoding/binary"
	"io"
	"math"
	"slices"
	"strings"

	cc "carechain"
	"carechain/research"
)

// MaxAge is the clamp of ages in mean_age sums, in years.
const MaxAge = 100

// Mechanism names the noise mechanism in answers.
const Mechanism = "discrete-laplace"

// Subject is one participant as the read model knows them.
type Subject struct {
	Strata    map[string]string // dimension → value (see research.Dimensions)
	BirthYear int               // 0 when unknown
	Doses     int               // counted doses of the question's vaccine
}

// Answer computes q over subjects (the participants only: the caller has
// kept exactly those research.Counts allows) with privacy parameter eps
// (micro-ε, the question's cost), drawing noise from rnd (crypto/rand's
// Reader when nil). domains gives, for every dimension of q.By, the full
// list of its values. stateHeight is recorded in the answer. A question
// whose strata exceed research.MaxAnswerCells, or a dimension without a
// domain, is cc.Invalid.
func Answer(q research.QuerySpec, eps int64, subjects []Subject, domains map[string][]string, stateHeight int64, rnd io.Reader) (*research.Answer, error) {
	const op = "research.answer"
	if rnd == nil {
		rnd = rand.Reader
	}
	if eps <= 0 {
		return nil, cc.Errorf(op, cc.Invalid, "ε must be positive")
	}
	groups := [][]string{{}}
	for _, dim := range q.By {
		vals := domains[dim]
		if len(vals) == 0 {
			return nil, cc.Errorf(op, cc.Invalid, "no domain for dimension %q", cc.Echo(dim))
		}
		var next [][]string
		for _, g := range groups {
			for _, v := range vals {
				next = append(next, append(slices.Clone(g), v))
			}
		}
		groups = next
		if len(groups)+1 > research.MaxAnswerCells {
			return nil, cc.Errorf(op, cc.Invalid, "the question has more than %d strata", research.MaxAnswerCells-1)
		}
	}
	type agg struct{ n, num, ageN, ageSum int64 }
	index := map[string]int{}
	for i, g := range groups {
		index[strings.Join(g, "\x00")] = i
	}
	cells := make([]agg, len(groups))
	var total agg
	for _, s := range subjects {
		vals := make([]string, len(q.By))
		for i, dim := range q.By {
			vals[i] = s.Strata[dim]
		}
		i, ok := index[strings.Join(vals, "\x00")]
		add := func(a *agg) {
			a.n++
			if q.Measure == research.MeasureCoverage && s.Doses >= q.Dose {
				a.num++
			}
			if s.BirthYear > 0 {
				a.ageN++
				a.ageSum += int64(min(max(q.AsOf-s.BirthYear, 0), MaxAge))
			}
		}
		add(&total)
		if ok && len(q.By) > 0 {
			add(&cells[i])
		}
	}
	e := float64(eps) / research.MicroPerEpsilon
	ans := &research.Answer{Mechanism: Mechanism, EpsilonMicro: eps, MinCell: research.MinCell, StateHeight: stateHeight}
	k := int64(research.MinCell)
	small := func(v int64) bool { return v >= 1 && v < k }
	release := func(group []string, a agg) (research.Cell, error) {
		c := research.Cell{Group: group}
		var err error
		noisy := func(v int64, scale float64) int64 {
			if err != nil {
				return 0
			}
			var x int64
			x, err = DiscreteLaplace(rnd, scale)
			return max(v+x, 0)
		}
		switch q.Measure {
		case research.MeasureCount:
			ans.Sensitivity = 2
			c.N = noisy(a.n, 2/e)
			c.Suppressed = a.n < k || c.N < k
		case research.MeasureCoverage:
			ans.Sensitivity = 4
			c.N, c.Num = noisy(a.n, 4/e), noisy(a.num, 4/e)
			c.Num = min(c.Num, c.N)
			c.Suppressed = a.n < k || c.N < k || small(a.num) || small(c.Num)
			if !c.Suppressed {
				c.RatePPM = c.Num * 1_000_000 / c.N
			}
		case research.MeasureMeanAge:
			ans.Sensitivity = 2 * MaxAge
			c.N = noisy(a.ageN, 2/(e/2))
			sum := noisy(a.ageSum, 2*MaxAge/(e/2))
			c.Suppressed = a.ageN < k || c.N < k
			if !c.Suppressed {
				c.MeanMilli = min(sum*1000/c.N, MaxAge*1000)
			}
		default:
			return c, cc.Errorf(op, cc.Invalid, "unknown measure %q", cc.Echo(q.Measure))
		}
		if err != nil {
			return c, cc.E(op, cc.Internal, err)
		}
		if c.Suppressed {
			c = research.Cell{Group: group, Suppressed: true}
		}
		return c, nil
	}
	c, err := release([]string{}, total)
	if err != nil {
		return nil, err
	}
	ans.Cells = append(ans.Cells, c)
	if len(q.By) > 0 {
		for i, g := range groups {
			c, err := release(g, cells[i])
			if err != nil {
				return nil, err
			}
			ans.Cells = append(ans.Cells, c)
		}
	}
	return ans, nil
}

// DiscreteLaplace draws an integer with P(X = x) ∝ exp(−|x|/scale) from
// rnd: the difference of two geometric variables with success probability
// 1 − exp(−1/scale), each drawn by inversion from a 53-bit uniform.
func DiscreteLaplace(rnd io.Reader, scale float64) (int64, error) {
	if !(scale > 0) || math.IsInf(scale, 0) {
		return 0, cc.Errorf("dp.noise", cc.Invalid, "the noise scale must be positive and finite")
	}
	g1, err := geometric(rnd, scale)
	if err != nil {
		return 0, err
	}
	g2, err := geometric(rnd, scale)
	if err != nil {
		return 0, err
	}
	return g1 - g2, nil
}

// maxGeometric caps a geometric draw (reached with probability
// exp(−maxGeometric/scale), i.e. never for sane scales).
const maxGeometric = 1 << 40

// geometric draws G ≥ 0 with P(G ≥ g) = exp(−g/scale): G = ⌊−ln(U)·scale⌋
// for U uniform in (0, 1].
func geometric(rnd io.Reader, scale float64) (int64, error) {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return 0, err
	}
	u := float64(binary.BigEndian.Uint64(b[:])>>11+1) / (1 << 53)
	g := math.Floor(-math.Log(u) * scale)
	if g > maxGeometric {
		g = maxGeometric
	}
	return int64(g), nil
}
