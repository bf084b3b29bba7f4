// kernels.h - trim's inference kernels: plain pointers and sizes, nothing about layers or models.
//
// Activations are NHWC: pixel p's channel c lives at base[p * cs + c], where the channel stride
// cs >= channels (the engine rounds it up so every pixel starts on a vector boundary). Sizes are
// in elements, never bytes. Every kernel writes only the `channels` real lanes of a pixel, so
// the padding lanes of a buffer are never touched.
//
// Training reaches the table too (the 3x3 convolution kernels below), so TRIM_ISA=ref runs
// training on the reference path as well.
//
// Each kernel has a scalar reference (ref/, XNNPACK-style names f32_<op>__ref) and vector
// versions per ISA (x86/: avx2, avx512; arm/: neon). The CPU path is chosen once, at start-up,
// into a KernelTable of function pointers (dispatch.cpp); TRIM_ISA=ref|avx2|avx512|neon forces
// one (an error if this CPU lacks it). Callers never pick an ISA themselves.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace trim {
namespace kernels {

// Packed weights and biases are zero-padded to a multiple of this many lanes (the widest
// vector, AVX-512), so a vector kernel may load a full vector of them at a channel tail.
constexpr size_t kWeightAlign = 16;
inline size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// --- signatures -------------------------------------------------------------------------------

// GEMM with fused bias and clamp (the pointwise 1x1 convolution, the im2col convolution, FC):
//   c[i*ldc + j] = min(max(bias[j] + sum_p a[i*lda + p] * B[p][j], vmin), vmax),  i < m, j < n.
// B was packed by pack_gemm_b with this table's gemm_nr; bias holds round_up(n, gemm_nr) floats
// (zero-padded). m, n, k may be any size >= 1.
using GemmFn = void (*)(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                        const float* bias, float* c, size_t ldc, float vmin, float vmax);

// Depthwise 3x3 convolution, NHWC, zero padding, output rows [oy0, oy1) of an (any) x ow output:
//   out(oy, ox, c) = clamp(bias[c] + sum_{ky,kx} in(oy*s - pad_top + ky, ox*s - pad_left + kx, c)
//                                                 * w[(ky*3 + kx) * wcs + c])
// with wcs = round_up(channels, kWeightAlign) (pack_dwconv3x3 writes that layout) and bias
// holding wcs floats. Pixels outside the ih x iw input count as zero. pad_top may be any value,
// negative too: the engine computes a band of rows into a buffer of its own by calling with
// oy0 = 0 and moving the band's first row into pad_top, and reads an input window that starts
// at a later row of the map the same way.
using DwConvFn = void (*)(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                          size_t out_cs, int oy0, int oy1, int channels, const float* w,
                          const float* bias, int pad_top, int pad_left, float vmin, float vmax);

// Global average pool: out[c] = mean over the pixels of in(p, c), c < channels.
using GlobalAvgPoolFn = void (*)(const float* in, int pixels, size_t in_cs, int channels, float* out);
// Max pooling, NHWC, any kernel / stride / padding: taps outside the image are left out (a window
// with no tap inside gives -inf), as f32_maxpool2d_nhwc__ref.
using MaxPoolFn = void (*)(const float* in, int ih, int iw, size_t in_cs, float* out, int oh, int ow, size_t out_cs,
                           int channels, int kernel, int stride, int pad);

// Fully connected layer at batch 1 (matrix-vector): out[j] = clamp(bias[j] + sum_p x[p] * B[p][j]),
// B packed by pack_gemm_b with gemm_nr (the same packing as the GEMM), j < n.
using FcFn = void (*)(int n, int k, const float* x, const float* packed_b, const float* bias,
                      float* out, float vmin, float vmax);

// Standard 3x3 convolution (groups = 1) straight from NHWC, output pixels [p0, p1) (row-major
// over an output of width ow; out points at pixel p0, so pixel p is at out + (p - p0) * out_cs),
// any stride and (symmetric) padding; weights from pack_conv2d
// with this table's gemm_nr, bias round_up(cout, gemm_nr) floats. Optional (AVX-512 and NEON
// have one): ISAs without it run conv2d_nhwc's im2col + GEMM.
using Conv3x3Fn = void (*)(const float* in, int ih, int iw, size_t in_cs, int cin, float* out, int ow, size_t out_cs,
                           int cout, int stride, int pad, int p0, int p1, const float* packed_w, const float* bias,
                           float vmin, float vmax);

// Training's 3x3, stride-1, padding-1 convolution on NCHW planes (the layer's forward pass and
// input gradient), and its weight gradient: the operations, layouts and packing are described
// in framework/layers/conv3x3_implicit.h, the tile sizes in train_conv3x3.h. Optional: where a
// table has none (ref, avx2, neon), training runs im2col + sgemm.
using TrainConv3x3Fn = void (*)(float* out, size_t out_stride, const float* in, size_t in_stride, const float* packed,
                                int m, int c, int h, int w, int i0, int i1, float* panel);
using TrainConv3x3DweightFn = void (*)(float* dwt, const float* dy, size_t dy_stride, const float* x, size_t x_stride,
                                       int m, int c, int h, int w, int i0, int i1, float* scratch);

struct KernelTable {
  const char* isa = "";      // "ref", "avx2", "avx512", "neon"
  int gemm_mr = 1;           // rows (pixels) per micro-tile
  int gemm_nr = 1;           // columns (output channels) per packed panel
  int channel_align = 1;     // the activation channel stride the engine should round up to
  GemmFn gemm = nullptr;
  DwConvFn dwconv3x3_s1 = nullptr;
  DwConvFn dwconv3x3_s2 = nullptr;
  GlobalAvgPoolFn global_avgpool = nullptr;
  MaxPoolFn maxpool2d = nullptr;
  FcFn fc = nullptr;
  Conv3x3Fn conv3x3 = nullptr;  // optional (see Conv3x3Fn)
  // Training (optional, see TrainConv3x3Fn): m a multiple of kTrainConv3x3Rows; the weight
  // gradient also needs m a multiple of kTrainConv3x3Lanes and c of kTrainConv3x3Rows.
  TrainConv3x3Fn train_conv3x3 = nullptr;
  TrainConv3x3DweightFn train_conv3x3_dweight = nullptr;
};

// Channel stride of an NHWC activation buffer for table t: whole vectors per pixel, and never a
// multiple of 512 floats (2 KB): the GEMM reads up to 12 pixels (rows of A) at once and
// depthwise 3 input rows, and at a 2 or 4 KB stride they all fall into the same L1 sets and
// evict each other (1024 channels: 10 of 12 ways taken by one block of rows). The engine lays
// its buffers out with it; benchmarks use it to time the kernels on the same layout.
inline size_t activation_channel_stride(int channels, const KernelTable& t) {
  size_t cs = round_up(static_cast<size_t>(channels), static_cast<size_t>(t.channel_align));
  if (cs >= 512 && cs % 512 == 0) cs += t.channel_align > 16 ? static_cast<size_t>(t.channel_align) : 16;
  return cs;
}

// The table chosen once for this process: TRIM_ISA if set (throws trim::Error if the CPU or
// the build lacks it, or the name is unknown), else the best the CPU supports.
const KernelTable& kernels();
// What kernels() does with a TRIM_ISA value (nullptr or "": the best available); throws Error.
const KernelTable& kernels_from_env(const char* value);
// A given ISA's table, or nullptr if this build or CPU cannot run it (tests loop over these).
const KernelTable* kernels_for(const std::string& isa);
// ISAs this build and CPU can run, best last ("ref" always first).
std::vector<std::string> available_isas();
// Every ISA name trim knows.
const std::vector<std::string>& known_isas();

// --- packing (once, at load time; ISA independent apart from nr) ------------------------------

// Packed size in floats of a GEMM B operand of k x n with panels of nr columns.
size_t packed_gemm_b_size(int n, int k, int nr);
// w is output-major, w[j*ldw + p] = B[p][j] (conv and linear weights are [out][in]). Writes
// panels of nr columns, each k x nr row-major, zero-padded to round_up(n, nr) columns.
void pack_gemm_b(int n, int k, const float* w, size_t ldw, int nr, float* packed);

// Depthwise 3x3 weights [channels][3][3] -> tap-major [9][round_up(channels, kWeightAlign)].
size_t packed_dwconv3x3_size(int channels);
void pack_dwconv3x3(int channels, const float* w, float* packed);

// --- standard convolution: the table's conv3x3, else im2col + its GEMM (conv2d.cpp) ------------

// groups = 1, any kernel, stride and (symmetric) padding, NHWC. Computes output pixels [p0, p1)
// (row-major over the output, whose width is ow) of all cout channels into out, which points at
// pixel p0 (pixel p at out + (p - p0) * out_cs: a caller's buffer may hold just those pixels). packed_w comes from
// pack_conv2d with t.gemm_nr; bias holds round_up(cout, t.gemm_nr) floats; scratch holds
// conv2d_scratch_size floats (one per thread).
void conv2d_nhwc(const KernelTable& t, const float* in, int ih, int iw, size_t in_cs, int cin, float* out,
                 int ow, size_t out_cs, int cout, int kernel, int stride, int pad, int p0, int p1,
                 const float* packed_w, const float* bias, float vmin, float vmax, float* scratch);
size_t conv2d_scratch_size(const KernelTable& t, int kernel, int cin);
int conv2d_chunk_rows(const KernelTable& t, int kernel, int cin);
// Training layout [cout][cin][k][k] -> GEMM panels in im2col order; size packed_gemm_b_size(cout, k*k*cin, nr).
void pack_conv2d(int cout, int cin, int kernel, const float* w, int nr, float* packed);

// --- reference kernels (scalar, obviously right) ---------------------------------------------

void f32_gemm__ref(int m, int n, int k, const float* a, size_t lda, const float* packed_b,
                   const float* bias, float* c, size_t ldc, float vmin, float vmax);
void f32_dwconv3x3_s1__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                           size_t out_cs, int oy0, int oy1, int channels, const float* w,
                           const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_dwconv3x3_s2__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int ow,
                           size_t out_cs, int oy0, int oy1, int channels, const float* w,
                           const float* bias, int pad_top, int pad_left, float vmin, float vmax);
