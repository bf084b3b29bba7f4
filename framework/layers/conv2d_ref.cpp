// conv2d_ref.cpp - the per-image reference path of Conv2d (ConvPath::PerImage): per image and
// group, im2col into a per-thread buffer, then one sgemm; the input gradient is W^T * dY
// scattered back by col2im. Plain and obviously right; tests compare the blocked path
// (conv2d_gemm.cpp) against it. A 1x1, stride-1, unpadded convolution skips im2col: the input
// planes already are the column matrix.
#include "framework/layers/conv2d.h"
#include "framework/layers/shape_checks.h"
#include "framework/layers/conv2d_gemm.h"
#include "framework/layers/im2col.h"
#include "framework/parallel.h"

#include <omp.h>

#include <cstring>

#include "framework/blas.h"

namespace trim {

using conv_detail::round_line;

void Conv2d::forward_per_image(float* y, const float* x, int n, Workspace& ws) {
  const conv_detail::GemmDims d = conv_detail::gemm_dims(*this);
  const int hw = d.hw, ohw = d.ohw, cg = d.cg, ocg = d.ocg, kdim = d.kdim;
  const bool pointwise = d.pointwise;
  const size_t col_size = pointwise ? 0 : round_line(static_cast<size_t>(kdim) * ohw);
  float* scratch = col_size ? checked_workspace(ws, col_size, omp_get_max_threads(), 0, "conv", name()) : nullptr;
  const float* wt = weight.data();

  parallel_region(n * macs() >= conv_detail::kParallelMin, [&](int tid, int nt) {
    float* col = scratch ? scratch + col_size * tid : nullptr;
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    for (int i = i0; i < i1; ++i) {
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i) * in_channels + g * cg) * hw;
        float* yg = y + (static_cast<size_t>(i) * out_channels + g * ocg) * ohw;
        const float* colp = xg;
        if (!pointwise) {
          im2col(col, ohw, xg, d.geom);
          colp = col;
        }
        sgemm(false, false, ocg, ohw, kdim, 1.f, wt + static_cast<size_t>(g) * ocg * kdim, kdim, colp,
              ohw, 0.f, yg, ohw);
      }
      if (has_bias) {
        for (int oc = 0; oc < out_channels; ++oc) {
          float* plane = y + (static_cast<size_t>(i) * out_channels + oc) * ohw;
          const float bv = bias[oc];
          for (int j = 0; j < ohw; ++j) plane[j] += bv;
        }
      }
    }
  });
}

void Conv2d::backward_per_image(float* dx, const float* dy, const float* x, int n, Workspace& ws) {
  const conv_detail::GemmDims d = conv_detail::gemm_dims(*this);
  const int hw = d.hw, ohw = d.ohw, cg = d.cg, ocg = d.ocg, kdim = d.kdim;
  const bool pointwise = d.pointwise;
  const size_t col_size = pointwise ? 0 : round_line(static_cast<size_t>(kdim) * ohw);
  const size_t wsize = weight.numel();
  const size_t slice = col_size + round_line(wsize);
  float* scratch = checked_workspace(ws, slice, omp_get_max_threads(), 0, "conv", name());
  const float* wt = weight.data();
  const bool par = n * macs() >= conv_detail::kParallelMin;

  // Per-thread partial weight gradients, summed afterwards in thread order.
  int used_threads = 1;
  parallel_region(par, [&](int tid, int nt) {
    if (tid == 0) used_threads = nt;
    float* col = scratch + slice * tid;
    float* dwp = col + col_size;  // this thread's partial weight gradient
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    std::memset(dwp, 0, sizeof(float) * wsize);
    for (int i = i0; i < i1; ++i) {
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i) * in_channels + g * cg) * hw;
        const float* dyg = dy + (static_cast<size_t>(i) * out_channels + g * ocg) * ohw;
        const float* wg = wt + static_cast<size_t>(g) * ocg * kdim;
        const float* colp = xg;
        if (!pointwise) {
          im2col(col, ohw, xg, d.geom);
          colp = col;
        }
        // dW_g += dY_g [ocg x ohw] * col^T [ohw x kdim]
        sgemm(false, true, ocg, kdim, ohw, 1.f, dyg, ohw, colp, ohw, 1.f,
              dwp + static_cast<size_t>(g) * ocg * kdim, kdim);
        if (dx) {
          float* dxg = dx + (static_cast<size_t>(i) * in_channels + g * cg) * hw;
          if (pointwise) {
            // The column matrix is the input itself, so W^T * dY lands directly in dx.
            sgemm(true, false, kdim, ohw, ocg, 1.f, wg, kdim, dyg, ohw, 0.f, dxg, ohw);
          } else {
            // dcol = W_g^T [kdim x ocg] * dY_g [ocg x ohw], reusing the column buffer.
            sgemm(true, false, kdim, ohw, ocg, 1.f, wg, kdim, dyg, ohw, 0.f, col, ohw);
            std::memset(dxg, 0, sizeof(float) * cg * hw);
            col2im(dxg, col, ohw, d.geom);
          }
        }
      }
    }
  });
  conv_detail::sum_partials(dweight.data(), wsize, scratch + col_size, slice, used_threads, par);
}

}  // namespace trim
