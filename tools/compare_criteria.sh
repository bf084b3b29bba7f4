#!/usr/bin/env bash
# tools/compare_criteria.sh - the criteria comparison of docs/pruning.md. From one dense model and
# one config: a single T-sensitive round at the same T for each ranking criterion, then the two
# baselines (one uniform ratio for every layer; a global threshold on Mean Weight across layers)
# pruned to the MACs Mean Weight reached. Every run is fine-tuned the same way and timed against
# the dense model in its own process. Prints a Markdown table and writes it to OUT/table.md.
#
#   tools/compare_criteria.sh --cfg configs/sicknet_fmnist.ini --out runs/compare [--threshold 2]
#                             [--jobs 2] [-- other prune flags, e.g. --epochs 2]
#
# Finished runs (OUT/<name>/report.json with a final model) are reused, so a killed comparison
# continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

cfg="" out="runs/compare" threshold=2 jobs=1
criteria="mean_weight l1 l2 random bn_gamma"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --threshold) threshold=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --criteria) criteria=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "compare_criteria: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cfg" ] || { echo "compare_criteria: --cfg is required (e.g. configs/sicknet_fmnist.ini)" >&2; exit 2; }
[ -f "$cfg" ] || { echo "compare_criteria: $cfg: no such config file" >&2; exit 2; }
prune=build/bin/prune
[ -x "$prune" ] || { echo "compare_criteria: $prune is not built (run make)" >&2; exit 2; }
mkdir -p "$out"

finished() { python3 - "$1/report.json" <<'EOF' 2>/dev/null
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j["final"]["macs"] and j["summary"]["speedup"] else 1)
EOF
}

# One pruning round, no final fine-tuning: what differs between the runs is only how channels
# are chosen.
run() {
  local name=$1; shift
  local dir="$out/$name"
  if finished "$dir"; then echo "compare_criteria: $name: reusing $dir"; return 0; fi
  local resume=()
  [ -f "$dir/config.ini" ] && resume=(--resume)
  echo "compare_criteria: $name: $prune --cfg $cfg $* ${extra[*]}" >&2
  "$prune" --cfg "$cfg" --out "$dir" --iterations 1 --retries 0 --final-epochs 0 --quiet 1 \
    "$@" "${extra[@]}" "${resume[@]}" >"$out/$name.log" 2>&1 ||
    { echo "compare_criteria: $name failed; the end of $out/$name.log:" >&2; tail -n 20 "$out/$name.log" >&2; return 1; }
}

# At most $jobs runs at once; drain waits for all of them and fails if any run failed.
pids=() fail=0
launch() {
  "$@" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || fail=1
    pids=("${pids[@]:1}")
  fi
}
drain() {
  for p in "${pids[@]}"; do wait "$p" || fail=1; done
  pids=()
  [ $fail = 0 ] || exit 1
}

for c in $criteria; do
  launch run "$c" --mode t_sensitive --criterion "$c" --threshold "$threshold" --total-threshold 100
done
drain

# The baselines are pruned to the fraction of dense MACs that Mean Weight reached.
target=$(python3 -c "
import json; j = json.load(open('$out/mean_weight/report.json'))
print('%.6f' % (j['final']['macs'] / j['dense']['macs']))")
echo "compare_criteria: baselines pruned to $target of the dense MACs (Mean Weight's)" >&2
launch run uniform --mode uniform --target-macs "$target"
launch run global --mode global --criterion mean_weight --target-macs "$target"
drain

python3 - "$out" "$threshold" $criteria uniform global <<'EOF' | tee "$out/table.md"
import json, sys
out, T, names = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"| ranking (T = {T} points, 1 round) | MACs | params | val before fine-tuning | test after fine-tuning | test drop (points) | latency speedup |")
print("|---|---:|---:|---:|---:|---:|---:|")
dense = None
def num(v, scale=1, spec=".2f", unit=""):
    # report.json writes null for what was not measured (no test split, no latency): "-".
    return "-" if v is None else f"{scale*v:{spec}}{unit}"
for n in names:
    j = json.load(open(f"{out}/{n}/report.json"))
    dense = j["dense"]
    f, s, r = j["final"], j["summary"], j["rounds"][-1]
    label = {"uniform": "uniform ratio (baseline)", "global": "global threshold, mean_weight (baseline)"}.get(n, n)
    print(f"| {label} | {f['macs']/1e6:.2f} M | {f['params']/1e3:.1f} k | {num(r['val_before_finetune'], 100, '.2f', '%')} "
          f"| {num(f['test_acc'], 100, '.2f', '%')} | {num(s['test_drop_points'])} | {num(s['speedup'], 1, '.2f', 'x')} |")
print(f"| dense | {dense['macs']/1e6:.2f} M | {dense['params']/1e3:.1f} k | - | {num(dense['test_acc'], 100, '.2f', '%')} | - | 1.00x |")
EOF
