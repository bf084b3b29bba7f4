// lower.cpp - lowering (see lower.h).
#include "framework/engine/lower.h"

#include <algorithm>
#include <cmath>

#include "framework/layers/activation.h"
#include "framework/layers/batchnorm2d.h"
#include "framework/layers/conv2d.h"
#include "framework/layers/dropout.h"
#include "framework/layers/linear.h"
#include "framework/layers/pool2d.h"

namespace trim {
namespace engine_detail {

std::vector<Step> lower(const Model& m) {
  std::vector<Step> steps;
  int c = m.input[0], h = m.input[1], w = m.input[2];
  int value = 0;  // the value the next layer reads
  for (const auto& lp : m.layers) {
    const Layer& l = *lp;
    Step s;
    s.name = l.name();
    s.inputs = {value};
    s.cin = c, s.ih = h, s.iw = w;
    const Shape& o = l.out_shape();
    s.cout = o[0], s.oh = o[1], s.ow = o[2];
    s.macs = l.macs();
    if (auto* cv = dynamic_cast<const Conv2d*>(&l)) {
      s.kernel = cv->kernel, s.stride = cv->stride, s.pad = cv->pad, s.groups = cv->groups;
      s.w.assign(cv->weight.begin(), cv->weight.end());
      s.b.assign(static_cast<size_t>(s.cout), 0.f);
      if (cv->has_bias) std::copy(cv->bias.begin(), cv->bias.end(), s.b.begin());
      if (cv->groups == 1)
        s.op = cv->kernel == 1 && cv->stride == 1 && cv->pad == 0 ? Op::Pointwise : Op::Conv;
      else if (cv->depthwise() && cv->kernel == 3 && (cv->stride == 1 || cv->stride == 2))
        s.op = Op::DwConv;
      else
        s.op = Op::GroupConv;
    } else if (auto* lin = dynamic_cast<const Linear*>(&l)) {
      s.op = Op::Fc;
      s.w.assign(lin->weight.begin(), lin->weight.end());
      s.b.assign(static_cast<size_t>(s.cout), 0.f);
      if (lin->has_bias) std::copy(lin->bias.begin(), lin->bias.end(), s.b.begin());
    } else if (auto* bn = dynamic_cast<const BatchNorm2d*>(&l)) {
      s.op = Op::Affine;  // a batch norm with nothing to fold into
      s.w.resize(static_cast<size_t>(c));
      s.b.resize(static_cast<size_t>(c));
      for (int ch = 0; ch < c; ++ch) {
        const double sc = bn->gamma[ch] / std::sqrt(static_cast<double>(bn->running_var[ch]) + bn->eps);
        s.w[ch] = static_cast<float>(sc);
        s.b[ch] = static_cast<float>(bn->beta[ch] - bn->running_mean[ch] * sc);
      }
    } else if (dynamic_cast<const ReLU*>(&l)) {
      s.op = Op::Clamp, s.vmin = 0.f;
    } else if (dynamic_cast<const ReLU6*>(&l)) {
      s.op = Op::Clamp, s.vmin = 0.f, s.vmax = 6.f;
    } else if (auto* mp = dynamic_cast<const MaxPool2d*>(&l)) {
      s.op = Op::MaxPool, s.kernel = mp->kernel, s.stride = mp->stride, s.pad = mp->pad;
    } else if (auto* ap = dynamic_cast<const AvgPool2d*>(&l)) {
      s.op = Op::AvgPool, s.kernel = ap->kernel, s.stride = ap->stride, s.pad = ap->pad;
    } else if (dynamic_cast<const GlobalAvgPool*>(&l)) {
      s.op = Op::GlobalAvgPool;
    } else if (dynamic_cast<const Flatten*>(&l)) {
      if (h == 1 && w == 1) {  // already a vector: nothing to move
        c = o[0], h = o[1], w = o[2];
        continue;
      }
      s.op = Op::Flatten;
    } else if (dynamic_cast<const Dropout*>(&l)) {
      continue;  // identity at inference (drop_dropout removed it already)
    } else {
      throw Error("inference engine: layer '" + l.name() + "' of type '" + l.type() + "' has no inference step");
    }
    s.output = value = static_cast<int>(steps.size()) + 1;
    steps.push_back(std::move(s));
    c = o[0], h = o[1], w = o[2];
  }
  return steps;
}

}  // namespace engine_detail
}  // namespace trim
