// conv2d.cpp - Conv2d forward and backward.
//
// Standard and grouped convolution: per image and group, im2col into a per-thread buffer, then
// one sgemm (OpenBLAS, single-threaded; the batch is split across OpenMP threads). A 1x1,
// stride-1, unpadded convolution skips im2col: the input planes already are the column matrix.
// Weight gradients accumulate into per-thread partial buffers that are summed in thread order,
// so a run with a fixed thread count is bit-for-bit repeatable.
// Depthwise convolution (groups == in == out channels) runs as direct loops: its GEMMs would
// have one row, which wastes the BLAS.
#include "framework/layers/conv2d.h"
#include "framework/layers/shape_checks.h"
#include "framework/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "framework/blas.h"

namespace trim {

namespace {

std::string who(const std::string& name) { return "conv '" + name + "'"; }

// Floats rounded up to a whole cache line, so per-thread slices never share a line.
size_t round_line(size_t n) { return (n + 15) / 16 * 16; }

// Range [lo, hi) of output columns whose input column ow*s - p + kw lies inside [0, w).
void valid_cols(int w, int ow_count, int s, int p, int kw, int& lo, int& hi) {
  int first = p - kw;  // need ow*s >= first
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  int last = w - 1 + p - kw;  // need ow*s <= last
  hi = last < 0 ? 0 : std::min(ow_count, last / s + 1);
  lo = std::min(lo, hi);
}

// Geometry of one convolution, shared by the helpers below.
struct Geom {
  int c, h, w;     // input channels (of one group), height, width
  int oh, ow;      // output size
  int k, s, p;
};

// col[(ci*k + kh)*k + kw][oy*ow + ox] = x[ci][oy*s - p + kh][ox*s - p + kw] (0 outside).
void im2col(float* col, const float* x, const Geom& g) {
  const int ohw = g.oh * g.ow;
  for (int ci = 0; ci < g.c; ++ci) {
    const float* plane = x + static_cast<size_t>(ci) * g.h * g.w;
    for (int kh = 0; kh < g.k; ++kh) {
      for (int kw = 0; kw < g.k; ++kw) {
        float* row = col + (static_cast<size_t>(ci * g.k + kh) * g.k + kw) * ohw;
        int lo, hi;
        valid_cols(g.w, g.ow, g.s, g.p, kw, lo, hi);
        for (int oy = 0; oy < g.oh; ++oy) {
          float* r = row + static_cast<size_t>(oy) * g.ow;
          int iy = oy * g.s - g.p + kh;
          if (iy < 0 || iy >= g.h) {
            std::memset(r, 0, sizeof(float) * g.ow);
            continue;
          }
          // Offsets, not pointers: the row start may lie before the plane when padded.
          const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * g.w - g.p + kw;
          for (int ox = 0; ox < lo; ++ox) r[ox] = 0.f;
          if (g.s == 1) {
            if (hi > lo) std::memcpy(r + lo, plane + base + lo, sizeof(float) * (hi - lo));
          } else {
            for (int ox = lo; ox < hi; ++ox) r[ox] = plane[base + static_cast<ptrdiff_t>(ox) * g.s];
          }
          for (int ox = hi; ox < g.ow; ++ox) r[ox] = 0.f;
        }
      }
    }
  }
}

// The adjoint of im2col: dx[ci][iy][ix] += every col entry that was copied from it.
// dx must be zeroed by the caller.
void col2im(float* dx, const float* col, const Geom& g) {
  const int ohw = g.oh * g.ow;
  for (int ci = 0; ci < g.c; ++ci) {
    float* plane = dx + static_cast<size_t>(ci) * g.h * g.w;
    for (int kh = 0; kh < g.k; ++kh) {
      for (int kw = 0; kw < g.k; ++kw) {
        const float* row = col + (static_cast<size_t>(ci * g.k + kh) * g.k + kw) * ohw;
        int lo, hi;
        valid_cols(g.w, g.ow, g.s, g.p, kw, lo, hi);
        for (int oy = 0; oy < g.oh; ++oy) {
          int iy = oy * g.s - g.p + kh;
          if (iy < 0 || iy >= g.h) continue;
          const float* r = row + static_cast<size_t>(oy) * g.ow;
          const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * g.w - g.p + kw;
          if (g.s == 1) {
            for (int ox = lo; ox < hi; ++ox) plane[base + ox] += r[ox];
          } else {
            for (int ox = lo; ox < hi; ++ox) plane[base + static_cast<ptrdiff_t>(ox) * g.s] += r[ox];
          }
        }
      }
    }
  }
}

// Below this many multiply-adds (or elements) a parallel region costs more than it saves:
// waking the second thread is microseconds, and far worse when the cores are oversubscribed.
constexpr int64_t kParallelMin = 1 << 16;

// Contiguous share [begin, end) of `total` items for thread `tid` of `nt`.
float plane_sum(const float* x, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; ++i) s += x[i];
  return s;
}

}  // namespace

