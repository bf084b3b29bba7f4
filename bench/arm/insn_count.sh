#!/usr/bin/env bash
# insn_count.sh - executed aarch64 instructions per MAC of trim's NEON pointwise (GEMM) and
# depthwise kernels on the MobileNet V1 1.0/224 shapes, and of arm64 OpenBLAS sgemm on the
# pointwise shapes, counted under qemu-aarch64 -cpu cortex-a53 with the TCG plugin in
# ../shared/arm/qemu_insn_count.c (deterministic: one guest thread).
#
#   bench/arm/insn_count.sh [BUILD_DIR]     (BUILD_DIR: an aarch64 cross build, default build-arm)
#
# Needs: g++-aarch64-linux-gnu, qemu-user, gcc; arm64 OpenBLAS is fetched into build-arm-sysroot
# (cmake/fetch-arm64-debs.sh) unless OPENBLAS_ROOT points at an unpacked tree.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$repo/build-arm}
sysroot=/usr/aarch64-linux-gnu
work=$(mktemp -d /tmp/trim-insn.XXXXXX)
trap 'rm -rf "$work"' EXIT
plugin_src=${PLUGIN_SRC:-$repo/../shared/arm/qemu_insn_count.c}
[ -f "$plugin_src" ] || { echo "insn_count.sh: qemu plugin source not found ($plugin_src); set PLUGIN_SRC"; exit 1; }
gcc -O2 -shared -fPIC -o "$work/libinsncount.so" "$plugin_src"

blas=${OPENBLAS_ROOT:-$repo/build-arm-sysroot}
if [ ! -f "$blas/usr/include/aarch64-linux-gnu/openblas-pthread/cblas.h" ]; then
  "$repo/cmake/fetch-arm64-debs.sh" "$blas" libopenblas0-pthread libopenblas-pthread-dev libgfortran5 >/dev/null
fi
blas_lib=$blas/usr/lib/aarch64-linux-gnu/openblas-pthread
kernels_lib=$build/framework/kernels/libtrim_kernels.a
[ -f "$kernels_lib" ] || { echo "insn_count.sh: $kernels_lib missing (cmake --build $build --target trim_kernels)"; exit 1; }
aarch64-linux-gnu-g++ -O2 -std=c++17 -DTRIM_WITH_OPENBLAS -I"$repo" -I"$blas/usr/include/aarch64-linux-gnu/openblas-pthread" \
  "$repo/bench/arm/insn_count.cpp" "$kernels_lib" -L"$blas_lib" -lopenblas -Wl,-rpath-link,"$blas/usr/lib/aarch64-linux-gnu" \
  -fopenmp -o "$work/insn_count"

# count MODE A B C -> "total fma loads stores" of one call (reps=1 minus reps=0)
count() {
  local out0 out1
  out0=$(OPENBLAS_NUM_THREADS=1 qemu-aarch64 -cpu cortex-a53 -L "$sysroot" -E LD_LIBRARY_PATH="$blas_lib:$blas/usr/lib/aarch64-linux-gnu" \
    -plugin "$work/libinsncount.so" -d plugin "$work/insn_count" "$@" 0 2>&1 >/dev/null | grep 'insns:')
  out1=$(OPENBLAS_NUM_THREADS=1 qemu-aarch64 -cpu cortex-a53 -L "$sysroot" -E LD_LIBRARY_PATH="$blas_lib:$blas/usr/lib/aarch64-linux-gnu" \
    -plugin "$work/libinsncount.so" -d plugin "$work/insn_count" "$@" 1 2>&1 >/dev/null | grep 'insns:')
  python3 - "$out0" "$out1" <<'PY'
import re, sys
def parse(s):
    return {k: int(v) for k, v in re.findall(r'(total|fmla/fmadd|loads|stores)=(\d+)', s)}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
print(b['total'] - a['total'], b['fmla/fmadd'] - a['fmla/fmadd'], b['loads'] - a['loads'], b['stores'] - a['stores'])
PY
}

printf '%-26s %14s %10s %8s %10s %12s %8s\n' shape MACs trim_insn insn/MAC fma_dens openblas_insn insn/MAC
for s in "12544 32 64" "3136 64 128" "3136 128 128" "784 128 256" "784 256 256" "196 256 512" "196 512 512" "49 512 1024" "49 1024 1024"; do
  set -- $s
  macs=$(( $1 * $2 * $3 ))
  read -r t tf tl ts < <(count gemm $1 $2 $3)
  read -r o of ol os < <(count openblas $1 $2 $3)
  python3 -c "print(f'{\"pw M=$1 K=$2 N=$3\":26s} {$macs:14d} {$t:10d} {$t/$macs:8.3f} {$tf/$t:10.2f} {$o:12d} {$o/$macs:8.3f}')"
done
for s in "112 32 1" "112 64 2" "56 128 1" "56 128 2" "28 256 1" "28 256 2" "14 512 1" "14 512 2" "7 1024 1"; do
  set -- $s
  o=$(( ($1 + 2 - 3) / $3 + 1 ))
  macs=$(( o * o * $2 * 9 ))
  read -r t tf tl ts < <(count dw $1 $2 $3)
  python3 -c "print(f'{\"dw ${1}x${1}x$2 s$3\":26s} {$macs:14d} {$t:10d} {$t/$macs:8.3f} {$tf/$t:10.2f} {\"-\":>12s} {\"-\":>8s}')"
done
