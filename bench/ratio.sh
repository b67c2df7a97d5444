#!/usr/bin/env bash
# ratio.sh measures carechain against CometBFT's kvstore the way
# bench/README.md reports it: this machine's speed drifts by ±15–25 % within
# minutes, so one run of each says little. It alternates PAIRS pairs of
# 15 s runs — carechain at 24,000 tx/s offered, then kvstore at 40,000 — and
# prints each pair's committed tx/s, their ratio, and the median ratio.
#
# Usage: bench/ratio.sh [BINARY] [PAIRS]
#   BINARY  a carechain binary (default: built from this checkout into a
#           temporary directory)
#   PAIRS   how many pairs (default 5; each pair takes about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-}"
pairs="${2:-5}"
if [ -z "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  bin="$tmp/carechain"
  echo "building $bin"
  go build -o "$bin" ./cmd/carechain
fi

# committed prints a run's committed tx/s (the run's progress lines, on
# standard error, are dropped; a run that reports no figure stops the script).
committed() {
  local v
  v=$("$bin" bench tx "$@" --duration 15s 2>/dev/null | awk '/^COMMITTED TX\/S/ { print $3 }')
  if [ -z "$v" ]; then
    echo "ratio.sh: '$bin bench tx $*' reported no committed tx/s; run it by hand to see why" >&2
    exit 1
  fi
  echo "$v"
}

ratios=()
for i in $(seq 1 "$pairs"); do
  cc=$(committed --rate 24000)
  kv=$(committed --app kvstore --rate 40000)
  r=$(awk -v a="$cc" -v b="$kv" 'BEGIN { printf "%.3f", a / b }')
  ratios+=("$r")
  printf 'pair %d  carechain %6s tx/s  kvstore %6s tx/s  ratio %s\n' "$i" "$cc" "$kv" "$r"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END {
  m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "median ratio %.3f over %d pairs (min %s, max %s); target ≥ 0.7\n", m, NR, v[1], v[NR] }'