Conv2d::Conv2d(int out_channels_, int kernel_, int stride_, int pad_, int groups_, bool bias_)
    : out_channels(out_channels_), kernel(kernel_), stride(stride_), pad(pad_), groups(groups_),
      has_bias(bias_) {
  if (out_channels <= 0 || kernel <= 0 || stride <= 0 || pad < 0 || groups <= 0)
    throw Error("conv: filters, size, stride and groups must be positive and pad >= 0 (filters=" +
                std::to_string(out_channels) + " size=" + std::to_string(kernel) + " stride=" +
                std::to_string(stride) + " pad=" + std::to_string(pad) + " groups=" +
                std::to_string(groups) + ")");
}

Conv2d::Conv2d(const LayerDesc& d) {
  out_channels = d.require_int("filters");
  kernel = d.require_int("size");
  stride = d.get_int("stride", 1);
  pad = d.get_int("pad", 0);
  groups = d.get_int("groups", 1);
  int b = d.get_int("bias", 1);
  const char* bad = out_channels <= 0 ? "filters" : kernel <= 0 ? "size" : stride <= 0 ? "stride"
                    : pad < 0 ? "pad" : groups <= 0 ? "groups" : (b != 0 && b != 1) ? "bias" : nullptr;
  if (bad)
    throw Error(d.where() + ": key '" + bad + "' out of range ('" + d.get(bad, "") +
                "'; filters, size, stride, groups > 0, pad >= 0, bias 0 or 1)");
  has_bias = b != 0;
}

Shape Conv2d::setup(const Shape& in) {
  if (in.rank() != 3)
    throw Error(who(name_) + ": input must be channels x height x width, got " + in.str());
  const int c = in[0], h = in[1], w = in[2];
  if (c % groups != 0 || out_channels % groups != 0)
    throw Error(who(name_) + ": groups=" + std::to_string(groups) + " must divide input channels " +
                std::to_string(c) + " and filters " + std::to_string(out_channels) + " (input " +
                in.str() + ")");
  const int64_t oh64 = window_output(h, kernel, stride, pad), ow64 = window_output(w, kernel, stride, pad);
  if (oh64 > INT32_MAX || ow64 > INT32_MAX)
    throw Error(who(name_) + ": input " + in.str() + " with size=" + std::to_string(kernel) + " stride=" +
                std::to_string(stride) + " pad=" + std::to_string(pad) + " gives an output too large to hold");
  const int oh = static_cast<int>(oh64), ow = static_cast<int>(ow64);
  if (c <= 0 || oh <= 0 || ow <= 0)
    throw Error(who(name_) + ": input " + in.str() + " with size=" + std::to_string(kernel) +
                " stride=" + std::to_string(stride) + " pad=" + std::to_string(pad) +
                " gives an empty output " + Shape{out_channels, oh, ow}.str());
  Shape ws{out_channels, c / groups, kernel, kernel};
  check_param_size(ws, who(name_));
  in_channels = c;
  in_shape_ = in;
  out_shape_ = Shape{out_channels, oh, ow};
  weight = Tensor(ws);
  dweight = Tensor(ws);
  if (has_bias) {
    bias = Tensor(Shape{out_channels});
    dbias = Tensor(Shape{out_channels});
  } else {
    bias = Tensor();
    dbias = Tensor();
  }
  return out_shape_;
}

void Conv2d::init_params(std::mt19937_64& rng) {
  // He (kaiming normal, fan_in): keeps activation variance through ReLU networks.
  const double fan_in = static_cast<double>(in_channels / groups) * kernel * kernel;
  std::normal_distribution<float> dist(0.f, static_cast<float>(std::sqrt(2.0 / fan_in)));
  for (float& v : weight) v = dist(rng);
  if (has_bias) bias.zero();
}

std::vector<ParamRef> Conv2d::params() {
  std::vector<ParamRef> p;
  p.push_back({"weight", &weight, &dweight, true});
  if (has_bias) p.push_back({"bias", &bias, &dbias, false});
  return p;
}

void Conv2d::write_desc(LayerDesc& d) const {
  d.set("filters", out_channels);
  d.set("size", kernel);
  d.set("stride", stride);
  d.set("pad", pad);
  d.set("groups", groups);
  d.set("bias", has_bias ? 1 : 0);
}

