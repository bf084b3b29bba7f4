// pack.cpp - packing (see pack.h). Every weight at a 64-byte boundary of the arena.
#include "framework/engine/pack.h"

#include <algorithm>

#include "framework/engine/plan.h"

namespace trim {
namespace engine_detail {

namespace k = kernels;

FloatBuffer pack_weights(std::vector<Step>& steps, const k::KernelTable& t, size_t max_bytes) {
  auto packed_size = [&](const Step& s, size_t& wn, size_t& bn) {
    wn = bn = 0;
    switch (s.op) {
      case Op::Pointwise: wn = k::packed_gemm_b_size(s.cout, s.cin, t.gemm_nr); bn = k::round_up(s.cout, t.gemm_nr); break;
      case Op::Fc: wn = k::packed_gemm_b_size(s.cout, s.cin, t.gemm_nr); bn = k::round_up(s.cout, t.gemm_nr); break;
      case Op::Conv:
        wn = k::packed_gemm_b_size(s.cout, s.kernel * s.kernel * s.cin, t.gemm_nr);
        bn = k::round_up(s.cout, t.gemm_nr);
        break;
      case Op::DwConv: wn = k::packed_dwconv3x3_size(s.cout); bn = k::round_up(s.cout, k::kWeightAlign); break;
      case Op::GroupConv: wn = s.w.size(); bn = s.b.size(); break;
      case Op::Affine: wn = s.w.size(); bn = s.b.size(); break;
      default: break;
    }
  };
  size_t total = 0;
  for (auto& s : steps) {
    size_t wn, bn;
    packed_size(s, wn, bn);
    s.w_off = total;
    total += k::round_up(wn, 16);
    s.b_off = total;
    total += k::round_up(bn, 16);
  }
  // At most 2^28 parameters (Model::build), so total cannot overflow; it can pass the limit.
  check_memory(total * sizeof(float), max_bytes, "the packed weights");
  FloatBuffer weights(std::max<size_t>(total, 1));
  float* base = weights.data();
  for (auto& s : steps) {
    float* wp = base + s.w_off;
    float* bp = base + s.b_off;
    switch (s.op) {
      case Op::Pointwise:
      case Op::Fc:
        k::pack_gemm_b(s.cout, s.cin, s.w.data(), static_cast<size_t>(s.cin), t.gemm_nr, wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::Conv:
        k::pack_conv2d(s.cout, s.cin, s.kernel, s.w.data(), t.gemm_nr, wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::DwConv:
        k::pack_dwconv3x3(s.cout, s.w.data(), wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      case Op::GroupConv:
      case Op::Affine:
        std::copy(s.w.begin(), s.w.end(), wp);
        std::copy(s.b.begin(), s.b.end(), bp);
        break;
      default: break;
    }
    std::vector<float>().swap(s.w);
    std::vector<float>().swap(s.b);
  }
  return weights;
}

}  // namespace engine_detail
}  // namespace trim
