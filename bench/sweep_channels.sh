#!/usr/bin/env bash
# sweep_channels.sh - how latency moves with the channel count around multiples of 4, 8 and 16:
# the dwpw:input=<C>x<R>x<R> built-in (4 x depthwise 3x3 + pointwise C -> C on an R x R map) for every C
# in a range, all timed in alternation in one process (latency --interleave), per ISA. Prints the
# median and the minimum: on a loaded machine a run longer than the scheduler's slice (~1 ms
# here) is preempted more often than a short one, which lifts the medians of the larger models
# by more than their cost; the minimum shows the kernels' own steps.
#
#   bench/sweep_channels.sh [LATENCY_BINARY] [RESOLUTION] [ISAS]
#   e.g. bench/sweep_channels.sh build/bin/latency 28 "avx512 avx2"
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
lat=${1:-$repo/build/bin/latency}
res=${2:-28}
isas=${3:-default}
channels="8 12 13 15 16 17 20 24 28 31 32 33 36 40 44 47 48 49 56 60 61 62 63 64 65 66 67 68 72 80 96 112 120 127 128 129"
for isa in $isas; do
  models=""
  for c in $channels; do models="$models dwpw:input=${c}x${res}x${res}"; done
  if [ "$isa" = default ]; then env=(); else env=(TRIM_ISA=$isa); fi
  echo "# ISA $isa, ${res}x${res} maps, 4 x (dw3x3 + pw), 1 thread, 200 alternating runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%8s %12s %12s %14s %10s %14s\n' channels MACs median_us ns_per_kMAC min_us min_ns_kMAC
  env "${env[@]}" "$lat" $models --interleave --runs 200 --warmup 20 --json | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    c = int(r["model"].split("=")[1].split("x")[0])  # dwpw:input=CxRxR
    macs, med, mn = r["macs"], r["median_ms"], r["min_ms"]
    print("%8d %12d %12.1f %14.3f %10.1f %14.3f" % (c, macs, med * 1e3, med * 1e9 / macs, mn * 1e3, mn * 1e9 / macs))
'
done
