// Graph models: `from=` inputs, [add] and [concat], topological order, errors naming file, line
// and key, round trips, gradients (finite differences) of add, concat and whole residual blocks.
#include <gtest/gtest.h>

#include <dirent.h>

#include <functional>

#include "framework/layers/add.h"
#include "framework/layers/concat.h"
#include "framework/model_file.h"
#include "gradient_check.h"

namespace trim {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A basic residual block on a stem; with `projection` the block halves the map and the shortcut
// is a strided 1x1 conv + BN, as in ResNet.
std::string residual_desc(bool projection) {
  std::string s = R"([input]
channels=2
height=6
width=6

[conv]
name=stem
filters=4
size=3
pad=1
bias=0
[batchnorm]
name=stem_bn
[relu]
name=stem_relu

[conv]
name=c1
filters=)" + std::string(projection ? "6" : "4") + R"(
size=3
pad=1
stride=)" + std::string(projection ? "2" : "1") + R"(
bias=0
[batchnorm]
name=c1_bn
[relu]
name=c1_relu
[conv]
name=c2
filters=)" + std::string(projection ? "6" : "4") + R"(
size=3
pad=1
bias=0
[batchnorm]
name=c2_bn
)";
  if (projection)
    s += R"([conv]
name=proj
from=stem_relu
filters=6
size=1
stride=2
bias=0
[batchnorm]
name=proj_bn
[add]
name=res
from=c2_bn,proj_bn
)";
  else
    s += "[add]\nname=res\nfrom=c2_bn, stem_relu\n";
  s += R"([relu]
name=res_relu
[globalavgpool]
name=gap
[flatten]
name=flat
[linear]
name=fc
out=3
)";
  return s;
}

Tensor random_input(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Tensor t(s);
  gradcheck::fill_uniform(t, rng);
  return t;
}

void randomize(Model& m, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (auto& p : m.params())
    if (p.grad) gradcheck::fill_uniform(*p.value, rng, -0.8f, 0.8f);
}

TEST(GraphModel, ResolvesInputsAndConsumers) {
  Model m = model_from_desc(residual_desc(false), "res.model");
  EXPECT_FALSE(m.is_chain());
  const int res = m.index_of("res"), c2bn = m.index_of("c2_bn"), stem_relu = m.index_of("stem_relu");
  ASSERT_GE(res, 0);
  EXPECT_EQ(m.inputs_of(static_cast<size_t>(res)), (std::vector<int>{c2bn, stem_relu}));
  EXPECT_EQ(m.consumers_of(static_cast<size_t>(stem_relu)), (std::vector<int>{m.index_of("c1"), res}));
  EXPECT_EQ(m.inputs_of(0), std::vector<int>{-1});
  // A chain stays a chain.
  Model chain = model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nfilters=2\nsize=3\n[flatten]\n"
                                "[linear]\nout=2\n",
                                "chain.model");
  EXPECT_TRUE(chain.is_chain());
}

TEST(GraphModel, OrdersLayersTopologicallyAndRoundTrips) {
  // fc and gap come before the concat they read in the file; b comes after it and reads the input.
  const std::string text = R"([input]
channels=2
height=5
width=5
[conv]
name=a
filters=3
size=3
pad=1
[globalavgpool]
name=gap
from=cat
[flatten]
name=flat
[linear]
name=fc
out=4
[concat]
name=cat
from=a,b
[conv]
name=b
from=input
filters=2
size=1
)";
  Model m = model_from_desc(text, "order.model");
  std::vector<std::string> names;
  for (auto& l : m.layers) names.push_back(l->name());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "cat", "gap", "flat", "fc"}));
  EXPECT_EQ(m.layers[static_cast<size_t>(m.index_of("cat"))]->out_shape(), (Shape{5, 5, 5}));
  const std::string saved = model_to_desc(m);
  EXPECT_TRUE(has(saved, "from=a,b")) << saved;
  EXPECT_TRUE(has(saved, "from=input")) << saved;
  Model again = model_from_desc(saved, "saved.model");
  EXPECT_EQ(model_to_desc(again), saved);
  // Same weights, same outputs.
  randomize(m, 3);
  auto src = m.params(), dst = again.params();
  ASSERT_EQ(src.size(), dst.size());
  for (size_t i = 0; i < src.size(); ++i) *dst[i].value = *src[i].value;
  Tensor x = random_input(Shape{2, 2, 5, 5}, 4);
  Workspace ws;
  Context ctx;
  ctx.workspace = &ws;
  Tensor y1 = m.forward(x, ctx);
  const Tensor& y2 = again.forward(x, ctx);
  for (size_t i = 0; i < y1.numel(); ++i) EXPECT_EQ(y1[i], y2[i]);
  // clone() keeps the graph.
  Model c = m.clone();
  EXPECT_EQ(model_to_desc(c), saved);
}