int64_t Conv2d::macs() const {
  if (out_shape_.rank() != 3) return 0;  // not set up yet
  return static_cast<int64_t>(out_shape_[0]) * out_shape_[1] * out_shape_[2] * (in_channels / groups) *
         kernel * kernel;
}

namespace {

}  // namespace

void Conv2d::forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_input(in, in_shape_, "conv", name_);
  const int n = in.dim(0), h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2], ohw = oh * ow;
  resize4(out, n, out_channels, oh, ow);
  const float* x = in.data();
  float* y = out.data();
  const float* wt = weight.data();
  const float* b = has_bias ? bias.data() : nullptr;

  const bool par = n * macs() >= kParallelMin;
  if (depthwise()) {
    const int k = kernel, s = stride, p = pad, c = in_channels;
    parallel_for(n * c, par, [&](int plane) {
      const int ch = plane % c;
      const float* src = x + static_cast<size_t>(plane) * h * w;
      float* dst = y + static_cast<size_t>(plane) * ohw;
      const float* kw_ = wt + static_cast<size_t>(ch) * k * k;
      const float b0 = b ? b[ch] : 0.f;
      for (int j = 0; j < ohw; ++j) dst[j] = b0;
      for (int kx = 0; kx < k; ++kx) {
        int lo, hi;
        valid_cols(w, ow, s, p, kx, lo, hi);
        for (int oy = 0; oy < oh; ++oy) {
          float* d = dst + static_cast<size_t>(oy) * ow;
          for (int ky = 0; ky < k; ++ky) {
            int iy = oy * s - p + ky;
            if (iy < 0 || iy >= h) continue;
            const float wv = kw_[ky * k + kx];
            const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * w - p + kx;
            for (int ox = lo; ox < hi; ++ox) d[ox] += wv * src[base + static_cast<ptrdiff_t>(ox) * s];
          }
        }
      }
    });
    return;
  }

  const int cg = in_channels / groups, ocg = out_channels / groups;
  const int kdim = cg * kernel * kernel;
  const bool pointwise = kernel == 1 && stride == 1 && pad == 0;
  const Geom geom{cg, h, w, oh, ow, kernel, stride, pad};
  const size_t col_size = pointwise ? 0 : round_line(static_cast<size_t>(kdim) * ohw);
  const int max_threads = omp_get_max_threads();
  Workspace* wsp = ctx.workspace ? ctx.workspace : &own_workspace_;
  float* scratch = col_size ? wsp->get(col_size * max_threads) : nullptr;

  parallel_region(par, [&](int tid, int nt) {
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    float* col = scratch ? scratch + col_size * tid : nullptr;
    for (int i = i0; i < i1; ++i) {
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i) * in_channels + g * cg) * h * w;
        float* yg = y + (static_cast<size_t>(i) * out_channels + g * ocg) * ohw;
        const float* colp = xg;
        if (!pointwise) {
          im2col(col, xg, geom);
          colp = col;
        }
        sgemm(false, false, ocg, ohw, kdim, 1.f, wt + static_cast<size_t>(g) * ocg * kdim, kdim, colp,
              ohw, 0.f, yg, ohw);
      }
      if (b) {
        for (int oc = 0; oc < out_channels; ++oc) {
          float* plane = y + (static_cast<size_t>(i) * out_channels + oc) * ohw;
          const float bv = b[oc];
          for (int j = 0; j < ohw; ++j) plane[j] += bv;
        }
      }
    }
  });
}

