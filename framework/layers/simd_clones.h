// simd_clones.h - TRIM_SIMD_CLONES: compile a hot elementwise or reduction loop of a training
// layer three times on x86-64 (AVX-512, AVX2, baseline) and let the loader pick the best the
// CPU has (GCC/Clang target_clones, an ifunc resolved once at start-up). The layers are built
// for baseline x86-64 so the same binary runs on any x86-64 CPU; without this their loops stay
// 4 floats wide. Elsewhere (the aarch64 build, where NEON is baseline) it expands to nothing.
//
// Only for plain loops. The clones do not round alike: GCC contracts a * b + c into one fused
// multiply-add wherever the target has FMA (C++ defaults to -ffp-contract=fast), and of these
// targets only avx512f implies FMA, so the AVX-512 clone fuses and the AVX2 and baseline clones
// do not (checked in the assembly, GCC 12). A file whose values must round the same everywhere
// turns contraction off (batchnorm2d.cpp does). Reductions vectorised with `omp simd reduction`
// also sum in a width-dependent order. Either way the last bits depend on the CPU, as
// OpenBLAS's do.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRIM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TRIM_SIMD_CLONES
#endif
