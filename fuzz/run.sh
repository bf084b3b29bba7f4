#!/usr/bin/env bash
# fuzz/run.sh - builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) into
# build-fuzz/ and runs each for FUZZ_SECONDS (default 60), niced, one after another (or
# FUZZ_PARALLEL at a time). `make fuzz FUZZ_SECONDS=600` calls this; .ci/run calls it with 30.
#
#   fuzz/run.sh [target ...]          # targets: model_desc weights prune_config idx image val_labels onnx
#   fuzz/run.sh --seeds               # rewrite the generated seed corpora (fuzz/corpus/*/valid-*)
#   fuzz/run.sh --build               # build only
#
# Inputs the fuzzer finds go to build-fuzz/corpus/<target> (not committed); the committed
# seeds (fuzz/corpus/<target>) and regression inputs (fuzz/regressions/<target>) are read too.
# A crash leaves its input in build-fuzz/crashes/<target>/ and makes the script fail: fix the
# parser, then copy the input into fuzz/regressions/<target>/ so the test suite replays it.
# Per-target figures (seconds, executions, crashes) are appended to build-fuzz/stats.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${FUZZ_BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
PARALLEL=${FUZZ_PARALLEL:-1}
ALL_TARGETS="model_desc weights prune_config idx image val_labels"
# The ONNX importer's target needs Debian's libonnx-dev (make deps installs it).
[ -f /usr/include/onnx/onnx_pb.h ] && ALL_TARGETS="$ALL_TARGETS onnx"
CXX=${FUZZ_CXX:-clang++-14}
CC=${FUZZ_CC:-clang-14}
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

build() {
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    nice -n 19 cmake -S fuzz -B "$BUILD" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_COMPILER="$CC" >/dev/null
  fi
  nice -n 19 cmake --build "$BUILD" -j "${FUZZ_BUILD_JOBS:-2}" --target "$@"
}

run_one() {
  local t=$1
  local work="$BUILD/corpus/$t" crashes="$BUILD/crashes/$t" log="$BUILD/logs/$t.log"
  mkdir -p "$work" "$crashes" "$(dirname "$log")" "fuzz/regressions/$t"
  local dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
  local max_len=4096
  [ "$t" = image ] && max_len=65536
  [ "$t" = onnx ] && max_len=16384  # the seeds are small exported models of 2-6 KB
  local status=0 start
  start=$(date +%s)
  # -rss_limit_mb: the image decoder may legitimately hold a 64 Mpx image (192 MiB) plus
  # sanitizer overhead; anything far beyond that is a bug worth reporting.
  nice -n 19 "$BUILD/fuzz_$t" "$work" "fuzz/corpus/$t" "fuzz/regressions/$t" "${dict[@]}" \
    -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2560 -max_len=$max_len \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  local runs found took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  found=$(find "$crashes" -type f ! -name 'slow-unit-*' | wc -l)  # slow units are kept but are no crash
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$took" "${runs:-?}" "$status" "$found" \
    >>"$BUILD/stats.tsv"
  printf 'fuzz %-13s %5s s  %10s executions  exit %s  %s crash input(s) in %s\n' "$t" "$took" "${runs:-?}" \
    "$status" "$found" "$crashes"
  if [ "$status" != 0 ]; then
    echo "---- fuzz_$t failed; the end of $log:"
    tail -n 40 "$log"
    return 1
  fi
}

case "${1:-}" in
  --build)
    build make_seeds $(for t in $ALL_TARGETS; do echo "fuzz_$t"; done)
    exit 0
    ;;
  --seeds)
    build make_seeds
    "$BUILD/make_seeds" "$ROOT"
    exit 0
    ;;
esac

targets=${*:-$ALL_TARGETS}
build $(for t in $targets; do echo "fuzz_$t"; done)
[ -f "$BUILD/stats.tsv" ] || printf 'date\ttarget\tseconds\texecutions\texit\tcrash_files\n' >"$BUILD/stats.tsv"
fail=0
if [ "$PARALLEL" -le 1 ]; then
  for t in $targets; do run_one "$t" || fail=1; done
else
  running=0
  for t in $targets; do
    if [ "$running" -ge "$PARALLEL" ]; then
      wait -n || fail=1
      running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
  done
  while [ "$running" -gt 0 ]; do
    wait -n || fail=1
    running=$((running - 1))
  done
fi
exit $fail
