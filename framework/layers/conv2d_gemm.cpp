// conv2d_gemm.cpp - the blocked im2col + GEMM path of Conv2d (ConvPath::Blocked).
//
// One GEMM per image is a poor shape on small maps: a 7x7 output gives the GEMM 49 columns,
// and OpenBLAS repacks the whole weight matrix for each such sliver. So the batch is cut into
// fixed blocks of images_per_gemm() images whose column matrices sit side by side (row stride
// block * oh * ow): forward, weight gradient and input gradient each run one GEMM per block and
// group. The GEMM results are in [channel][image][pixel] order; a copy puts them into NCHW.
//
// Input gradient: for stride 1 it is itself a convolution of dY with the flipped, transposed
// weights (padding k - 1 - p), run as im2col of dY + one GEMM whose inner dimension is
// out_channels * k * k, instead of W^T * dY (inner dimension out_channels) followed by the
// col2im scatter-add. Strided convolutions keep col2im.
//
// A 3x3, stride-1, padding-1 convolution (SICK-Net's every one) takes conv3x3_implicit.cpp
// instead where the CPU has it: forward pass and input gradient by a GEMM that packs its column
// panels straight from the planes, without the im2col buffer and the BLAS's second copy of it;
// the weight gradient (32k filters, 8k input channels) by a kernel that reads the column
// matrix's rows as shifted views of zero-padded planes. Threads take ranges of images.
//
// Blocks are fixed by the batch size, not by the thread count, and each thread takes whole
// blocks: an image's output and input gradient come from the same GEMM call however many
// threads run. Weight gradients accumulate into per-thread partial buffers summed in thread
// order, so a run with a fixed thread count is bit-for-bit repeatable.
#include "framework/layers/conv2d.h"
#include "framework/layers/conv2d_gemm.h"
#include "framework/layers/shape_checks.h"
#include "framework/layers/conv3x3_implicit.h"
#include "framework/layers/im2col.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "framework/blas.h"

