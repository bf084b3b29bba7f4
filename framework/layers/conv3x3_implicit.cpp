// conv3x3_implicit.cpp - a 3x3, stride-1, padding-1 convolution as a GEMM whose column matrix
// is never written out (see conv3x3_implicit.h). x86-64 with AVX-512F only; elsewhere, or on an
// older CPU, conv3x3_implicit_available() is false and the caller keeps im2col + sgemm.
//
// The output pixels of a range of images are cut into panels of 32 (a panel may run from one
// image into the next, so a 7x7 map wastes no lanes). For each panel the 9c x 32 slice of the
// column matrix is built straight from the input planes, 16 input channels (144 rows, 18 KB,
// in L1) at a time: for a fixed (channel, ky, kx), 16 lanes of pixels that lie in one image
// read 16 consecutive floats at a fixed offset, so one masked load gives them, the mask zeroing
// the lanes whose tap falls in the padding (and the lanes of other images, which a second load
// fills). Each group of 8 weight rows then runs an 8 x 32 register tile over the slice,
// carrying its sums from slice to slice; after the last slice the tile is stored with the same
// masks. Every lane is one chain of fused multiply-adds over k = (ci * 3 + ky) * 3 + kx in order.
//
// Every output value is one such dot product, whatever panel or thread it falls in: the result
// does not depend on the thread count or on how images are split.
#include "framework/layers/conv3x3_implicit.h"

#include <algorithm>
#include <cstdint>

#include "framework/tensor.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TRIM_IMPLICIT_X86 1
#endif