TEST(GraphModel, ShippedModelsLoadUnchangedAndSaveWithoutFrom) {
  const std::string root = TRIM_SOURCE_DIR;
  int files = 0;
  for (const std::string dir : {"/models", "/models/pretrained", "/models/pruned", "/fuzz/corpus/model_desc"}) {
    DIR* d = opendir((root + dir).c_str());
    ASSERT_NE(d, nullptr) << dir;
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name[0] == '.') continue;
      const bool model = name.size() > 6 && name.compare(name.size() - 6, 6, ".model") == 0;
      if (!model && dir != "/fuzz/corpus/model_desc") continue;
      const std::string path = root + dir + "/" + name;
      const std::string text = read_file(path);
      Model m;
      try {
        m = model_from_desc(text, path);
      } catch (const Error&) {
        continue;  // the fuzz corpus holds bad files on purpose
      }
      ++files;
      EXPECT_TRUE(m.is_chain()) << path;
      const std::string saved = model_to_desc(m);
      EXPECT_FALSE(has(saved, "from=")) << path;
      EXPECT_EQ(model_to_desc(model_from_desc(saved, path)), saved) << path;
    }
    closedir(d);
  }
  EXPECT_GE(files, 6);
}

TEST(GraphModel, ErrorsNameFileLineAndKey) {
  const std::string head = "[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nname=a\nfilters=2\nsize=1\n";  // lines 1-8
  // Unknown input.
  std::string e = error_of([&] {
    model_from_desc(head + "[conv]\nname=b\nfilters=2\nsize=1\n[add]\nname=s\nfrom=a,nope\n[flatten]\n[linear]\nout=2\n",
                    "g.model");
  });
  EXPECT_TRUE(has(e, "g.model:15")) << e;
  EXPECT_TRUE(has(e, "'from'")) << e;
  EXPECT_TRUE(has(e, "'nope'")) << e;
  // A cycle.
  e = error_of([&] {
    model_from_desc(head + "[conv]\nname=b\nfrom=c\nfilters=2\nsize=1\n[conv]\nname=c\nfrom=b\nfilters=2\nsize=1\n"
                           "[add]\nfrom=a,c\n[flatten]\n[linear]\nout=2\n",
                    "g.model");
  });
  EXPECT_TRUE(has(e, "g.model:11")) << e;
  EXPECT_TRUE(has(e, "cycle")) << e;
  EXPECT_TRUE(has(e, "'from'")) << e;
  // Shapes that do not add up.
  e = error_of([&] {
    model_from_desc(head + "[conv]\nname=b\nfilters=3\nsize=1\n[add]\nname=s\nfrom=a,b\n[flatten]\n[linear]\nout=2\n",
                    "g.model");
  });
  EXPECT_TRUE(has(e, "g.model:15")) << e;
  EXPECT_TRUE(has(e, "same shape")) << e;
  EXPECT_TRUE(has(e, "'b'")) << e;
  // Concat: heights differ.
  e = error_of([&] {
    model_from_desc(head + "[maxpool]\nname=p\nsize=2\n[concat]\nfrom=a,p\n[flatten]\n[linear]\nout=2\n", "g.model");
  });
  EXPECT_TRUE(has(e, "g.model:13")) << e;
  EXPECT_TRUE(has(e, "height and width")) << e;
  // An add without named inputs.
  e = error_of([&] { model_from_desc(head + "[add]\nname=s\n[flatten]\n[linear]\nout=2\n", "g.model"); });
  EXPECT_TRUE(has(e, "g.model:9")) << e;
  EXPECT_TRUE(has(e, "from=a,b")) << e;
  // A plain layer given two inputs.
  e = error_of([&] { model_from_desc(head + "[relu]\nfrom=a,a\n[flatten]\n[linear]\nout=2\n", "g.model"); });
  EXPECT_TRUE(has(e, "g.model:10")) << e;
  EXPECT_TRUE(has(e, "takes 1 input")) << e;
  // An output nobody reads.
  e = error_of([&] {
    model_from_desc(head + "[conv]\nname=dead\nfilters=2\nsize=1\n[flatten]\nfrom=a\n[linear]\nout=2\n", "g.model");
  });
  EXPECT_TRUE(has(e, "g.model:9")) << e;
  EXPECT_TRUE(has(e, "'dead'")) << e;
  // An empty name in the list.
  e = error_of([&] { model_from_desc(head + "[add]\nfrom=a,,a\n[flatten]\n[linear]\nout=2\n", "g.model"); });
  EXPECT_TRUE(has(e, "g.model:10")) << e;
}