void Conv2d::backward(Tensor* dinput, const Tensor& doutput, const Tensor& in, const Tensor& out,
                      Context& ctx) {
  check_input(in, in_shape_, "conv", name_);
  const int n = in.dim(0), h = in_shape_[1], w = in_shape_[2];
  const int oh = out_shape_[1], ow = out_shape_[2], ohw = oh * ow;
  check_doutput(doutput, n, out_shape_, "conv", name_);
  if (dinput) dinput->resize(in.shape());
  const float* x = in.data();
  const float* dy = doutput.data();
  const float* wt = weight.data();
  float* dx = dinput ? dinput->data() : nullptr;
  const bool par = n * macs() >= kParallelMin;

  // Bias gradient: one channel per iteration, images in order (thread-count independent).
  if (has_bias) {
    float* db = dbias.data();
    parallel_for(out_channels, par, [&](int oc) {
      float s = 0.f;
      for (int i = 0; i < n; ++i) s += plane_sum(dy + (static_cast<size_t>(i) * out_channels + oc) * ohw, ohw);
      db[oc] += s;
    });
  }

  if (depthwise()) {
    const int k = kernel, s = stride, p = pad, c = in_channels;
    float* dw = dweight.data();
    // One channel per iteration: its weight gradient sums images in order, so the result does
    // not depend on the thread count.
    parallel_for(c, par, [&](int ch) {
      const float* kw_ = wt + static_cast<size_t>(ch) * k * k;
      float* dkw = dw + static_cast<size_t>(ch) * k * k;
      for (int i = 0; i < n; ++i) {
        const float* src = x + (static_cast<size_t>(i) * c + ch) * h * w;
        const float* g = dy + (static_cast<size_t>(i) * c + ch) * ohw;
        float* dsrc = dx ? dx + (static_cast<size_t>(i) * c + ch) * h * w : nullptr;
        if (dsrc) std::memset(dsrc, 0, sizeof(float) * h * w);
        for (int ky = 0; ky < k; ++ky) {
          for (int kx = 0; kx < k; ++kx) {
            int lo, hi;
            valid_cols(w, ow, s, p, kx, lo, hi);
            const float wv = kw_[ky * k + kx];
            float acc = 0.f;
            for (int oy = 0; oy < oh; ++oy) {
              int iy = oy * s - p + ky;
              if (iy < 0 || iy >= h) continue;
              const float* gr = g + static_cast<size_t>(oy) * ow;
              const ptrdiff_t base = static_cast<ptrdiff_t>(iy) * w - p + kx;
#pragma omp simd reduction(+ : acc)
              for (int ox = lo; ox < hi; ++ox) acc += gr[ox] * src[base + static_cast<ptrdiff_t>(ox) * s];
              if (dsrc) {
                for (int ox = lo; ox < hi; ++ox) dsrc[base + static_cast<ptrdiff_t>(ox) * s] += wv * gr[ox];
              }
            }
            dkw[ky * k + kx] += acc;
          }
        }
      }
    });
    return;
  }

  const int cg = in_channels / groups, ocg = out_channels / groups;
  const int kdim = cg * kernel * kernel;
  const bool pointwise = kernel == 1 && stride == 1 && pad == 0;
  const Geom geom{cg, h, w, oh, ow, kernel, stride, pad};
  const size_t col_size = pointwise ? 0 : round_line(static_cast<size_t>(kdim) * ohw);
  const size_t wsize = weight.numel();
  const size_t slice = col_size + round_line(wsize);
  const int max_threads = omp_get_max_threads();
  Workspace* wsp = ctx.workspace ? ctx.workspace : &own_workspace_;
  float* scratch = wsp->get(slice * max_threads);
  float* dw = dweight.data();

  // Per-thread partial weight gradients, summed afterwards in thread order: fixed rounding
  // for a fixed thread count.
  int used_threads = 1;
  parallel_region(par, [&](int tid, int nt) {
    if (tid == 0) used_threads = nt;
    int i0, i1;
    thread_range(n, tid, nt, i0, i1);
    float* col = scratch + slice * tid;
    float* dwp = col + col_size;  // this thread's partial weight gradient
    std::memset(dwp, 0, sizeof(float) * wsize);
    for (int i = i0; i < i1; ++i) {
      for (int g = 0; g < groups; ++g) {
        const float* xg = x + (static_cast<size_t>(i) * in_channels + g * cg) * h * w;
        const float* dyg = dy + (static_cast<size_t>(i) * out_channels + g * ocg) * ohw;
        const float* wg = wt + static_cast<size_t>(g) * ocg * kdim;
        const float* colp = xg;
        if (!pointwise) {
          im2col(col, xg, geom);
          colp = col;
        }
        // dW_g += dY_g [ocg x ohw] * col^T [ohw x kdim]
        sgemm(false, true, ocg, kdim, ohw, 1.f, dyg, ohw, colp, ohw, 1.f,
              dwp + static_cast<size_t>(g) * ocg * kdim, kdim);
        if (dx) {
          float* dxg = dx + (static_cast<size_t>(i) * in_channels + g * cg) * h * w;
          if (pointwise) {
            // The column matrix is the input itself, so W^T * dY lands directly in dx.
            sgemm(true, false, kdim, ohw, ocg, 1.f, wg, kdim, dyg, ohw, 0.f, dxg, ohw);
          } else {
            // dcol = W_g^T [kdim x ocg] * dY_g [ocg x ohw], reusing the column buffer.
            sgemm(true, false, kdim, ohw, ocg, 1.f, wg, kdim, dyg, ohw, 0.f, col, ohw);
            std::memset(dxg, 0, sizeof(float) * cg * h * w);
            col2im(dxg, col, geom);
          }
        }
      }
    }
  });
  const int nt = used_threads;
  parallel_for(static_cast<int>(wsize), par, [&](int j) {
    float s = 0.f;
    for (int t = 0; t < nt; ++t) s += scratch[slice * t + col_size + j];
    dw[j] += s;
  });
}

}  // namespace trim