namespace trim {

using conv_detail::round_line;

namespace conv_detail {

void sum_partials(float* dw, size_t count, const float* part, size_t stride, int nt, bool par) {
  parallel_for(static_cast<int>(count), par, [&](int j) {
    float s = 0.f;
    for (int t = 0; t < nt; ++t) s += part[stride * t + j];
    dw[j] += s;
  });
}

}  // namespace conv_detail

namespace {

// A GEMM with at least this many columns runs near OpenBLAS's best on these shapes; past it,
// a bigger block only grows the column buffer out of L2.
constexpr int kTargetColumns = 256;

// dst[c][j * hw + t] = src[(j * src_c + c) * hw + t] for c < channels, j < images: planes of
// `images` consecutive NCHW images (src points at the first one's first wanted channel) side by
// side, channel-major.
void gather_planes(float* dst, const float* src, int channels, int src_c, int images, int hw) {
  const size_t ld = static_cast<size_t>(images) * hw;
  for (int c = 0; c < channels; ++c)
    for (int j = 0; j < images; ++j)
      std::memcpy(dst + c * ld + static_cast<size_t>(j) * hw, src + (static_cast<size_t>(j) * src_c + c) * hw,
                  sizeof(float) * hw);
}

// The inverse of gather_planes, adding bias[c] on the way when bias is not null.
void scatter_planes(float* dst, const float* src, int channels, int dst_c, int images, int hw, const float* bias) {
  const size_t ld = static_cast<size_t>(images) * hw;
  for (int c = 0; c < channels; ++c)
    for (int j = 0; j < images; ++j) {
      float* d = dst + (static_cast<size_t>(j) * dst_c + c) * hw;
      const float* s = src + c * ld + static_cast<size_t>(j) * hw;
      if (bias) {
        const float b = bias[c];
        for (int t = 0; t < hw; ++t) d[t] = s[t] + b;
      } else {
        std::memcpy(d, s, sizeof(float) * hw);
      }
    }
}

}  // namespace

int Conv2d::images_per_gemm(int n) const {
  const int ohw = out_shape_[1] * out_shape_[2];
  int block = 1;
  while (block < n && static_cast<int64_t>(block) * ohw < kTargetColumns) block *= 2;
  return block;
}

bool Conv2d::implicit_3x3(int rows) const {
  return use_implicit_3x3 && kernel == 3 && stride == 1 && pad == 1 && out_shape_[1] == in_shape_[1] &&
         out_shape_[2] == in_shape_[2] && conv_detail::conv3x3_implicit_available(rows);
}

bool Conv2d::implicit_3x3_dweight() const {
  return implicit_3x3(out_channels / groups) &&
         conv_detail::conv3x3_dweight_available(out_channels / groups, in_channels / groups);
}

void Conv2d::forward_implicit_3x3(float* y, const float* x, int n, Workspace& ws) {
  const int h = in_shape_[1], w = in_shape_[2], hw = h * w;
  const int cg = in_channels / groups, ocg = out_channels / groups;
  const size_t packed_size = round_line(conv_detail::conv3x3_packed_floats(ocg, cg));
  const size_t panel_size = round_line(conv_detail::conv3x3_panel_floats(ocg, cg));
  float* packed = checked_workspace(ws, panel_size, omp_get_max_threads(), packed_size * groups, "conv", name());
  float* panels = packed + packed_size * groups;
  const bool par = n * macs() >= conv_detail::kParallelMin;
  const int tiles = ocg / 8;
  parallel_for(groups * tiles, par, [&](int gt) {
    const int g = gt / tiles;
    conv_detail::conv3x3_pack_weights(packed + packed_size * g, weight.data() + static_cast<size_t>(g) * ocg * cg * 9,
                                      ocg, cg, gt % tiles);
  });
  const float* b = has_bias ? bias.data() : nullptr;
  parallel_region(par, [&](int tid, int nt) {
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    for (int g = 0; g < groups; ++g)
      conv_detail::conv3x3_implicit(y + static_cast<size_t>(g) * ocg * hw, static_cast<size_t>(out_channels) * hw,
                                    x + static_cast<size_t>(g) * cg * hw, static_cast<size_t>(in_channels) * hw,
                                    packed + packed_size * g, ocg, cg, h, w, i0, i1, panels + panel_size * tid);
    if (b)
      for (int i = i0; i < i1; ++i)
        for (int oc = 0; oc < out_channels; ++oc) {
          float* plane = y + (static_cast<size_t>(i) * out_channels + oc) * hw;
          for (int t = 0; t < hw; ++t) plane[t] += b[oc];
        }
  });
}

void Conv2d::forward_blocked(float* y, const float* x, int n, Workspace& ws) {
  if (implicit_3x3(out_channels / groups)) {
    forward_implicit_3x3(y, x, n, ws);
    return;
  }
  const conv_detail::GemmDims d = conv_detail::gemm_dims(*this);
  const int hw = d.hw, ohw = d.ohw, cg = d.cg, ocg = d.ocg, kdim = d.kdim;
  const bool pointwise = d.pointwise;
  const ConvGeom& geom = d.geom;
  const int block = images_per_gemm(n), blocks = (n + block - 1) / block;
  const size_t ld = static_cast<size_t>(block) * ohw;
  // One image of a pointwise convolution needs no column matrix, and one image's GEMM writes
  // straight into the output.
  const size_t col_size = pointwise && block == 1 ? 0 : round_line(kdim * ld);
  const size_t out_size = block == 1 ? 0 : round_line(ocg * ld);
  const size_t slice = col_size + out_size;
  float* scratch = slice ? checked_workspace(ws, slice, omp_get_max_threads(), 0, "conv", name()) : nullptr;
  const float* wt = weight.data();
  const float* b = has_bias ? bias.data() : nullptr;

  parallel_region(n * macs() >= conv_detail::kParallelMin, [&](int tid, int nt) {
    int b0, b1;
    thread_range(blocks, tid, nt, b0, b1);
    float* col = scratch ? scratch + slice * tid : nullptr;
    float* tmp = col + col_size;
    for (int blk = b0; blk < b1; ++blk) {
      const int i0 = blk * block, m = std::min(block, n - i0);
      const int cols = m * ohw;
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i0) * in_channels + g * cg) * hw;
        const float* colp = xg;
        if (col_size) {
          for (int j = 0; j < m; ++j)
            im2col(col + static_cast<size_t>(j) * ohw, cols, xg + static_cast<size_t>(j) * in_channels * hw, geom);
          colp = col;
        }
        float* yg = y + (static_cast<size_t>(i0) * out_channels + g * ocg) * ohw;
        float* c = m == 1 ? yg : tmp;
        sgemm(false, false, ocg, cols, kdim, 1.f, wt + static_cast<size_t>(g) * ocg * kdim, kdim, colp, cols, 0.f,
              c, cols);
        const float* bg = b ? b + g * ocg : nullptr;
        if (m > 1) {
          scatter_planes(yg, tmp, ocg, out_channels, m, ohw, bg);
        } else if (bg) {
          for (int oc = 0; oc < ocg; ++oc)
            for (int t = 0; t < ohw; ++t) yg[static_cast<size_t>(oc) * ohw + t] += bg[oc];
        }
      }
    }
  });
}

