// train_conv3x3.h - the tile sizes of training's 3x3 convolution kernels (KernelTable::
// train_conv3x3, train_conv3x3_dweight), shared by the kernels and by the layer code that packs
// their weights and sizes their scratch (framework/layers/conv3x3_implicit.cpp).
#pragma once

#include <algorithm>

namespace trim {
namespace kernels {

constexpr int kTrainConv3x3Rows = 8;       // output rows (filters) per register tile
constexpr int kTrainConv3x3Lanes = 32;     // output pixels per panel; filters per dweight tile
constexpr int kTrainConv3x3Channels = 16;  // input channels per panel slice (144 x 32 floats, in L1)

// Images per pass of the weight-gradient kernel: small maps are grouped (about 256 pixels), so
// that a tile's sums are loaded and stored once per group, not per 49-pixel image.
inline int train_conv3x3_dweight_group(int h, int w) { return std::max(1, 256 / (h * w)); }

}  // namespace kernels
}  // namespace trim
