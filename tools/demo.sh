#!/usr/bin/env bash
# demo.sh - the whole trim pipeline in one command (make demo): train SICK-Net on Fashion-MNIST
# (or reuse a finished training run in runs/demo), prune it with Mean Weight + T-sensitive
# iterated rounds (configs/sicknet_fmnist.ini), fine-tune, and print dense vs pruned: test
# accuracy, parameters, MACs, batch-1 latency and speedup.
#
# Environment: BUILD (build), THREADS (nproc), OUT (runs/demo), CFG (configs/sicknet_fmnist.ini).
# A killed run can simply be started again: training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-runs/demo}
CFG=${CFG:-configs/sicknet_fmnist.ini}

for tool in train prune; do
  if [ ! -x "$BUILD/bin/$tool" ]; then
    echo "demo: $BUILD/bin/$tool not found; run 'make' first" >&2
    exit 1
  fi
done

# 1. The dense model. train writes result.txt only when it has finished, so its presence tells a
#    complete run from a killed one (which --resume continues).
if [ -f "$OUT/result.txt" ] && [ -f "$OUT/sicknet.model" ]; then
  echo "demo: reusing the trained model $OUT/sicknet.model"
else
  echo "demo: training SICK-Net on Fashion-MNIST into $OUT (10 epochs; several minutes per epoch on 2 cores)"
  "$BUILD/bin/train" --model sicknet --out "$OUT" --threads "$THREADS" --resume
fi

# 2. Prune: scan, choose ratios within T, surgery, fine-tune, iterate; latency of dense and
#    pruned models measured in the same process.
echo "demo: pruning with $CFG"
"$BUILD/bin/prune" --cfg "$CFG" --model "$OUT/sicknet.model" --out "$OUT/pruned" --threads "$THREADS" \
  > "$OUT/prune.log"

# 3. The table.
echo
echo "SICK-Net on Fashion-MNIST, dense vs pruned (test split; latency: batch 1, same engine, same run)"
cat "$OUT/pruned/summary.md"
echo
echo "details: $OUT/pruned/report.txt, $OUT/pruned/report.json, scans: $OUT/pruned/scan_round*.svg"
