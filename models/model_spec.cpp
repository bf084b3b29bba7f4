// model_spec.cpp - see model_spec.h.
#include "models/model_spec.h"

#include <cstdio>
#include <sstream>

#include "framework/model_file.h"
#include "framework/strings.h"
#include "framework/tensor.h"
#include "models/zoo.h"

namespace trim {

Model load_model_spec(const std::string& spec) {
  if (ends_with(spec, ".model")) return load_model(spec);
  Model m;
  if (spec == "sicknet") {
    m = build_sicknet(1, 28, 28, 10);
  } else if (spec.rfind("sicknet_", 0) == 0) {
    int c = 0, h = 0, w = 0;
    if (std::sscanf(spec.c_str() + 8, "%dx%dx%d", &c, &h, &w) != 3) throw Error("bad built-in model name '" + spec + "' (sicknet_<C>x<H>x<W>)");
    m = build_sicknet(c, h, w, 10);
  } else if (spec.rfind("mobilenet_v1_", 0) == 0) {
    MobileNetV1Options o;
    float alpha = 0;
    int res = 0;
    if (std::sscanf(spec.c_str() + 13, "%f_%d", &alpha, &res) != 2)
      throw Error("bad built-in model name '" + spec + "' (mobilenet_v1_<alpha>_<resolution>, e.g. mobilenet_v1_0.5_224)");
    o.alpha = alpha;
    o.resolution = res;
    o.small_input = res < 64;
    m = build_mobilenet_v1(o);
  } else if (spec.rfind("dwpw_", 0) == 0) {
    // For channel-count sweeps: C x R x R input, 4 x (depthwise 3x3 + pointwise C -> C, each
    // with BN + ReLU), global pool, linear 10.
    int c = 0, r = 0;
    if (std::sscanf(spec.c_str() + 5, "%d_%d", &c, &r) != 2 || c < 1 || r < 1)
      throw Error("bad built-in model name '" + spec + "' (dwpw_<channels>_<resolution>)");
    std::ostringstream d;
    d << "[input]\nchannels=" << c << "\nheight=" << r << "\nwidth=" << r << "\n";
    for (int b = 0; b < 4; ++b)
      d << "[conv]\nfilters=" << c << "\nsize=3\npad=1\ngroups=" << c << "\nbias=0\n[batchnorm]\n[relu]\n"
        << "[conv]\nfilters=" << c << "\nsize=1\nbias=0\n[batchnorm]\n[relu]\n";
    d << "[globalavgpool]\n[flatten]\n[linear]\nout=10\n";
    m = model_from_desc(d.str(), spec);
  } else {
    throw Error("'" + spec + "' is neither a .model file nor a built-in model (sicknet, sicknet_<C>x<H>x<W>, "
                "mobilenet_v1_<alpha>_<res>, dwpw_<C>_<res>)");
  }
  m.init_params(1);
  return m;
}

}  // namespace trim