void f32_global_avgpool__ref(const float* in, int pixels, size_t in_cs, int channels, float* out);
void f32_fc__ref(int n, int k, const float* x, const float* packed_b, const float* bias, float* out,
                 float vmin, float vmax);

// Reference-only operators: rare in the models trim ships, or pure data movement.

// General grouped convolution, NHWC, any kernel, stride, padding, groups (the fallback for what
// the fast paths do not cover). w is the training layout [cout][cin/groups][k][k]; bias[cout].
void f32_conv2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, int cin, float* out,
                          int oh, int ow, size_t out_cs, int cout, int kernel, int stride, int pad,
                          int groups, const float* w, const float* bias, float vmin, float vmax);
// Copies the receptive fields of output pixels [p0, p1) (row-major over an oh x ow output) into
// rows of col (row stride ldcol >= kernel*kernel*cin), ordered (ky, kx, c); zeros outside.
void f32_im2col_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, int cin, int ow,
                          int kernel, int stride, int pad, int p0, int p1, float* col, size_t ldcol);
// Max / average pooling, NHWC. Average excludes padding from the divisor (as training does).
void f32_maxpool2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int oh,
                             int ow, size_t out_cs, int channels, int kernel, int stride, int pad);
void f32_avgpool2d_nhwc__ref(const float* in, int ih, int iw, size_t in_cs, float* out, int oh,
                             int ow, size_t out_cs, int channels, int kernel, int stride, int pad);
// Per-channel y = clamp(x * scale[c] + shift[c]) (an unfused batch norm and/or activation).
void f32_affine_nhwc__ref(const float* in, int pixels, size_t in_cs, float* out, size_t out_cs,
                          int channels, const float* scale, const float* shift, float vmin, float vmax);
// Layout conversions at the engine boundary.
void f32_nchw_to_nhwc__ref(const float* in, int channels, int pixels, float* out, size_t out_cs);
void f32_nhwc_to_nchw__ref(const float* in, int channels, int pixels, size_t in_cs, float* out);

}  // namespace kernels
}  // namespace trim