namespace trim {
namespace conv_detail {

namespace {
constexpr int kRows = 8;       // output rows per register tile
constexpr int kLanes = 32;     // output pixels per panel (two 16-float vectors)
constexpr int kChannels = 16;  // input channels per slice of a panel: 144 x 32 floats, in L1
}  // namespace

size_t conv3x3_panel_floats(int m, int c) {
  return static_cast<size_t>(9) * std::min(c, kChannels) * kLanes + static_cast<size_t>(m) * kLanes;
}
size_t conv3x3_packed_floats(int m, int c) { return static_cast<size_t>(m) * 9 * c; }

void conv3x3_pack_weights(float* packed, const float* a, int m, int c) {
  const int k = 9 * c;
  for (int r0 = 0; r0 < m; r0 += kRows)
    for (int j = 0; j < k; ++j)
      for (int r = 0; r < kRows; ++r)
        packed[(static_cast<size_t>(r0) * k) + static_cast<size_t>(j) * kRows + r] =
            a[static_cast<size_t>(r0 + r) * k + j];
}

#ifdef TRIM_IMPLICIT_X86

bool conv3x3_implicit_available(int m) {
  static const bool avx512 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return avx512 && m > 0 && m % kRows == 0;
}

namespace {

// Where the lanes of one panel come from: up to kLanes runs of consecutive pixels, each in one
// image. Lane l of run s is pixel (l - lane0) + pix0 of image `image`.
struct PanelRun {
  int image, pix0, lane0;
  uint32_t lanes;  // bit l set: lane l belongs to this run
};

// The 8 x 32 tile: acc[2r + l / 16] lane l % 16 = init[r][l] + sum_j a[j][r] * b[j][l], a packed
// [k][8], b [k][32], init [8][32] or nullptr for 0. Each lane is one chain of fused multiply-adds
// in j order, so a sum split over several calls (init = the previous call's tile) rounds the
// same as one call over all of k.
__attribute__((target("avx512f"))) void tile_8x32(__m512 acc[16], const float* a, const float* b, int k,
                                                  const float* init) {
  __m512 c0, c1, c2, c3, c4, c5, c6, c7, d0, d1, d2, d3, d4, d5, d6, d7;
  if (init) {
    c0 = _mm512_loadu_ps(init), d0 = _mm512_loadu_ps(init + 16);
    c1 = _mm512_loadu_ps(init + 32), d1 = _mm512_loadu_ps(init + 48);
    c2 = _mm512_loadu_ps(init + 64), d2 = _mm512_loadu_ps(init + 80);
    c3 = _mm512_loadu_ps(init + 96), d3 = _mm512_loadu_ps(init + 112);
    c4 = _mm512_loadu_ps(init + 128), d4 = _mm512_loadu_ps(init + 144);
    c5 = _mm512_loadu_ps(init + 160), d5 = _mm512_loadu_ps(init + 176);
    c6 = _mm512_loadu_ps(init + 192), d6 = _mm512_loadu_ps(init + 208);
    c7 = _mm512_loadu_ps(init + 224), d7 = _mm512_loadu_ps(init + 240);
  } else {
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = _mm512_setzero_ps();
  }
  for (int j = 0; j < k; ++j) {
    const __m512 b0 = _mm512_loadu_ps(b + static_cast<size_t>(j) * kLanes);
    const __m512 b1 = _mm512_loadu_ps(b + static_cast<size_t>(j) * kLanes + 16);
    const float* aj = a + static_cast<size_t>(j) * kRows;
    __m512 w;
    w = _mm512_set1_ps(aj[0]); c0 = _mm512_fmadd_ps(w, b0, c0); d0 = _mm512_fmadd_ps(w, b1, d0);
    w = _mm512_set1_ps(aj[1]); c1 = _mm512_fmadd_ps(w, b0, c1); d1 = _mm512_fmadd_ps(w, b1, d1);
    w = _mm512_set1_ps(aj[2]); c2 = _mm512_fmadd_ps(w, b0, c2); d2 = _mm512_fmadd_ps(w, b1, d2);
    w = _mm512_set1_ps(aj[3]); c3 = _mm512_fmadd_ps(w, b0, c3); d3 = _mm512_fmadd_ps(w, b1, d3);
    w = _mm512_set1_ps(aj[4]); c4 = _mm512_fmadd_ps(w, b0, c4); d4 = _mm512_fmadd_ps(w, b1, d4);
    w = _mm512_set1_ps(aj[5]); c5 = _mm512_fmadd_ps(w, b0, c5); d5 = _mm512_fmadd_ps(w, b1, d5);
    w = _mm512_set1_ps(aj[6]); c6 = _mm512_fmadd_ps(w, b0, c6); d6 = _mm512_fmadd_ps(w, b1, d6);
    w = _mm512_set1_ps(aj[7]); c7 = _mm512_fmadd_ps(w, b0, c7); d7 = _mm512_fmadd_ps(w, b1, d7);
  }
  acc[0] = c0; acc[1] = d0; acc[2] = c1; acc[3] = d1; acc[4] = c2; acc[5] = d2; acc[6] = c3; acc[7] = d3;
  acc[8] = c4; acc[9] = d4; acc[10] = c5; acc[11] = d5; acc[12] = c6; acc[13] = d6; acc[14] = c7; acc[15] = d7;
}

__attribute__((target("avx512f"))) void run_images(float* out, size_t out_stride, const float* in, size_t in_stride,
                                                   const float* packed, int m, int c, int h, int w, int i0, int i1,
                                                   float* panel) {
  const int hw = h * w, k = 9 * c;
  float* carry = panel + static_cast<size_t>(9) * std::min(c, kChannels) * kLanes;
  const int64_t q_end = static_cast<int64_t>(i1) * hw;
  PanelRun runs[kLanes];
  for (int64_t q0 = static_cast<int64_t>(i0) * hw; q0 < q_end; q0 += kLanes) {
    // The runs of this panel, and which lanes have an input row above (ky = 0) and below
    // (ky = 2) and an input column left (kx = 0) and right (kx = 2) of their pixel.
    int nruns = 0;
    uint32_t up = 0, down = 0, left = 0, right = 0;
    for (int l = 0; l < kLanes && q0 + l < q_end;) {
      const int64_t q = q0 + l;
      const int image = static_cast<int>(q / hw), pix = static_cast<int>(q % hw);
      const int count = static_cast<int>(std::min<int64_t>(std::min(kLanes - l, hw - pix), q_end - q));
      const uint32_t bits = (count == 32 ? 0xffffffffu : ((1u << count) - 1u)) << l;
      runs[nruns++] = {image, pix, l, bits};
      int oy = pix / w, ox = pix % w;
      for (int t = 0; t < count; ++t) {
        const uint32_t bit = 1u << (l + t);
        up |= oy > 0 ? bit : 0u;
        down |= oy < h - 1 ? bit : 0u;
        left |= ox > 0 ? bit : 0u;
        right |= ox < w - 1 ? bit : 0u;
        if (++ox == w) {
          ox = 0;
          ++oy;
        }
      }
      l += count;
    }
    const uint32_t rows[3] = {up, ~0u, down}, cols[3] = {left, ~0u, right};
    uint32_t tap_ok[9];
    for (int t = 0; t < 9; ++t) tap_ok[t] = rows[t / 3] & cols[t % 3];
    // The panel, kChannels input channels at a time so each slice stays in L1 while every row
    // tile uses it; the tiles' sums carry over from slice to slice in `carry` ([m][32]).
    for (int c0 = 0; c0 < c; c0 += kChannels) {
      const int cs = std::min(kChannels, c - c0), ks = 9 * cs;
      // Slice row j = (ci' * 3 + ky) * 3 + kx (ci' = ci - c0) of the column matrix, 32 lanes.
      // Lane l of run s reads in[image][ci][pix0 + l - lane0 + (ky - 1) * w + kx - 1]; masked-off
      // lanes read nothing.
      for (int s = 0; s < nruns; ++s) {
        const PanelRun& r = runs[s];
        const float* base =
            in + static_cast<size_t>(r.image) * in_stride + static_cast<size_t>(c0) * hw + r.pix0 - r.lane0 - w - 1;
        for (int t = 0; t < 9; ++t) {
          const uint32_t ok = tap_ok[t] & r.lanes;
          const __mmask16 lo = static_cast<__mmask16>(ok), hi = static_cast<__mmask16>(ok >> 16);
          const float* src = base + (t / 3) * w + t % 3;
          float* dst = panel + static_cast<size_t>(t) * kLanes;
          for (int ci = 0; ci < cs; ++ci, src += hw, dst += 9 * kLanes) {
            if (s == 0) {
              _mm512_storeu_ps(dst, _mm512_maskz_loadu_ps(lo, src));
              _mm512_storeu_ps(dst + 16, _mm512_maskz_loadu_ps(hi, src + 16));
            } else {
              _mm512_storeu_ps(dst, _mm512_mask_loadu_ps(_mm512_loadu_ps(dst), lo, src));
              _mm512_storeu_ps(dst + 16, _mm512_mask_loadu_ps(_mm512_loadu_ps(dst + 16), hi, src + 16));
            }
          }
        }
      }
      const bool first = c0 == 0, last = c0 + cs == c;
      // 8 output rows at a time over the slice; after the last slice, stored run by run.
      for (int r0 = 0; r0 < m; r0 += kRows) {
        __m512 acc[16];
        float* carried = carry + static_cast<size_t>(r0) * kLanes;
        tile_8x32(acc, packed + static_cast<size_t>(r0) * k + static_cast<size_t>(c0) * 9 * kRows, panel, ks,
                  first ? nullptr : carried);
        if (!last) {
          for (int v = 0; v < 16; ++v) _mm512_storeu_ps(carried + 16 * v, acc[v]);
          continue;
        }
        for (int s = 0; s < nruns; ++s) {
          const PanelRun& r = runs[s];
          const __mmask16 lo = static_cast<__mmask16>(r.lanes), hi = static_cast<__mmask16>(r.lanes >> 16);
          float* base = out + static_cast<size_t>(r.image) * out_stride + r.pix0 - r.lane0;
          for (int row = 0; row < kRows; ++row) {
            float* dst = base + static_cast<size_t>(r0 + row) * hw;
            if (lo) _mm512_mask_storeu_ps(dst, lo, acc[2 * row]);
            if (hi) _mm512_mask_storeu_ps(dst + 16, hi, acc[2 * row + 1]);
          }
        }
      }
    }
  }
}

}  // namespace

void conv3x3_implicit(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed, int m,
                      int c, int h, int w, int i0, int i1, float* panel) {
  run_images(out, out_stride, in, in_stride, packed, m, c, h, w, i0, i1, panel);
}

#else

bool conv3x3_implicit_available(int) { return false; }

void conv3x3_implicit(float*, size_t, const float*, size_t, const float*, int, int, int, int, int, int, float*) {
  throw Error("conv3x3_implicit: not built for this CPU");
}

#endif

}  // namespace conv_detail
}  // namespace trim
