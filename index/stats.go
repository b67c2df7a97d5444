package index

import (
	"math"

	cc "carechain"
)

// z95 is the standard normal quantile for a two-sided 95 % interval,
// Φ⁻¹(0.975).
const z95 = 1.959963984540054

// wilson returns the Wilson score interval of the proportion x/n at
// z = z95 (Wilson 1927; Newcombe 1998, method 3):
//
//	centre = (p + z²/2n) / (1 + z²/n)
//	half   = z / (1 + z²/n) · √(p(1−p)/n + z²/4n²)
//
// with p = x/n, clamped to [0, 1]. Unlike the Wald interval it stays
// inside [0, 1] and keeps its coverage for small n and for p near 0 or 1.
// n must be positive and 0 ≤ x ≤ n.
func wilson(x, n int64) cc.Interval {
	p, nf := float64(x)/float64(n), float64(n)
	z2 := z95 * z95
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z95 / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return cc.Interval{Low: clamp01(centre - half), High: clamp01(centre + half)}
}

func clamp01(v float64) float64 { return math.Min(1, math.Max(0, v)) }

// katz returns the rate ratio (a/n1)/(b/n2) and its 95 % interval by the
// Katz log method (Katz et al. 1978):
//
//	SE(ln RR) = √(1/a − 1/n1 + 1/b − 1/n2)
//	CI        = exp(ln RR ± z·SE)
//
// ok is false when the interval is undefined (a or b is 0); the ratio is
// still returned when b > 0. n1, n2 and b must be positive for a ratio.
func katz(a, n1, b, n2 int64) (rr float64, ci cc.Interval, ok bool) {
	rr = (float64(a) / float64(n1)) / (float64(b) / float64(n2))
	if a == 0 || b == 0 {
		return rr, cc.Interval{}, false
	}
	se := math.Sqrt(1/float64(a) - 1/float64(n1) + 1/float64(b) - 1/float64(n2))
	l := math.Log(rr)
	return rr, cc.Interval{Low: math.Exp(l - z95*se), High: math.Exp(l + z95*se)}, true
}

// newcombe returns the 95 % interval of the difference p1 − p2 of two
// independent proportions by Newcombe's hybrid score method (Newcombe
// 1998, method 10) from their Wilson intervals ci1 and ci2:
//
//	low  = d − √((p1 − l1)² + (u2 − p2)²)
//	high = d + √((u1 − p1)² + (p2 − l2)²)
func newcombe(p1 float64, ci1 cc.Interval, p2 float64, ci2 cc.Interval) cc.Interval {
	d := p1 - p2
	return cc.Interval{
		Low:  d - math.Hypot(p1-ci1.Low, ci2.High-p2),
		High: d + math.Hypot(ci1.High-p1, p2-ci2.Low),
	}
}

// statsMethods describes the statistics of a disparities report for its
// reader.
var statsMethods = []string{
	"Rates are numerator / denominator. 95% intervals of a rate are Wilson score intervals (z = 1.95996).",
	"The reference group of a table is its unsuppressed group with the highest rate and no unknown value.",
	"Rate ratio = rate / reference rate, 95% interval by the Katz log method: exp(ln RR ± z·√(1/a − 1/n1 + 1/b − 1/n2)); none when a count is 0.",
	"Rate difference = rate − reference rate, 95% interval by Newcombe's hybrid score method (from the two Wilson intervals).",
	"Gap to target = target − coverage; a group is significantly below target when the upper bound of its interval is below target.",
	"Cells with a numerator of 1 to k−1 or a denominator below k are suppressed (with complementary suppression) and show no figures.",
	"Completion is dose N+1 among the people with dose N: both counts are those of the coverage reports of doses N and N+1, with the same suppression; a completion cell is also suppressed when either coverage cell is.",
	"People vaccinated but not in the population register form the 'unknown' groups; those are shown but are never the reference or ranked.",
}
