// bench_kernels.cpp - Google Benchmark microbenchmarks of every inference kernel on the
// MobileNet V1 1.0/224 shapes, one entry per ISA this CPU runs, plus OpenBLAS sgemm on the
// pointwise shapes (the >= 90% target). Single thread. Rates are in FLOP/s (2 per MAC).
//
//   build/bin/bench_kernels --benchmark_filter='gemm' --benchmark_repetitions=5
//   OPENBLAS_CORETYPE=SkylakeX build/bin/bench_kernels --benchmark_filter=openblas
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "framework/kernels/kernels.h"
#ifdef TRIM_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

using namespace trim::kernels;

constexpr float kInf = __builtin_inff();

// 64-byte aligned storage, as the engine's buffers and packed weights are: with std::vector's
// 16-byte alignment every zmm load would straddle two cache lines and the figures would be the
// kernels' worst case, not what the engine runs.
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  bool operator==(const Aligned64&) const { return true; }
  bool operator!=(const Aligned64&) const { return false; }
};
using Floats = std::vector<float, Aligned64<float>>;

Floats random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  Floats v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

void set_rate(benchmark::State& s, double flops_per_iter) {
  s.counters["FLOPS"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
}

// MobileNet V1 1.0/224 pointwise layers: pixels (M), input channels (K), output channels (N).
const int kPointwise[][3] = {{12544, 32, 64},  {3136, 64, 128},  {3136, 128, 128}, {784, 128, 256}, {784, 256, 256},
                             {196, 256, 512},  {196, 512, 512},  {49, 512, 1024},  {49, 1024, 1024}};
// Depthwise layers: input size, channels, stride.
const int kDepthwise[][3] = {{112, 32, 1}, {112, 64, 2}, {56, 128, 1}, {56, 128, 2}, {28, 256, 1},
                             {28, 256, 2}, {14, 512, 1}, {14, 512, 2}, {7, 1024, 1}};

void bm_gemm(benchmark::State& s, const KernelTable* t, int m, int k, int n) {
  auto a = random_vec(static_cast<size_t>(m) * k, 1), w = random_vec(static_cast<size_t>(n) * k, 2);
  Floats pb(packed_gemm_b_size(n, k, t->gemm_nr)), bias(round_up(n, t->gemm_nr), 0.f);
  Floats c(static_cast<size_t>(m) * n);
  pack_gemm_b(n, k, w.data(), k, t->gemm_nr, pb.data());
  for (auto _ : s) {
    t->gemm(m, n, k, a.data(), k, pb.data(), bias.data(), c.data(), n, 0.f, kInf);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_rate(s, 2.0 * m * n * k);
}

#ifdef TRIM_HAVE_OPENBLAS
void bm_openblas(benchmark::State& s, int m, int k, int n) {
  openblas_set_num_threads(1);
  auto a = random_vec(static_cast<size_t>(m) * k, 1), b = random_vec(static_cast<size_t>(k) * n, 2);
  Floats c(static_cast<size_t>(m) * n);
  for (auto _ : s) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_rate(s, 2.0 * m * n * k);
}
#endif

void bm_dwconv(benchmark::State& s, const KernelTable* t, int size, int channels, int stride) {
  const size_t cs = activation_channel_stride(channels, *t);  // the engine's layout
  const int out = (size + 2 - 3) / stride + 1;
  auto in = random_vec(static_cast<size_t>(size) * size * cs, 3), w = random_vec(9 * channels, 4);
  Floats pw(packed_dwconv3x3_size(channels)), bias(round_up(channels, kWeightAlign), 0.f);
  Floats o(static_cast<size_t>(out) * out * cs);
  pack_dwconv3x3(channels, w.data(), pw.data());
  DwConvFn f = stride == 1 ? t->dwconv3x3_s1 : t->dwconv3x3_s2;
  for (auto _ : s) {
    f(in.data(), size, size, cs, o.data(), out, cs, 0, out, channels, pw.data(), bias.data(), 1, 1, 0.f, kInf);
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  set_rate(s, 2.0 * 9 * out * out * channels);
}

// The MobileNet stem: 3x3 stride 2, 3 -> 32 channels, 224 -> 112, im2col + GEMM.
void bm_stem(benchmark::State& s, const KernelTable* t) {
  const int size = 224, cin = 3, cout = 32, out = 112;
  auto in = random_vec(static_cast<size_t>(size) * size * cin, 5), w = random_vec(cout * cin * 9, 6);
  Floats pw(packed_gemm_b_size(cout, 9 * cin, t->gemm_nr)), bias(round_up(cout, t->gemm_nr), 0.f);
  Floats o(static_cast<size_t>(out) * out * cout), scratch(conv2d_scratch_size(*t, 3, cin));
  pack_conv2d(cout, cin, 3, w.data(), t->gemm_nr, pw.data());
  for (auto _ : s) {
    conv2d_nhwc(*t, in.data(), size, size, cin, cin, o.data(), out, cout, cout, 3, 2, 1, 0, out * out, pw.data(), bias.data(),
                0.f, kInf, scratch.data());
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  set_rate(s, 2.0 * out * out * cout * 27);
}

void bm_gap(benchmark::State& s, const KernelTable* t) {
  auto in = random_vec(49 * 1024, 7);
  Floats o(1024);
  for (auto _ : s) {
    t->global_avgpool(in.data(), 49, 1024, 1024, o.data());
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  s.counters["bytes/s"] = benchmark::Counter(49.0 * 1024 * 4, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_fc(benchmark::State& s, const KernelTable* t) {
  const int k = 1024, n = 1000;
  auto x = random_vec(k, 8), w = random_vec(static_cast<size_t>(n) * k, 9);
  Floats pb(packed_gemm_b_size(n, k, t->gemm_nr)), bias(round_up(n, t->gemm_nr), 0.f), o(n);
  pack_gemm_b(n, k, w.data(), k, t->gemm_nr, pb.data());
  for (auto _ : s) {
    t->fc(n, k, x.data(), pb.data(), bias.data(), o.data(), -kInf, kInf);
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  set_rate(s, 2.0 * n * k);
}

// SICK-Net's 2x2 stride-2 max pools (28x28x32 -> 14x14, 14x14x64 -> 7x7). Rate: input bytes read.
void bm_maxpool(benchmark::State& s, const KernelTable* t, int size, int channels) {
  const size_t cs = round_up(channels, t->channel_align);
  const int out = size / 2;
  auto in = random_vec(static_cast<size_t>(size) * size * cs, 10);
  Floats o(static_cast<size_t>(out) * out * cs);
  for (auto _ : s) {
    t->maxpool2d(in.data(), size, size, cs, o.data(), out, out, cs, channels, 2, 2, 0);
    benchmark::DoNotOptimize(o.data());
    benchmark::ClobberMemory();
  }
  s.counters["bytes"] = benchmark::Counter(4.0 * size * size * channels, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  for (const auto& isa : available_isas()) {
    const KernelTable* t = kernels_for(isa);
    // The scalar reference is there to be right, not fast: one shape of each, for scale.
    const bool ref = isa == "ref";
    for (const auto& p : kPointwise) {
      if (ref && p[0] != 196) continue;
      char name[96];
      std::snprintf(name, sizeof name, "f32_gemm__%s/M%d_K%d_N%d", isa.c_str(), p[0], p[1], p[2]);
      benchmark::RegisterBenchmark(name, bm_gemm, t, p[0], p[1], p[2]);
    }
    for (const auto& d : kDepthwise) {
      if (ref && d[0] != 14) continue;
      char name[96];
      std::snprintf(name, sizeof name, "f32_dwconv3x3_s%d__%s/%dx%dx%d", d[2], isa.c_str(), d[0], d[0], d[1]);
      benchmark::RegisterBenchmark(name, bm_dwconv, t, d[0], d[1], d[2]);
    }
    benchmark::RegisterBenchmark(("f32_conv3x3_s2_stem__" + isa + "/224x224x3_to_32").c_str(), bm_stem, t);
    benchmark::RegisterBenchmark(("f32_global_avgpool__" + isa + "/7x7x1024").c_str(), bm_gap, t);
    benchmark::RegisterBenchmark(("f32_fc__" + isa + "/1024_to_1000").c_str(), bm_fc, t);
    benchmark::RegisterBenchmark(("f32_maxpool2d_2x2s2__" + isa + "/28x28x32").c_str(), bm_maxpool, t, 28, 32);
    benchmark::RegisterBenchmark(("f32_maxpool2d_2x2s2__" + isa + "/14x14x64").c_str(), bm_maxpool, t, 14, 64);
  }
#ifdef TRIM_HAVE_OPENBLAS
  for (const auto& p : kPointwise) {
    char name[96];
    std::snprintf(name, sizeof name, "openblas_sgemm/M%d_K%d_N%d", p[0], p[1], p[2]);
    benchmark::RegisterBenchmark(name, bm_openblas, p[0], p[1], p[2]);
  }
#endif
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
