#!/usr/bin/env bash
# byom.sh - "bring your own model", end to end, with the figures docs/onnx.md quotes:
#   1. PyTorch trains a SICK-Net-like network on Fashion-MNIST and exports it to ONNX
#      (bench/peers/train_torch_fmnist.py; skipped when runs/byom/net_torch.onnx exists);
#   2. trim imports it (tools/convert), prunes it (tools/prune --cfg configs/byom_torch_fmnist.ini:
#      Mean Weight + T-sensitive, reading the .onnx directly, writing net_pruned.onnx);
#   3. test accuracy of dense and pruned in PyTorch (dense), ONNX Runtime and trim;
#   4. batch-1 latency of dense and pruned in trim and ONNX Runtime (the ONNX files trim wrote),
#      alternating in one run (compare.py), under the timing lock.
# Needs /usr/bin/python3 with torch, node with bench/peers/node_modules (npm ci), a build.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=runs/byom
ROUNDS=${ROUNDS:-20}
mkdir -p "$OUT"
export OPENBLAS_NUM_THREADS=1
[ -f "$OUT/net_torch.onnx" ] || /usr/bin/python3 bench/peers/train_torch_fmnist.py --out "$OUT"
build/bin/convert "$OUT/net_torch.onnx" "$OUT/net_imported.model"
[ -f "$OUT/prune/pruned.model" ] || build/bin/prune --cfg configs/byom_torch_fmnist.ini
build/bin/convert "$OUT/prune/pruned.model" "$OUT/net_pruned_check.onnx"   # the checker, once more
acc_trim() { build/bin/eval --model "$1" 2>/dev/null | sed -n 's/.*top-1 \([0-9.]*\)%.*/\1/p' | head -1; }
acc_ort() { node bench/peers/ort_accuracy.js "$1" | sed -n 's/.*"acc":\([0-9.]*\).*/\1/p'; }
{
  echo "pytorch dense test accuracy: $(sed -n 's/.*"test_acc": \([0-9.]*\).*/\1/p' "$OUT/torch.json")"
  echo "onnxruntime dense (net_torch.onnx): $(acc_ort "$OUT/net_torch.onnx")"
  echo "onnxruntime pruned (net_pruned.onnx): $(acc_ort "$OUT/net_pruned.onnx")"
  echo "trim dense (imported): $(acc_trim "$OUT/net_imported.model")%"
  echo "trim pruned: $(acc_trim "$OUT/prune/pruned.model")%"
} | tee "$OUT/accuracy.txt"
flock /tmp/trim-timing.lock /usr/bin/python3 bench/peers/compare.py "$OUT/net_imported.model" "$OUT/prune/pruned.model" \
  --threads 1,2 --rounds "$ROUNDS" --onnx-exporter trim --json "$OUT/latency.json" | tee "$OUT/latency.txt"
