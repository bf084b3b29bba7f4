// ops.cpp - the ops (see ops.h).
#include "framework/engine/ops.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace trim {
namespace engine_detail {

namespace k = kernels;

void split_range(int total, int parts, int granule, int idx, int& b, int& e) {
  // In 64 bits: total + granule may pass INT_MAX.
  const int64_t units = (static_cast<int64_t>(total) + granule - 1) / granule;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t ub = idx * base + std::min<int64_t>(idx, extra);
  const int64_t ue = ub + base + (idx < extra ? 1 : 0);
  b = static_cast<int>(std::min<int64_t>(total, ub * granule));
  e = static_cast<int>(std::min<int64_t>(total, ue * granule));
}

// Depthwise output rows [oy0, oy1) of a DwPw step d into `band`, which receives row oy0 first.
// `in` holds d's input from row in_row0 on, of which rows below `in_rows` exist. The kernel
// addresses output row oy at out + oy * ow * out_cs and input row iy = oy * stride - pad_top + ky
// at in + iy * iw * in_cs: numbering the band's rows from 0 and moving the difference into pad_top
// (pad - oy0 * stride + in_row0, which may be negative) gives it pointers only at the first
// row of each buffer.
namespace {
void dw_rows_into(const k::KernelTable& t, const Step& d, const float* in, int in_rows, int in_row0, float* band,
                  int oy0, int oy1, const float* w, const float* bias) {
  (d.stride == 1 ? t.dwconv3x3_s1 : t.dwconv3x3_s2)(in, in_rows - in_row0, d.iw, d.in_cs, band, d.ow, d.mid_cs, 0,
                                                    oy1 - oy0, d.mid_c, w, bias, d.pad - oy0 * d.stride + in_row0,
                                                    d.pad, d.vmin, d.vmax);
}
}  // namespace

void exec(const Step& s, const k::KernelTable& t, const float* weights, float* scratch, const float* in, float* out,
          int task, int tasks) {
  const float* wp = weights + s.w_off;
  const float* bp = weights + s.b_off;
  int b = 0, e = 0;
  switch (s.op) {
    case Op::Pointwise: {
      const int m = s.ih * s.iw;
      if (s.split_n) {
        split_range(s.cout, tasks, t.gemm_nr, task, b, e);
        if (b < e)
          t.gemm(m, e - b, s.cin, in, s.in_cs, wp + static_cast<size_t>(b) * s.cin, bp + b, out + b, s.out_cs, s.vmin,
                 s.vmax);
      } else {
        split_range(m, tasks, t.gemm_mr, task, b, e);
        if (b < e)
          t.gemm(e - b, s.cout, s.cin, in + b * s.in_cs, s.in_cs, wp, bp, out + b * s.out_cs, s.out_cs, s.vmin, s.vmax);
      }
      break;
    }
    case Op::Conv:
      split_range(s.oh * s.ow, tasks, t.gemm_mr, task, b, e);
      if (b < e)
        k::conv2d_nhwc(t, in, s.ih, s.iw, s.in_cs, s.cin, out + static_cast<size_t>(b) * s.out_cs, s.ow, s.out_cs, s.cout,
                       s.kernel, s.stride, s.pad, b, e, wp, bp, s.vmin, s.vmax,
                       scratch);
      break;
    case Op::DwConv:
      split_range(s.oh, tasks, 1, task, b, e);
      if (b < e)
        (s.stride == 1 ? t.dwconv3x3_s1 : t.dwconv3x3_s2)(in, s.ih, s.iw, s.in_cs, out, s.ow, s.out_cs, b, e, s.cout, wp,
                                                          bp, s.pad, s.pad, s.vmin, s.vmax);
      break;
    case Op::DwPw: {
      b = task * s.band_rows;
      e = std::min(s.oh, b + s.band_rows);
      float* band = scratch;
      dw_rows_into(t, s, in, s.ih, 0, band, b, e, wp, bp);
      t.gemm((e - b) * s.ow, s.cout, s.mid_c, band, s.mid_cs, weights + s.w2_off, weights + s.b2_off,
             out + static_cast<size_t>(b) * s.ow * s.out_cs, s.out_cs, s.vmin2, s.vmax2);
      break;
    }
    case Op::Chain: {
      const Step& a = s.sub[0];
      const Step& c = s.sub[1];
      float* base = scratch;
      float* window = base + s.win_off;
      float* band0 = base + s.band0_off;
      float* band1 = base + s.band1_off;
      float* conv_scratch = base + s.conv_off;
      const size_t xrow = static_cast<size_t>(a.ow) * a.out_cs;  // floats per row of X
      int wlo = 0, whi = 0;  // rows of X in the window
      // Rows [r0, r1) of X into the window, which holds X from row wlo.
      auto produce = [&](int r0, int r1) {
        float* x = window + static_cast<size_t>(r0 - wlo) * xrow;
        if (a.op == Op::Conv) {
          k::conv2d_nhwc(t, in, a.ih, a.iw, a.in_cs, a.cin, x, a.ow, a.out_cs, a.cout, a.kernel, a.stride, a.pad, r0 * a.ow,
                         r1 * a.ow, weights + a.w_off, weights + a.b_off, a.vmin, a.vmax, conv_scratch);
          return;
        }
        for (int r = r0; r < r1; r += a.band_rows) {
          const int re = std::min(r1, r + a.band_rows);
          dw_rows_into(t, a, in, a.ih, 0, band0, r, re, weights + a.w_off, weights + a.b_off);
          t.gemm((re - r) * a.ow, a.cout, a.mid_c, band0, a.mid_cs, weights + a.w2_off, weights + a.b2_off,
                 x + static_cast<size_t>(r - r0) * xrow, a.out_cs, a.vmin2, a.vmax2);
        }
      };
      split_range(s.oh, tasks, s.band_rows, task, b, e);
      for (int y = b; y < e; y += c.band_rows) {
        const int ye = std::min(e, y + c.band_rows);
        const int need_lo = std::max(0, y * c.stride - c.pad);
        const int need_hi = std::min(a.oh, (ye - 1) * c.stride - c.pad + 3);
        if (need_lo >= whi || need_lo < wlo) {
          wlo = whi = need_lo;  // nothing to keep (the piece's first band)
        } else if (need_lo > wlo) {
          std::memmove(window, window + static_cast<size_t>(need_lo - wlo) * xrow, sizeof(float) * (whi - need_lo) * xrow);
          wlo = need_lo;
        }
        if (need_hi > whi) {
          produce(whi, need_hi);
          whi = need_hi;
        }
        // The window holds X rows [wlo, whi): it is the depthwise input from row wlo on.
        dw_rows_into(t, c, window, std::min(c.ih, whi), wlo, band1, y, ye, weights + c.w_off,
                     weights + c.b_off);
        t.gemm((ye - y) * c.ow, c.cout, c.mid_c, band1, c.mid_cs, weights + c.w2_off, weights + c.b2_off,
               out + static_cast<size_t>(y) * c.ow * c.out_cs, c.out_cs, c.vmin2, c.vmax2);
      }
      break;
    }
    case Op::GroupConv:
      k::f32_conv2d_nhwc__ref(in, s.ih, s.iw, s.in_cs, s.cin, out, s.oh, s.ow, s.out_cs, s.cout, s.kernel, s.stride,
                              s.pad, s.groups, wp, bp, s.vmin, s.vmax);
      break;
    case Op::Affine:
    case Op::Clamp:
      k::f32_affine_nhwc__ref(in, s.ih * s.iw, s.in_cs, out, s.out_cs, s.cin, wp, bp, s.vmin, s.vmax);
      break;
    case Op::MaxPool:
    case Op::AvgPool: {
      // Output rows [b, e). Only unpadded pools are split (plan_tasks): their rows start at input
      // row b * stride, so a piece is the same pool on a shifted, shorter map.
      split_range(s.oh, tasks, 1, task, b, e);
      if (b >= e) break;
      const float* pin = in + static_cast<size_t>(b) * s.stride * s.iw * s.in_cs;
      float* pout = out + static_cast<size_t>(b) * s.ow * s.out_cs;
      const int ih = s.ih - b * s.stride;
      (s.op == Op::MaxPool ? t.maxpool2d : k::f32_avgpool2d_nhwc__ref)(
          pin, ih, s.iw, s.in_cs, pout, e - b, s.ow, s.out_cs, s.cin, s.kernel, s.stride, s.pad);
      break;
    }
    case Op::GlobalAvgPool:
      t.global_avgpool(in, s.ih * s.iw, s.in_cs, s.cin, out);
      break;
    case Op::Flatten:
      // Channel-major, as training flattens: the next linear layer's columns need no permutation.
      k::f32_nhwc_to_nchw__ref(in, s.cin, s.ih * s.iw, s.in_cs, out);
      break;
    case Op::Fc:
      split_range(s.cout, tasks, t.gemm_nr, task, b, e);
      if (b < e) t.fc(e - b, s.cin, in, wp + static_cast<size_t>(b) * s.cin, bp + b, out + b, s.vmin, s.vmax);
      break;
  }
}

}  // namespace engine_detail
}  // namespace trim
