// conv2d.cpp - standard convolution (groups = 1, any kernel, stride, padding) on NHWC: the
// table's direct 3x3 kernel when it has one (AVX-512, NEON), else im2col into a small scratch block
// plus the table's GEMM micro-kernels. The 3x3 stem of MobileNet and every conv of SICK-Net. Chunking the im2col keeps the copied rows in cache
// while the GEMM consumes them, and makes the scratch size independent of the image size.
#include <algorithm>
#include <vector>

#include "framework/kernels/kernels.h"

namespace trim {
namespace kernels {

int conv2d_chunk_rows(const KernelTable& t, int kernel, int cin) {
  const size_t k = static_cast<size_t>(kernel) * kernel * cin;
  const int mr = std::max(1, t.gemm_mr);
  int rows = static_cast<int>((128u << 10) / (k * sizeof(float)));
  rows = std::min(256, rows) / mr * mr;
  return std::max(mr, rows);
}

size_t conv2d_scratch_size(const KernelTable& t, int kernel, int cin) {
  return static_cast<size_t>(conv2d_chunk_rows(t, kernel, cin)) * kernel * kernel * cin;
}

void conv2d_nhwc(const KernelTable& t, const float* in, int ih, int iw, size_t in_cs, int cin, float* out,
                 int ow, size_t out_cs, int cout, int kernel, int stride, int pad, int p0, int p1,
                 const float* packed_w, const float* bias, float vmin, float vmax, float* scratch) {
  if (kernel == 3 && t.conv3x3) {
    t.conv3x3(in, ih, iw, in_cs, cin, out, ow, out_cs, cout, stride, pad, p0, p1, packed_w, bias, vmin, vmax);
    return;
  }
  const int k = kernel * kernel * cin;
  const int chunk = conv2d_chunk_rows(t, kernel, cin);
  for (int q0 = p0; q0 < p1; q0 += chunk) {
    const int q1 = std::min(p1, q0 + chunk);
    f32_im2col_nhwc__ref(in, ih, iw, in_cs, cin, ow, kernel, stride, pad, q0, q1, scratch, static_cast<size_t>(k));
    t.gemm(q1 - q0, cout, k, scratch, static_cast<size_t>(k), packed_w, bias,
           out + static_cast<size_t>(q0 - p0) * out_cs, out_cs, vmin, vmax);
  }
}

void pack_conv2d(int cout, int cin, int kernel, const float* w, int nr, float* packed) {
  // [cout][cin][ky][kx] -> rows in im2col order (ky, kx, ci), then the GEMM panels.
  const int k = kernel * kernel * cin;
  std::vector<float> reordered(static_cast<size_t>(cout) * k);
  for (int co = 0; co < cout; ++co)
    for (int ci = 0; ci < cin; ++ci)
      for (int t = 0; t < kernel * kernel; ++t)
        reordered[static_cast<size_t>(co) * k + t * cin + ci] = w[(static_cast<size_t>(co) * cin + ci) * kernel * kernel + t];
  pack_gemm_b(cout, k, reordered.data(), static_cast<size_t>(k), nr, packed);
}

}  // namespace kernels
}  // namespace trim