void Conv2d::backward_blocked(float* dx, const float* dy, const float* x, int n, Workspace& ws) {
  const conv_detail::GemmDims d = conv_detail::gemm_dims(*this);
  const int hw = d.hw, ohw = d.ohw, cg = d.cg, ocg = d.ocg, kdim = d.kdim;
  const bool pointwise = d.pointwise;
  const ConvGeom& geom = d.geom;
  const int k = kernel, kdim_t = ocg * k * k;
  // The input gradient as a convolution of dY: stride 1, and a padding that fits the kernel.
  const bool transposed = dx && stride == 1 && pad <= k - 1;
  // The input gradient by conv3x3_implicit, after the block loop (which then only does dW).
  const bool implicit = transposed && implicit_3x3(cg);
  // The weight gradient by conv3x3_implicit_dweight (then the block loop has nothing to do).
  const bool dw_implicit = implicit_3x3_dweight() && (!dx || implicit);
  const ConvGeom geom_t{ocg, geom.oh, geom.ow, geom.h, geom.w, k, 1, k - 1 - pad};
  const int block = images_per_gemm(n), blocks = (n + block - 1) / block;
  const size_t ld = static_cast<size_t>(block) * ohw, ld_t = static_cast<size_t>(block) * hw;
  const size_t wsize = weight.numel();

  // Per thread: the column matrix (of x, then of dY or the col2im input), the block's dY
  // channel-major, the block's input gradient channel-major, the partial weight gradient.
  size_t col_size = pointwise && block == 1 ? 0 : kdim * ld;
  if (dx && !transposed) col_size = kdim * ld;
  if (transposed && !implicit && !(pointwise && block == 1)) col_size = std::max(col_size, kdim_t * ld_t);
  if (implicit) col_size = std::max(col_size, conv_detail::conv3x3_panel_floats(cg, ocg));
  if (dw_implicit)
    col_size = std::max(implicit ? conv_detail::conv3x3_panel_floats(cg, ocg) : 0,
                        conv_detail::conv3x3_dweight_scratch_floats(ocg, cg, geom.h, geom.w));
  col_size = round_line(col_size);
  const size_t dy_size = block == 1 || dw_implicit ? 0 : round_line(ocg * ld);
  const size_t dx_size = transposed && !implicit && block > 1 ? round_line(cg * ld_t) : 0;
  const size_t slice = col_size + dy_size + dx_size + round_line(wsize);
  const int max_threads = omp_get_max_threads();
  const size_t flipped_size = transposed && !implicit ? round_line(wsize) : 0;
  const size_t packed_size = implicit ? round_line(conv_detail::conv3x3_packed_floats(cg, ocg)) : 0;
  float* scratch = checked_workspace(ws, slice, max_threads, flipped_size + packed_size * groups, "conv", name());
  float* flipped = scratch + slice * max_threads;
  float* packed = flipped + flipped_size;
  const float* wt = weight.data();
  const bool par = n * macs() >= conv_detail::kParallelMin;

  if (implicit) {
    // The flipped, transposed weights (below) packed straight for conv3x3_implicit.
    const int tiles = cg / 8;
    parallel_for(groups * tiles, par, [&](int gt) {
      const int g = gt / tiles;
      conv_detail::conv3x3_pack_weights_flipped(packed + packed_size * g, wt + static_cast<size_t>(g) * ocg * kdim, cg,
                                                ocg, gt % tiles);
    });
  } else if (transposed) {
    // flipped[g][ci][oc][ky][kx] = W[g*ocg + oc][ci][k-1-ky][k-1-kx]: group g's weights as the
    // cg x (ocg*k*k) matrix of the convolution that maps dY to dX.
    for (int g = 0; g < groups; ++g)
      for (int ci = 0; ci < cg; ++ci)
        for (int oc = 0; oc < ocg; ++oc)
          for (int t = 0; t < k * k; ++t)
            flipped[((static_cast<size_t>(g) * cg + ci) * ocg + oc) * k * k + t] =
                wt[((static_cast<size_t>(g) * ocg + oc) * cg + ci) * k * k + (k * k - 1 - t)];
  }

  int used_threads = 1;
  parallel_region(par, [&](int tid, int nt) {
    if (tid == 0) used_threads = nt;
    int b0, b1;
    thread_range(blocks, tid, nt, b0, b1);
    float* col = scratch + slice * tid;
    float* dyb = col + col_size;
    float* dxb = dyb + dy_size;
    float* dwp = dxb + dx_size;  // this thread's partial weight gradient
    std::memset(dwp, 0, sizeof(float) * wsize);
    for (int blk = b0; blk < b1 && !dw_implicit; ++blk) {
      const int i0 = blk * block, m = std::min(block, n - i0);
      const int cols = m * ohw, cols_t = m * hw;
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i0) * in_channels + g * cg) * hw;
        const float* dyg = dy + (static_cast<size_t>(i0) * out_channels + g * ocg) * ohw;
        float* dxg = dx ? dx + (static_cast<size_t>(i0) * in_channels + g * cg) * hw : nullptr;
        const float* wg = wt + static_cast<size_t>(g) * ocg * kdim;
        // dY of the block, channel-major.
        const float* dym = dyg;
        if (m > 1) {
          gather_planes(dyb, dyg, ocg, out_channels, m, ohw);
          dym = dyb;
        }
        // dW_g += dY_g [ocg x cols] * col^T [cols x kdim]
        const float* colp = xg;
        if (!(pointwise && m == 1)) {
          for (int j = 0; j < m; ++j)
            im2col(col + static_cast<size_t>(j) * ohw, cols, xg + static_cast<size_t>(j) * in_channels * hw, geom);
          colp = col;
        }
        sgemm(false, true, ocg, kdim, cols, 1.f, dym, cols, colp, cols, 1.f, dwp + static_cast<size_t>(g) * ocg * kdim,
              kdim);
        if (!dx || implicit) continue;
        if (transposed) {
          // dX_g [cg x cols_t] = flipped_g [cg x kdim_t] * im2col(dY_g) [kdim_t x cols_t]
          const float* colt = dym;  // a pointwise kernel's column matrix is dY itself
          if (!pointwise) {
            for (int j = 0; j < m; ++j)
              im2col(col + static_cast<size_t>(j) * hw, cols_t, dyg + static_cast<size_t>(j) * out_channels * ohw,
                     geom_t);
            colt = col;
          }
          float* c = m == 1 ? dxg : dxb;
          sgemm(false, false, cg, cols_t, kdim_t, 1.f, flipped + static_cast<size_t>(g) * cg * kdim_t, kdim_t, colt,
                cols_t, 0.f, c, cols_t);
          if (m > 1) scatter_planes(dxg, dxb, cg, in_channels, m, hw, nullptr);
        } else {
          // dcol = W_g^T [kdim x ocg] * dY_g [ocg x cols], then scattered back by col2im.
          sgemm(true, false, kdim, cols, ocg, 1.f, wg, kdim, dym, cols, 0.f, col, cols);
          for (int j = 0; j < m; ++j) {
            float* dxj = dxg + static_cast<size_t>(j) * in_channels * hw;
            std::memset(dxj, 0, sizeof(float) * cg * hw);
            col2im(dxj, col + static_cast<size_t>(j) * ohw, cols, geom);
          }
        }
      }
    }
    const int i0 = b0 * block, i1 = std::min(n, b1 * block);  // this thread's images
    if (dw_implicit) {
      // dW_g^T [kdim x ocg] += col [kdim x pixels] * dY_g^T, k-major: transposed when summed.
      for (int g = 0; g < groups; ++g)
        conv_detail::conv3x3_implicit_dweight(dwp + static_cast<size_t>(g) * ocg * kdim,
                                              dy + static_cast<size_t>(g) * ocg * ohw,
                                              static_cast<size_t>(out_channels) * ohw,
                                              x + static_cast<size_t>(g) * cg * hw, static_cast<size_t>(in_channels) * hw,
                                              ocg, cg, geom.h, geom.w, i0, i1, col);
    }
    if (implicit) {
      // dX = the 3x3 convolution of dY (padding k - 1 - p = 1) with the flipped weights.
      for (int g = 0; g < groups; ++g)
        conv_detail::conv3x3_implicit(dx + static_cast<size_t>(g) * cg * hw, static_cast<size_t>(in_channels) * hw,
                                      dy + static_cast<size_t>(g) * ocg * ohw, static_cast<size_t>(out_channels) * ohw,
                                      packed + packed_size * g, cg, ocg, geom.h, geom.w, i0, i1, col);
    }
  });
  const float* parts = scratch + col_size + dy_size + dx_size;
  if (!dw_implicit) {
    conv_detail::sum_partials(dweight.data(), wsize, parts, slice, used_threads, par);
    return;
  }
  // The partials are [g][k][oc]: per weight row (g, oc), sum the threads in order, transposing.
  float* dw = dweight.data();
  parallel_for(out_channels, par, [&](int row) {
    const int g = row / ocg, oc = row % ocg;
    const float* part = parts + static_cast<size_t>(g) * ocg * kdim + oc;
    float* dst = dw + static_cast<size_t>(row) * kdim;
    for (int kk = 0; kk < kdim; ++kk) {
      float s = 0.f;
      for (int t = 0; t < used_threads; ++t) s += part[slice * t + static_cast<size_t>(kk) * ocg];
      dst[kk] += s;
    }
  });
}

}  // namespace trim
