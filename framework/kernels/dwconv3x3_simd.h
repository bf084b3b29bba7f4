// dwconv3x3_simd.h - the depthwise 3x3 algorithm shared by x86/dwconv_avx2.cpp,
// x86/dwconv_avx512.cpp and arm/dwconv_neon.cpp; each includes it after defining a vector
// traits struct V for its ISA (register type, lane count, masked load/store, fma, min/max), so
// one algorithm is compiled once per ISA with that file's own flags.
//
// NHWC, one tile of output rows and columns and one block of V::kLanes channels at a time: the
// nine taps and the bias stay in registers while the tile is swept. Rows falling into the zero padding read a
// small zero buffer with a column stride of 0, so the top and bottom rows take the same fast
// path as the middle ones; only the border columns (at most two per side) select a zero
// pointer per tap. Interior pixels go four at a time and share the input vectors neighbouring
// outputs read (stride 1: 6 columns feed 4 outputs; stride 2: 9 columns). The channel tail is a
// masked load / store, so any channel count and channel stride work.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {
namespace simd_detail {

// The output is cut into tiles of R rows x W columns. Each channel block sweeps a whole tile
// before the next block starts, so the input lines the tile reads ((R-1)*S+3 rows of (W-1)*S+3
// pixels, one cache line per pixel per block) come from L2 once and are then reused from L1 by
// the up to three output rows that need them. Sweeping the map row by row instead reads every
// input line from L2 three times: measured on the 14x14x512 and 28x28x256 layers that traffic,
// not the FMAs, was the limit. R and W are chosen per call to read the fewest lines per output
// within V::kTileLines and V::kTileRowsMax. NEON keeps whole rows, one at a time (R = 1): every
// tile costs a few dozen instructions of set-up per channel block, which on a 4-lane vector
// raised the executed instructions per MAC by 25-80% under qemu (bench/arm/insn_count.sh), and
// without a board to time on the cache side of the trade cannot be weighed.
template <int S>
inline void choose_tile(int rows, int ow, int tile_lines, int max_rows, int* r_out, int* w_out) {
  double best = 1e30;
  *r_out = 1;
  *w_out = std::min(ow, 4);
  for (int r = 1; r <= std::min(rows, max_rows); ++r) {
    const int rin = (r - 1) * S + 3;
    const int cin_max = tile_lines / rin;
    if (cin_max < 3 + 3 * S) break;  // not even 4 output columns fit
    int w = std::min(ow, (cin_max - 3) / S + 1);
    if (w < ow) w = std::max(4, w / 4 * 4);
    const double cost = static_cast<double>(rin) * ((w - 1) * S + 3) / (static_cast<double>(r) * w);
    if (cost < best - 1e-9) {
      best = cost;
      *r_out = r;
      *w_out = w;
    }
  }
}

constexpr int kMaxTileRows = 32;

template <class V, int S>
void dwconv3x3(const float* in, int ih, int iw, size_t in_cs, float* out, int ow, size_t out_cs, int oy0, int oy1,
               int channels, const float* w, const float* bias, int pad_top, int pad_left, float vmin, float vmax) {
  using R = typename V::reg;
  alignas(64) static const float zeros[16] = {0.f};
  const size_t wcs = round_up(static_cast<size_t>(channels), kWeightAlign);
  const R vlo = V::set1(vmin), vhi = V::set1(vmax);
  // Output columns whose three input columns all lie inside the image.
  const int ox_lo = std::min(ow, (pad_left + S - 1) / S);
  int ox_hi = iw - 3 + pad_left >= 0 ? (iw - 3 + pad_left) / S + 1 : 0;
  ox_hi = std::max(ox_lo, std::min(ow, ox_hi));
  const size_t row_stride = static_cast<size_t>(iw) * in_cs;
  int tile_rows, tile_cols;
  choose_tile<S>(oy1 - oy0, ow, V::kTileLines, std::min(V::kTileRowsMax, kMaxTileRows), &tile_rows, &tile_cols);

  for (int ty = oy0; ty < oy1; ty += tile_rows) {
    const int ty_end = std::min(oy1, ty + tile_rows);
    // Per output row of the tile and kernel row: where input column 0 starts, and the column
    // stride (0 for a row in the padding: every column then reads the zero buffer). Worked out
    // once per tile, not once per channel block.
    const float* row[kMaxTileRows][3];
    size_t cstr[kMaxTileRows][3];
    bool row_ok[kMaxTileRows][3];
    for (int oy = ty; oy < ty_end; ++oy)
      for (int ky = 0; ky < 3; ++ky) {
        const int iy = oy * S - pad_top + ky;
        const bool ok = iy >= 0 && iy < ih;
        row_ok[oy - ty][ky] = ok;
        row[oy - ty][ky] = ok ? in + static_cast<size_t>(iy) * row_stride : zeros;
        cstr[oy - ty][ky] = ok ? in_cs : 0;
      }
    for (int xs = 0; xs < ow; xs += tile_cols) {
      const int xe = std::min(ow, xs + tile_cols);
      const int lo = std::max(xs, std::min(xe, ox_lo)), hi = std::max(lo, std::min(xe, ox_hi));
      // One channel block over the whole tile; FULL (all V::kLanes channels real) compiles
      // without masks, which NEON has no cheap form of. Only the last block of an odd channel
      // count is not FULL. The taps and the bias stay in registers for the tile.
      auto block = [&](auto full, int c) {
        constexpr bool FULL = decltype(full)::value;
        const typename V::mask m = V::mask_for(channels - c);
        auto ld = [&](const float* p) {
          if constexpr (FULL) return V::load(p);
          else return V::load(p, m);
        };
        auto st = [&](float* p, R v) {
          if constexpr (FULL) V::store(p, v);
          else V::store(p, m, v);
        };
        R k[9];
        for (int t = 0; t < 9; ++t) k[t] = V::load(w + t * wcs + c);
        const R b = V::load(bias + c);
        for (int oy = ty; oy < ty_end; ++oy) {
          const float* r[3];
          for (int ky = 0; ky < 3; ++ky) r[ky] = row[oy - ty][ky] + (row_ok[oy - ty][ky] ? c : 0);
          const size_t* cs = cstr[oy - ty];
          float* orow = out + static_cast<size_t>(oy) * ow * out_cs + c;

          // One output pixel, any column: taps outside the image read zeros.
          auto pixel = [&](int ox) {
            const int ix0 = ox * S - pad_left;
            R acc = b;
            for (int ky = 0; ky < 3; ++ky)
              for (int kx = 0; kx < 3; ++kx) {
                const int ix = ix0 + kx;
                const float* p =
                    ix >= 0 && ix < iw ? r[ky] + static_cast<ptrdiff_t>(ix) * static_cast<ptrdiff_t>(cs[ky]) : zeros;
                acc = V::fmadd(ld(p), k[ky * 3 + kx], acc);
              }
            st(orow + static_cast<size_t>(ox) * out_cs, V::min(V::max(acc, vlo), vhi));
          };

          for (int ox = xs; ox < lo; ++ox) pixel(ox);
          int ox = lo;
          for (; ox + 4 <= hi; ox += 4) {
            const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
            R a0 = b, a1 = b, a2 = b, a3 = b;
            for (int ky = 0; ky < 3; ++ky) {
              const float* p = r[ky] + ix0 * cs[ky];
              const size_t stride = cs[ky];
              constexpr int NI = 3 * S + 3;  // input columns read by 4 outputs
              R v[NI];
              for (int j = 0; j < NI; ++j) v[j] = ld(p + j * stride);
              for (int kx = 0; kx < 3; ++kx) {
                const R kk = k[ky * 3 + kx];
                a0 = V::fmadd(v[0 * S + kx], kk, a0);
                a1 = V::fmadd(v[1 * S + kx], kk, a1);
                a2 = V::fmadd(v[2 * S + kx], kk, a2);
                a3 = V::fmadd(v[3 * S + kx], kk, a3);
              }
            }
            float* o = orow + static_cast<size_t>(ox) * out_cs;
            st(o, V::min(V::max(a0, vlo), vhi));
            st(o + out_cs, V::min(V::max(a1, vlo), vhi));
            st(o + 2 * out_cs, V::min(V::max(a2, vlo), vhi));
            st(o + 3 * out_cs, V::min(V::max(a3, vlo), vhi));
          }
          for (; ox < hi; ++ox) {
            const size_t ix0 = static_cast<size_t>(ox * S - pad_left);
            R acc = b;
            for (int ky = 0; ky < 3; ++ky) {
              const float* p = r[ky] + ix0 * cs[ky];
              for (int kx = 0; kx < 3; ++kx) acc = V::fmadd(ld(p + kx * cs[ky]), k[ky * 3 + kx], acc);
            }
            st(orow + static_cast<size_t>(ox) * out_cs, V::min(V::max(acc, vlo), vhi));
          }
          for (ox = hi; ox < xe; ++ox) pixel(ox);
        }
      };
      int c = 0;
      for (; c + V::kLanes <= channels; c += V::kLanes) block(std::true_type{}, c);
      if (c < channels) block(std::false_type{}, c);
    }
  }
}

}  // namespace simd_detail
}  // namespace kernels
}  // namespace trim
