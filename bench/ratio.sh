#!/usr/bin/env bash
# ratio.sh measures carechain against CometBFT's kvstore the way
# bench/README.md reports it: this machine's speed drifts by ±15–25 % within
# minutes, so one run of each says little. It alternates PAIRS pairs of
# 15 s runs — carechain at 24,000 tx/s offered, then kvstore at 40,000 — and
# prints each pair's committed tx/s, their ratio, and the median ratio.
#
# With a BASE binary as well, each round runs BASE's carechain, BINARY's
# carechain and kvstore, in that order, and also prints BINARY against BASE
# in the same round: a change's effect, with the drift shared by the round.
#
# Usage: bench/ratio.sh [BINARY] [PAIRS] [BASE]
#   BINARY  a carechain binary (default: built from this checkout into a
#           temporary directory)
#   PAIRS   how many pairs or rounds (default 5; each pair takes about a
#           minute)
#   BASE    another carechain binary to compare BINARY with (optional)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
pairs="${2:-5}"
base="${3:-}"
if [ -z "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bin="$tmp/carechain"
  echo "building $bin"
  go build -o "$bin" ./cmd/carechain
fi

# committed prints a run's committed tx/s (the run's progress lines, on
# standard error, are dropped; a run that reports no figure stops the script).
committed() { committed_by "$bin" "$@"; }

# committed_by is committed with another binary.
committed_by() {
  local b="$1" v
  shift
  v=$("$b" bench tx "$@" --duration 15s 2>/dev/null | awk '/^COMMITTED TX\/S/ { print $3 }')
  if [ -z "$v" ]; then
    echo "ratio.sh: '$b bench tx $*' reported no committed tx/s; run it by hand to see why" >&2
    exit 1
  fi
  echo "$v"
}

# median prints the median, least and greatest of its standard input's numbers.
median() {
  sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.3f (min %s, max %s) over %d", m, v[1], v[NR], NR }'
}

if [ -n "$base" ]; then
  ratios=() baseratios=() gains=()
  for i in $(seq 1 "$pairs"); do
    bc=$(committed_by "$base" --rate 24000)
    cc=$(committed --rate 24000)
    kv=$(committed --app kvstore --rate 40000)
    r=$(awk -v a="$cc" -v b="$kv" 'BEGIN { printf "%.3f", a / b }')
    br=$(awk -v a="$bc" -v b="$kv" 'BEGIN { printf "%.3f", a / b }')
    g=$(awk -v a="$cc" -v b="$bc" 'BEGIN { printf "%.3f", a / b }')
    ratios+=("$r") baseratios+=("$br") gains+=("$g")
    printf 'round %d  base %6s  carechain %6s  kvstore %6s tx/s  base/kvstore %s  carechain/kvstore %s  carechain/base %s\n' "$i" "$bc" "$cc" "$kv" "$br" "$r" "$g"
  done
  echo "median ratio $(printf '%s\n' "${ratios[@]}" | median) rounds; base $(printf '%s\n' "${baseratios[@]}" | median); carechain/base $(printf '%s\n' "${gains[@]}" | median); target ≥ 0.7"
  exit 0
fi

ratios=()
for i in $(seq 1 "$pairs"); do
  cc=$(committed --rate 24000)
  kv=$(committed --app kvstore --rate 40000)
  r=$(awk -v a="$cc" -v b="$kv" 'BEGIN { printf "%.3f", a / b }')
  ratios+=("$r")
  printf 'pair %d  carechain %6s tx/s  kvstore %6s tx/s  ratio %s\n' "$i" "$cc" "$kv" "$r"
done
echo "median ratio $(printf '%s\n' "${ratios[@]}" | median) pairs; target ≥ 0.7"
