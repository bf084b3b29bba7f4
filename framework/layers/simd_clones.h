// simd_clones.h - TRIM_SIMD_CLONES: compile a hot elementwise or reduction loop of a training
// layer three times on x86-64 (AVX-512, AVX2, baseline) and let the loader pick the best the
// CPU has (GCC/Clang target_clones, an ifunc resolved once at start-up). The layers are built
// for baseline x86-64 so the same binary runs on any x86-64 CPU; without this their loops stay
// 4 floats wide. Elsewhere (the aarch64 build, where NEON is baseline) it expands to nothing.
//
// Only for plain loops: results of elementwise code are the same in every clone (the build has
// no FMA contraction); reductions vectorised with `omp simd reduction` sum in a
// width-dependent order, so their last bits depend on the CPU, as OpenBLAS's do.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TRIM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TRIM_SIMD_CLONES
#endif
