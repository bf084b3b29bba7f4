// fuzz_weights_model.h - the model whose weight files fuzz_weights reads (and make_seeds writes):
// small, so the fuzzer spends its time in the reader, with conv (with and without bias),
// batchnorm (parameters and running-statistics buffers) and linear tensors of ranks 1, 2 and 4.
#pragma once

namespace trim {
namespace fuzz {

constexpr const char* kWeightsModel = R"([input]
channels=2
height=5
width=5
[conv]
name=c1
filters=3
size=3
bias=0
[batchnorm]
name=bn
[relu]
[conv]
name=c2
filters=2
size=1
[flatten]
[linear]
name=fc
out=2
)";

}  // namespace fuzz
}  // namespace trim
