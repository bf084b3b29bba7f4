// train_conv3x3_avx512.cpp - training's 3x3, stride-1, padding-1 convolution on NCHW planes
// (framework/layers/conv3x3_implicit.h describes the operation and the layouts;
// train_conv3x3.h the tile constants both sides share): forward / input gradient as an implicit
// GEMM whose column panels are packed straight from the input planes, and the weight gradient
// reading the column matrix's rows as shifted views of zero-padded planes. Reached only through
// the kernel table (KernelTable::train_conv3x3, train_conv3x3_dweight), so TRIM_ISA=ref takes
// training off it too.
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
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "framework/kernels/train_conv3x3.h"
#include "framework/kernels/x86/x86_kernels.h"

namespace trim {
namespace kernels {

namespace {
constexpr int kRows = kTrainConv3x3Rows;
constexpr int kLanes = kTrainConv3x3Lanes;
constexpr int kChannels = kTrainConv3x3Channels;
}  // namespace

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
void tile_8x32(__m512 acc[16], const float* a, const float* b, int k,
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

void run_images(float* out, size_t out_stride, const float* in, size_t in_stride,
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

// The weight-gradient tile: dwt[r][l] (rows ldw apart) += sum over `images` images j and their
// pixels p of x[r][j][p] * dyt[j][p][l], where x[r] points at row k0 + r's tap in image 0's
// padded planes (pixel p = (oy, ox) at oy * (w + 2) + ox, images x_image floats apart) and dyt
// holds 32 output channels per pixel (images dyt_image floats apart).
void dweight_tile_8x32(float* dwt, int ldw, const float* const x[8],
                                                          size_t x_image, const float* dyt, size_t dyt_image,
                                                          int images, int h, int w) {
  __m512 c0 = _mm512_loadu_ps(dwt), d0 = _mm512_loadu_ps(dwt + 16);
  __m512 c1 = _mm512_loadu_ps(dwt + ldw), d1 = _mm512_loadu_ps(dwt + ldw + 16);
  __m512 c2 = _mm512_loadu_ps(dwt + 2 * ldw), d2 = _mm512_loadu_ps(dwt + 2 * ldw + 16);
  __m512 c3 = _mm512_loadu_ps(dwt + 3 * ldw), d3 = _mm512_loadu_ps(dwt + 3 * ldw + 16);
  __m512 c4 = _mm512_loadu_ps(dwt + 4 * ldw), d4 = _mm512_loadu_ps(dwt + 4 * ldw + 16);
  __m512 c5 = _mm512_loadu_ps(dwt + 5 * ldw), d5 = _mm512_loadu_ps(dwt + 5 * ldw + 16);
  __m512 c6 = _mm512_loadu_ps(dwt + 6 * ldw), d6 = _mm512_loadu_ps(dwt + 6 * ldw + 16);
  __m512 c7 = _mm512_loadu_ps(dwt + 7 * ldw), d7 = _mm512_loadu_ps(dwt + 7 * ldw + 16);
  for (int j = 0; j < images; ++j) {
    for (int oy = 0; oy < h; ++oy) {
      const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3], *x4 = x[4], *x5 = x[5], *x6 = x[6], *x7 = x[7];
      const size_t q0 = j * x_image + static_cast<size_t>(oy) * (w + 2);
      const float* b = dyt + j * dyt_image + static_cast<size_t>(oy) * w * kLanes;
      for (int ox = 0; ox < w; ++ox, b += kLanes) {
        const size_t q = q0 + ox;
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 a;
        a = _mm512_set1_ps(x0[q]); c0 = _mm512_fmadd_ps(a, b0, c0); d0 = _mm512_fmadd_ps(a, b1, d0);
        a = _mm512_set1_ps(x1[q]); c1 = _mm512_fmadd_ps(a, b0, c1); d1 = _mm512_fmadd_ps(a, b1, d1);
        a = _mm512_set1_ps(x2[q]); c2 = _mm512_fmadd_ps(a, b0, c2); d2 = _mm512_fmadd_ps(a, b1, d2);
        a = _mm512_set1_ps(x3[q]); c3 = _mm512_fmadd_ps(a, b0, c3); d3 = _mm512_fmadd_ps(a, b1, d3);
        a = _mm512_set1_ps(x4[q]); c4 = _mm512_fmadd_ps(a, b0, c4); d4 = _mm512_fmadd_ps(a, b1, d4);
        a = _mm512_set1_ps(x5[q]); c5 = _mm512_fmadd_ps(a, b0, c5); d5 = _mm512_fmadd_ps(a, b1, d5);
        a = _mm512_set1_ps(x6[q]); c6 = _mm512_fmadd_ps(a, b0, c6); d6 = _mm512_fmadd_ps(a, b1, d6);
        a = _mm512_set1_ps(x7[q]); c7 = _mm512_fmadd_ps(a, b0, c7); d7 = _mm512_fmadd_ps(a, b1, d7);
      }
    }
  }
  _mm512_storeu_ps(dwt, c0), _mm512_storeu_ps(dwt + 16, d0);
  _mm512_storeu_ps(dwt + ldw, c1), _mm512_storeu_ps(dwt + ldw + 16, d1);
  _mm512_storeu_ps(dwt + 2 * ldw, c2), _mm512_storeu_ps(dwt + 2 * ldw + 16, d2);
  _mm512_storeu_ps(dwt + 3 * ldw, c3), _mm512_storeu_ps(dwt + 3 * ldw + 16, d3);
  _mm512_storeu_ps(dwt + 4 * ldw, c4), _mm512_storeu_ps(dwt + 4 * ldw + 16, d4);
  _mm512_storeu_ps(dwt + 5 * ldw, c5), _mm512_storeu_ps(dwt + 5 * ldw + 16, d5);
  _mm512_storeu_ps(dwt + 6 * ldw, c6), _mm512_storeu_ps(dwt + 6 * ldw + 16, d6);
  _mm512_storeu_ps(dwt + 7 * ldw, c7), _mm512_storeu_ps(dwt + 7 * ldw + 16, d7);
}

// dst[ci] = plane ci of x with a border of zeros: (h + 2) x (w + 2), row y + 1 holding input row y
// at columns 1..w. Masked stores, one per 16 floats of a row.
void pad_planes(float* dst, const float* x, int c, int h, int w) {
  const int pw = w + 2;
  const size_t pplane = static_cast<size_t>(h + 2) * pw;
  const __m512 zero = _mm512_setzero_ps();
  for (int ci = 0; ci < c; ++ci) {
    float* plane = dst + ci * pplane;
    const float* src = x + static_cast<size_t>(ci) * h * w;
    for (int j = 0; j < pw; j += 16) {
      const __mmask16 mk = static_cast<__mmask16>(pw - j >= 16 ? 0xffff : (1u << (pw - j)) - 1u);
      _mm512_mask_storeu_ps(plane + j, mk, zero);
      _mm512_mask_storeu_ps(plane + static_cast<size_t>(h + 1) * pw + j, mk, zero);
    }
    for (int y = 0; y < h; ++y) {
      float* row = plane + static_cast<size_t>(y + 1) * pw;
      row[0] = row[w + 1] = 0.f;
      for (int j = 0; j < w; j += 16) {
        const __mmask16 mk = static_cast<__mmask16>(w - j >= 16 ? 0xffff : (1u << (w - j)) - 1u);
        _mm512_mask_storeu_ps(row + 1 + j, mk, _mm512_maskz_loadu_ps(mk, src + static_cast<size_t>(y) * w + j));
      }
    }
  }
}

// dst[g][p][l] = dy[g * 32 + l][p] for l < 32, p < hw: each pixel's 32 filters of group g
// side by side (two 16-lane gathers per pixel).
void transpose_dy(float* dst, const float* dy, int m, int hw) {
  const __m512i rows = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(hw));
  for (int g = 0; g < m / kLanes; ++g) {
    const float* lo = dy + static_cast<size_t>(g) * kLanes * hw;
    const float* hi = lo + static_cast<size_t>(16) * hw;
    float* d = dst + static_cast<size_t>(g) * hw * kLanes;
    // (The masked form with an all-ones mask: GCC 12 warns that the plain one's unused source
    // operand is uninitialised.)
    const __m512 zero = _mm512_setzero_ps();
    for (int p = 0; p < hw; ++p, d += kLanes) {
      _mm512_storeu_ps(d, _mm512_mask_i32gather_ps(zero, 0xffff, rows, lo + p, 4));
      _mm512_storeu_ps(d + 16, _mm512_mask_i32gather_ps(zero, 0xffff, rows, hi + p, 4));
    }
  }
}

}  // namespace

void f32_train_conv3x3_dweight__avx512(float* dwt, const float* dy, size_t dy_stride, const float* x, size_t x_stride, int m,
                              int c, int h, int w, int i0, int i1, float* scratch) {
  const int hw = h * w, pw = w + 2, pplane = (h + 2) * pw, group = train_conv3x3_dweight_group(h, w);
  const size_t x_image = static_cast<size_t>(c) * pplane, dyt_image = static_cast<size_t>(m) * hw;
  float* xpad = scratch;                                  // [group][c][(h + 2) * (w + 2)], zero border
  float* dyt = scratch + static_cast<size_t>(group) * x_image;  // [group][m / 32][hw][32]
  for (int g0 = i0; g0 < i1; g0 += group) {
    const int images = std::min(group, i1 - g0);
    for (int j = 0; j < images; ++j) {
      pad_planes(xpad + j * x_image, x + static_cast<size_t>(g0 + j) * x_stride, c, h, w);
      transpose_dy(dyt + j * dyt_image, dy + static_cast<size_t>(g0 + j) * dy_stride, m, hw);
    }
    // Row k = (ci * 3 + ky) * 3 + kx of the column matrix is the padded plane ci read from
    // (ky, kx): 8 such rows per tile, 32 output channels.
    for (int k0 = 0; k0 < 9 * c; k0 += kRows) {
      const float* rows[kRows];
      for (int r = 0; r < kRows; ++r) {
        const int k = k0 + r, ci = k / 9, t = k % 9;
        rows[r] = xpad + static_cast<size_t>(ci) * pplane + (t / 3) * pw + t % 3;
      }
      for (int og = 0; og < m / kLanes; ++og)
        dweight_tile_8x32(dwt + static_cast<size_t>(k0) * m + og * kLanes, m, rows, x_image,
                          dyt + static_cast<size_t>(og) * hw * kLanes, dyt_image, images, h, w);
    }
  }
}

void f32_train_conv3x3__avx512(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed, int m,
                      int c, int h, int w, int i0, int i1, float* panel) {
  run_images(out, out_stride, in, in_stride, packed, m, c, h, w, i0, i1, panel);
}

}  // namespace kernels
}  // namespace trim
