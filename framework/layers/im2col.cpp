// im2col.cpp - column matrix and its adjoint.
//
// The rows of a 3x3 convolution's column matrix are short (7 floats on a 7x7 map), so copying
// them one memcpy call per output row spends more time in the calls than in the copies. When
// the stride is 1 and the output is as wide as the input ("same" padding), the valid rows of one
// (channel, ky, kx) entry are a single contiguous stretch of the input: one copy, then the
// few columns that fell outside the image are zeroed.
#include "framework/layers/im2col.h"

#include <algorithm>
#include <cstring>

namespace trim {

void valid_cols(int w, int ow, int s, int p, int kx, int& lo, int& hi) {
  int first = p - kx;  // need ox*s >= first
  lo = first <= 0 ? 0 : (first + s - 1) / s;
  int last = w - 1 + p - kx;  // need ox*s <= last
  hi = last < 0 ? 0 : std::min(ow, last / s + 1);
  lo = std::min(lo, hi);
}

namespace {

// Range [lo, hi) of output rows whose input row oy*s - p + ky lies inside [0, h).
void valid_rows(const ConvGeom& g, int ky, int& lo, int& hi) { valid_cols(g.h, g.oh, g.s, g.p, ky, lo, hi); }

}  // namespace

void im2col(float* col, size_t ldcol, const float* x, const ConvGeom& g) {
  const bool contiguous = g.s == 1 && g.ow == g.w;
  for (int ci = 0; ci < g.c; ++ci) {
    const float* plane = x + static_cast<size_t>(ci) * g.h * g.w;
    for (int ky = 0; ky < g.k; ++ky) {
      int ylo, yhi;
      valid_rows(g, ky, ylo, yhi);
      for (int kx = 0; kx < g.k; ++kx) {
        float* row = col + (static_cast<size_t>(ci * g.k + ky) * g.k + kx) * ldcol;
        int lo, hi;
        valid_cols(g.w, g.ow, g.s, g.p, kx, lo, hi);
        // Output rows above and below the image are zero.
        if (ylo > 0) std::memset(row, 0, sizeof(float) * ylo * g.ow);
        if (yhi < g.oh) std::memset(row + static_cast<size_t>(yhi) * g.ow, 0, sizeof(float) * (g.oh - yhi) * g.ow);
        if (yhi <= ylo) continue;
        if (hi <= lo) {
          std::memset(row + static_cast<size_t>(ylo) * g.ow, 0, sizeof(float) * (yhi - ylo) * g.ow);
          continue;
        }
        if (contiguous) {
          // Output (oy, ox) reads input (oy - p + ky, ox - p + kx): with ow == w that is one
          // fixed offset for the whole stretch from (ylo, lo) to (yhi - 1, hi - 1). Entries
          // between hi of one row and lo of the next wrapped around a row edge: zeroed below.
          const size_t first = static_cast<size_t>(ylo) * g.ow + lo;
          const size_t last = static_cast<size_t>(yhi - 1) * g.ow + hi;  // one past
          const size_t src = static_cast<size_t>(ylo - g.p + ky) * g.w + (lo - g.p + kx);
          std::memcpy(row + first, plane + src, sizeof(float) * (last - first));
        } else {
          for (int oy = ylo; oy < yhi; ++oy) {
            float* r = row + static_cast<size_t>(oy) * g.ow + lo;
            // lo*s - p + kx >= 0 by the choice of lo: the pointer stays inside the plane.
            const float* in = plane + static_cast<size_t>(oy * g.s - g.p + ky) * g.w + (lo * g.s - g.p + kx);
            if (g.s == 1) {
              for (int j = 0; j < hi - lo; ++j) r[j] = in[j];
            } else {
              for (int j = 0; j < hi - lo; ++j) r[j] = in[static_cast<size_t>(j) * g.s];
            }
          }
        }
        // Columns left and right of the image, a column at a time: they are a float or two
        // wide, and a zeroing loop along a row would be turned into a memset call per row.
        for (int ox = 0; ox < lo; ++ox)
          for (int oy = ylo; oy < yhi; ++oy) row[static_cast<size_t>(oy) * g.ow + ox] = 0.f;
        for (int ox = hi; ox < g.ow; ++ox)
          for (int oy = ylo; oy < yhi; ++oy) row[static_cast<size_t>(oy) * g.ow + ox] = 0.f;
      }
    }
  }
}

void col2im(float* dx, const float* col, size_t ldcol, const ConvGeom& g) {
  for (int ci = 0; ci < g.c; ++ci) {
    float* plane = dx + static_cast<size_t>(ci) * g.h * g.w;
    for (int ky = 0; ky < g.k; ++ky) {
      int ylo, yhi;
      valid_rows(g, ky, ylo, yhi);
      for (int kx = 0; kx < g.k; ++kx) {
        const float* row = col + (static_cast<size_t>(ci * g.k + ky) * g.k + kx) * ldcol;
        int lo, hi;
        valid_cols(g.w, g.ow, g.s, g.p, kx, lo, hi);
        for (int oy = ylo; oy < yhi; ++oy) {
          const float* r = row + static_cast<size_t>(oy) * g.ow;
          float* out = plane + static_cast<size_t>(oy * g.s - g.p + ky) * g.w + (lo * g.s - g.p + kx);
          if (g.s == 1) {
            for (int j = 0; j < hi - lo; ++j) out[j] += r[lo + j];
          } else {
            for (int j = 0; j < hi - lo; ++j) out[static_cast<size_t>(j) * g.s] += r[lo + j];
          }
        }
      }
    }
  }
}

}  // namespace trim