TEST(AddLayer, SumsInputsAndGradientCheck) {
  Add add;
  add.set_name("sum");
  const Shape s{3, 2, 5};
  EXPECT_EQ(add.setup_inputs({s, s, s}), s);
  std::vector<Tensor> x = {random_input(Shape{2, 3, 2, 5}, 1), random_input(Shape{2, 3, 2, 5}, 2),
                           random_input(Shape{2, 3, 2, 5}, 3)};
  Workspace ws;
  Context ctx;
  ctx.workspace = &ws;
  Tensor y;
  add.forward_inputs(y, {&x[0], &x[1], &x[2]}, ctx);
  for (size_t i = 0; i < y.numel(); ++i) EXPECT_FLOAT_EQ(y[i], x[0][i] + x[1][i] + x[2][i]);
  gradcheck::Config cfg;
  EXPECT_TRUE(gradcheck::check_layer_inputs(add, x, cfg, "three inputs [2, 3, 2, 5]"));
  Add two;
  EXPECT_EQ(two.setup_inputs({Shape{1, 1, 1}, Shape{1, 1, 1}}), (Shape{1, 1, 1}));
  EXPECT_TRUE(gradcheck::check_layer_inputs(two, {random_input(Shape{3, 1, 1, 1}, 5), random_input(Shape{3, 1, 1, 1}, 6)},
                                            cfg, "two inputs, 1x1"));
  EXPECT_THROW(two.setup_inputs({Shape{1, 1, 1}}), Error);
}

TEST(ConcatLayer, JoinsChannelsAndGradientCheck) {
  Concat cat;
  cat.set_name("cat");
  EXPECT_EQ(cat.setup_inputs({Shape{2, 3, 3}, Shape{1, 3, 3}, Shape{3, 3, 3}}), (Shape{6, 3, 3}));
  std::vector<Tensor> x = {random_input(Shape{2, 2, 3, 3}, 1), random_input(Shape{2, 1, 3, 3}, 2),
                           random_input(Shape{2, 3, 3, 3}, 3)};
  Workspace ws;
  Context ctx;
  ctx.workspace = &ws;
  Tensor y;
  cat.forward_inputs(y, {&x[0], &x[1], &x[2]}, ctx);
  ASSERT_EQ(y.shape(), (Shape{2, 6, 3, 3}));
  // Sample 1, channel 2 is input 1's channel 0; channel 5 is input 2's channel 2.
  for (int p = 0; p < 9; ++p) {
    EXPECT_EQ(y[(1 * 6 + 2) * 9 + p], x[1][(1 * 1 + 0) * 9 + p]);
    EXPECT_EQ(y[(1 * 6 + 5) * 9 + p], x[2][(1 * 3 + 2) * 9 + p]);
  }
  gradcheck::Config cfg;
  EXPECT_TRUE(gradcheck::check_layer_inputs(cat, x, cfg, "three inputs"));
}

gradcheck::Config model_cfg() {
  gradcheck::Config cfg;
  cfg.mode = Mode::Train;
  // BN in train mode and ReLU kinks: a small step, and the absolute tolerance of the BN checks.
  cfg.eps = 1e-3;
  cfg.abs_tol = 2e-3;
  cfg.max_checks = 12;
  return cfg;
}

TEST(GraphModel, ResidualBlockGradientCheck) {
  for (bool projection : {false, true}) {
    for (bool fuse : {true, false}) {
      Model m = model_from_desc(residual_desc(projection), "res.model");
      m.fuse_bn_relu = fuse;
      randomize(m, 7);
      Tensor x = random_input(Shape{3, 2, 6, 6}, 8);
      // stem's gradient comes through both the block and the shortcut: backward must add them.
      EXPECT_TRUE(gradcheck::check_model(m, x, model_cfg(),
                                         std::string(projection ? "projection" : "identity") + " shortcut" +
                                             (fuse ? ", BN+ReLU fused" : "")));
    }
  }
}

TEST(GraphModel, ConcatAndSharedInputGradientCheck) {
  // One tensor read three times (twice by the same add) and a concat of branches.
  const std::string text = R"([input]
channels=2
height=4
width=4
[conv]
name=stem
filters=3
size=3
pad=1
[conv]
name=b1
filters=2
size=1
[conv]
name=b2
from=stem
filters=3
size=3
pad=1
[add]
name=twice
from=stem,b2,stem
[concat]
name=cat
from=b1,twice
[globalavgpool]
[flatten]
[linear]
out=3
)";
  Model m = model_from_desc(text, "cat.model");
  randomize(m, 9);
  Tensor x = random_input(Shape{2, 2, 4, 4}, 10);
  gradcheck::Config cfg;
  cfg.mode = Mode::Train;
  EXPECT_TRUE(gradcheck::check_model(m, x, cfg, "concat and a tensor read three times"));
}

TEST(GraphModel, TrainingStepAllocatesNothingAfterTheFirst) {
  Model m = model_from_desc(residual_desc(true), "res.model");
  m.init_params(1);
  Tensor x = random_input(Shape{4, 2, 6, 6}, 11), dy = random_input(Shape{4, 3, 1, 1}, 12);
  Workspace ws;
  Context ctx;
  ctx.mode = Mode::Train;
  ctx.workspace = &ws;
  m.forward(x, ctx);
  m.backward(dy, ctx);
  const size_t before = tensor_allocations();
  for (int i = 0; i < 3; ++i) {
    m.forward(x, ctx);
    m.backward(dy, ctx);
  }
  EXPECT_EQ(tensor_allocations(), before);
}

}  // namespace
}  // namespace trim
