#!/usr/bin/env bash
# pruned_speedup.sh - does a pruned model's speedup track its MAC reduction? For each pruned
# model, ROUNDS invocations of `latency PRUNED --compare DENSE` (each one times the two models in
# alternation), then the median speedup over the rounds and its range, next to the MAC reduction.
#
#   bench/pruned_speedup.sh DENSE.model PRUNED.model... [-- LATENCY_OPTIONS]
#   e.g. ROUNDS=5 bench/pruned_speedup.sh runs/sicknet/sicknet.model runs/prune-sicknet-old/round3.model -- --threads 1
# Environment: LATENCY (default build/bin/latency), ROUNDS (default 5), RUNS (default 300 per round).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
lat=${LATENCY:-$repo/build/bin/latency}
rounds=${ROUNDS:-5}
runs=${RUNS:-300}
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
dense=$1
shift
pruned=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do pruned+=("$1"); shift; done
[ $# -gt 0 ] && shift
extra=("$@")
echo "# dense $dense; $rounds rounds x $runs alternating runs each; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-48s %10s %10s %10s %16s %14s\n' model MACs_M dense_ms pruned_ms speedup_median speedup_range
for p in "${pruned[@]}"; do
  for ((r = 0; r < rounds; ++r)); do
    "$lat" "$p" --compare "$dense" --runs "$runs" --warmup 30 --json "${extra[@]}"
  done | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
sp = [r["speedup"] for r in rows]
r0 = rows[0]
print("%-48s %10.2f %10.3f %10.3f %9.3fx (MACs %.3fx) %6.3f-%.3f" % (
    sys.argv[1], r0["macs"] / 1e6, statistics.median(r["compare"]["median_ms"] for r in rows),
    statistics.median(r["median_ms"] for r in rows), statistics.median(sp), r0["mac_ratio"], min(sp), max(sp)))
' "$p"
done
