#!/usr/bin/env bash
# ab_layers.sh - per-step A/B of two builds of bench/latency on one model, for deciding whether a
# kernel or engine change helps on a noisy machine.
#
#   bench/ab_layers.sh OLD_LATENCY NEW_LATENCY [MODEL] [ROUNDS] [-- extra latency flags]
#   cp build/bin/latency /tmp/latency_old; <change, rebuild>; bench/ab_layers.sh /tmp/latency_old build/bin/latency
#
# The two binaries take turns (ROUNDS rounds, default 5, of `latency MODEL --threads $THREADS
# --runs 100 --layers` each; THREADS defaults to 1, MODEL to mobilenet_v1, i.e. alpha 1.0 at 224 px). Per step it prints the minimum over all
# rounds of the per-step minimum (what the code can do when nothing disturbs it) and the mean of
# the per-round CPU times (what it costs on average), each as new / old; then the sums.
# Both binaries must print the same steps (same model, same engine passes).
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,13p "$0"; exit 2; }
old=$1 new=$2
shift 2
model=mobilenet_v1 rounds=5
if [ $# -gt 0 ] && [ "$1" != "--" ]; then model=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then rounds=$1; shift; fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
for b in "$old" "$new"; do [ -x "$b" ] || { echo "ab_layers.sh: $b is not an executable" >&2; exit 2; }; done

for ((i = 0; i < rounds; ++i)); do
  for tag in old new; do
    bin=$old
    [ $tag = new ] && bin=$new
    # Step lines: kind, output shape (3 fields), MACs, mean ms, %, min ms, cpu ms, GFLOP/s, layers.
    "$bin" "$model" --threads "${THREADS:-1}" --runs 100 --warmup 20 --layers "$@" |
      awk -v tag=$tag '/^  [a-z]/ && $2 ~ /^\[/ {n++; print tag, n, $1, $8, $9, $NF}'
  done
done | awk -v rounds="$rounds" '
  {
    k = $2
    if (!(k in name)) { name[k] = $3 " " $6; omin[k] = nmin[k] = 1e30; order[++nk] = k }
    if ($1 == "old") { if ($4 < omin[k]) omin[k] = $4; ocpu[k] += $5 }
    else { if ($4 < nmin[k]) nmin[k] = $4; ncpu[k] += $5 }
  }
  END {
    printf "%-4s %-44s %9s %9s %6s   %9s %9s %6s\n", "step", "layers", "min old", "min new", "ratio", "cpu old", "cpu new", "ratio"
    for (i = 1; i <= nk; ++i) {
      k = order[i]; oc = ocpu[k] / rounds; nc = ncpu[k] / rounds
      printf "%-4d %-44.44s %9.4f %9.4f %6.3f   %9.4f %9.4f %6.3f\n", k, name[k], omin[k], nmin[k], nmin[k] / omin[k], oc, nc, nc / oc
      so += omin[k]; sn += nmin[k]; co += oc; cn += nc
    }
    printf "%-4s %-44s %9.3f %9.3f %6.3f   %9.3f %9.3f %6.3f\n", "sum", "", so, sn, sn / so, co, cn, cn / co
  }'
