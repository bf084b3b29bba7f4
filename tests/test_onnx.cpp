// trim -> ONNX -> trim round trips (identical descriptions, weights, class names), trim's
// exports run in ONNX Runtime against trim's engine, bad ONNX input rejected with the file, node
// and attribute named, and the tools taking .onnx models (convert, prune, train).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstring>
#include <functional>

#include "framework/model_file.h"
#include "interop/model_any.h"
#include "models/zoo.h"
#include "tests/onnx_fixtures.h"
#include "tests/temp_dir.h"
#include "tests/test_tool_fixtures.h"
#ifdef TRIM_HAVE_ONNX
#include "interop/onnx_export.h"
#include "interop/onnx_import.h"
#include "interop/onnx_proto.h"
#endif

namespace trim {
namespace {

#ifdef TRIM_HAVE_ONNX
using namespace onnx_test;

const std::string kModels = std::string(TRIM_SOURCE_DIR) + "/models/";
const std::vector<std::string> kShipped = {
    "pretrained/sicknet_fmnist", "pretrained/mobilenet_v1_0.5_28_fmnist", "pruned/sicknet_fmnist_pruned",
    "pruned/sicknet_fmnist3_pruned", "pruned/mobilenet_v1_0.5_28_fmnist_pruned"};

void expect_identical(Model& a, Model& b, const std::string& what) {
  EXPECT_EQ(model_to_desc(a), model_to_desc(b)) << what;
  EXPECT_EQ(a.class_names, b.class_names) << what;
  auto pa = a.params(), pb = b.params();
  ASSERT_EQ(pa.size(), pb.size()) << what;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].name, pb[i].name) << what;
    ASSERT_EQ(pa[i].value->shape(), pb[i].value->shape()) << what << " " << pa[i].name;
    EXPECT_EQ(0, std::memcmp(pa[i].value->data(), pb[i].value->data(), pa[i].value->numel() * 4))
        << what << ": " << pa[i].name << " differs after the round trip";
  }
}

TEST(OnnxRoundTrip, ShippedModelsComeBackIdentical) {
  for (const auto& name : kShipped) {
    Model m = load_model(kModels + name + ".model");
    for (int opset = 13; opset <= 17; ++opset) {
      Model back = import_onnx_bytes(export_onnx_bytes(m, opset), name + ".onnx");
      expect_identical(m, back, name + " opset " + std::to_string(opset));
    }
  }
}

// Every layer type and key trim has, with non-default values (ReLU6, padded pools, a linear
// straight after a global pool, no bias, BN epsilon and momentum, dropout).
TEST(OnnxRoundTrip, EveryLayerType) {
  const std::string desc =
      "[input]\nchannels=3\nheight=20\nwidth=20\n"
      "[conv]\nname=c1\nfilters=8\nsize=5\nstride=2\npad=2\nbias=1\n[batchnorm]\nname=bn1\neps=0.001\nmomentum=0.03\n"
      "[relu6]\nname=a1\n[avgpool]\nname=ap\nsize=3\nstride=1\npad=1\n[conv]\nname=dw\nfilters=8\nsize=3\npad=1\ngroups=8\nbias=0\n"
      "[relu]\nname=a2\n[maxpool]\nname=mp\nsize=3\nstride=2\npad=1\n[flatten]\nname=fl\n[linear]\nname=fc1\nout=12\nbias=0\n"
      "[dropout]\nname=dr\np=0.3\n[linear]\nname=fc2\nout=4\n";
  Model m = model_from_desc(desc, "every.model");
  m.init_params(3);
  m.class_names = {"a", "b", "c", "d"};
  Model back = import_onnx_bytes(export_onnx_bytes(m), "every.onnx");
  expect_identical(m, back, "every layer");
  // A linear directly after a global pool (no flatten in trim) gets a Flatten node in ONNX.
  Model g = model_from_desc("[input]\nchannels=2\nheight=4\nwidth=4\n[conv]\nname=c\nfilters=6\nsize=1\n[globalavgpool]\nname=gap\n"
                            "[linear]\nname=fc\nout=3\n", "gap.model");
  g.init_params(1);
  Model gb = import_onnx_bytes(export_onnx_bytes(g), "gap.onnx");
  ASSERT_EQ(gb.layers.size(), 4u);
  EXPECT_EQ(gb.layers[2]->type(), "flatten");
  Tensor x(Shape{1, 2, 4, 4});
  for (size_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  EXPECT_EQ(engine_logits(g, x), engine_logits(gb, x));
}

TEST(OnnxRoundTrip, BuiltinMobileNet224) {
  MobileNetV1Options o;
  o.alpha = 0.25f;
  o.relu6 = true;
  o.dropout = 0.2f;
  Model m = build_mobilenet_v1(o);
  m.init_params(5);
  Model back = import_onnx_bytes(export_onnx_bytes(m), "mobilenet.onnx");
  expect_identical(m, back, "mobilenet_v1 0.25/224 relu6 dropout");
}

// trim's exports in ONNX Runtime: the same logits as trim's engine, for the shipped dense and
// pruned models and a 224-pixel MobileNet. Tolerance as in test_onnx_torch.cpp (1e-5 of the
// largest logit; measured up to ~1e-6).
TEST(OnnxRuntime, RunsTrimsExportsWithTrimsLogits) {
  if (!have_ort())
    GTEST_SKIP() << "node or onnxruntime-node not found (apt install nodejs npm; cd bench/peers && "
                    "ONNXRUNTIME_NODE_INSTALL=skip npm ci)";
  TempDir dir;
  std::vector<std::pair<std::string, Model>> models;
  for (const auto& name : kShipped) models.emplace_back(name, load_model(kModels + name + ".model"));
  MobileNetV1Options o;
  o.alpha = 0.25f;
  Model big = build_mobilenet_v1(o);
  big.init_params(9);
  models.emplace_back("mobilenet_v1_0.25_224 (random)", std::move(big));
  for (auto& [name, m] : models) {
    const std::string onnx = dir / "m.onnx", bin = dir / "x.bin";
    export_onnx(m, onnx);
    Tensor x(Shape{1, m.input[0], m.input[1], m.input[2]});
    uint32_t s = 12345;
    for (size_t i = 0; i < x.numel(); ++i) {
      s = s * 1664525u + 1013904223u;
      x.data()[i] = static_cast<float>(s >> 8) / 16777216.f * 4.f - 2.f;
    }
    write_floats(bin, x.data(), x.numel());
    const std::vector<float> ort = ort_logits(onnx, bin, m.input), mine = engine_logits(m, x);
    ASSERT_EQ(ort.size(), mine.size()) << name;
    const double e = rel_error(mine, ort);
    std::printf("%-40s ONNX Runtime vs trim engine: %.2e of the largest logit\n", name.c_str(), e);
    EXPECT_LE(e, 1e-5) << name;
  }
}

// ---- bad input ----

std::string exported_sicknet() { return export_onnx_bytes(load_model(kModels + "pretrained/sicknet_fmnist.model")); }

onnx::NodeProto* node_named(onnx::ModelProto& p, const std::string& name) {
  for (auto& n : *p.mutable_graph()->mutable_node())
    if (n.name() == name) return &n;
  ADD_FAILURE() << "no node " << name;
  return nullptr;
}

void set_attr_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  for (auto& a : *n->mutable_attribute())
    if (a.name() == name) {
      a.clear_ints();
      for (auto x : v) a.add_ints(x);
      return;
    }
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

// Writes the mutated model to a file, imports it, and expects an Error holding every piece.
void expect_rejected(const std::function<void(onnx::ModelProto&)>& mutate, const std::vector<std::string>& pieces,
                     const std::string& bytes = exported_sicknet()) {
  onnx::ModelProto p;
  ASSERT_TRUE(p.ParseFromString(bytes));
  mutate(p);
  TempDir dir;
  const std::string path = dir / "bad.onnx";
  std::string out;
  p.SerializeToString(&out);
  write_file_atomic(path, out);
  try {
    import_onnx(path);
    ADD_FAILURE() << "accepted; expected an error with '" << pieces.front() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const auto& piece : pieces) EXPECT_NE(msg.find(piece), std::string::npos) << "'" << piece << "' not in: " << msg;
  }
}

TEST(OnnxBadInput, UnsupportedAttributeValues) {
  expect_rejected([](onnx::ModelProto& p) { set_attr_ints(node_named(p, "conv2"), "dilations", {2, 2}); },
                  {"node 'conv2' (Conv)", "attribute 'dilations' = [2, 2]", "dilation 1"});
  expect_rejected([](onnx::ModelProto& p) {
    auto* n = node_named(p, "conv1");
    for (int i = n->attribute_size() - 1; i >= 0; --i)
      if (n->attribute(i).name() == "pads") n->mutable_attribute()->DeleteSubrange(i, 1);
    auto* a = n->add_attribute();
    a->set_name("auto_pad");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("SAME_LOWER");
  }, {"node 'conv1' (Conv)", "attribute 'auto_pad' = 'SAME_LOWER'"});
  expect_rejected([](onnx::ModelProto& p) { set_attr_ints(node_named(p, "pool1"), "pads", {0, 0, 1, 1}); },
                  {"node 'pool1' (MaxPool)", "attribute 'pads' = [0, 0, 1, 1]", "asymmetric"});
  expect_rejected([](onnx::ModelProto& p) { set_attr_ints(node_named(p, "conv1"), "strides", {1, 2}); },
                  {"node 'conv1' (Conv)", "attribute 'strides'"});
}

TEST(OnnxBadInput, AveragePoolCountingPaddedCells) {
  Model m = model_from_desc("[input]\nchannels=1\nheight=6\nwidth=6\n[avgpool]\nname=ap\nsize=3\nstride=1\npad=1\n"
                            "[flatten]\n[linear]\nname=fc\nout=2\n", "ap.model");
  m.init_params(1);
  expect_rejected([](onnx::ModelProto& p) {
    for (auto& a : *node_named(p, "ap")->mutable_attribute())
      if (a.name() == "count_include_pad") a.set_i(1);
  }, {"node 'ap' (AveragePool)", "attribute 'count_include_pad' = 1"}, export_onnx_bytes(m));
}

TEST(OnnxBadInput, UnsupportedOpsAndGraphs) {
  expect_rejected([](onnx::ModelProto& p) { node_named(p, "conv1_relu")->set_op_type("Softplus"); },
                  {"node 'conv1_relu' (Softplus)", "op type 'Softplus' is not supported"});
  expect_rejected([](onnx::ModelProto& p) {  // conv2 + conv1_relu: a residual join
    auto* n = node_named(p, "conv2_bn");
    onnx::NodeProto add;
    add.set_op_type("Add");
    add.set_name("join");
    add.add_input("conv2_bn");
    add.add_input("conv1_relu");
    add.add_output("joined");
    node_named(p, "conv2_relu")->set_input(0, "joined");
    auto* nodes = p.mutable_graph()->mutable_node();
    int at = 0;
    while (&nodes->Get(at) != n) ++at;
    *nodes->Add() = add;
    for (int i = nodes->size() - 1; i > at + 1; --i) nodes->SwapElements(i, i - 1);
  }, {"node 'conv2' (Conv)", "tensor 'conv1_relu' feeds 2 consumers (a branch)", "not graphs"});
  expect_rejected([](onnx::ModelProto& p) {  // an Add on the chain (a constant shift)
    auto* n = node_named(p, "conv1_relu");
    n->set_op_type("Add");
    n->add_input("shift");
    const float v = 0.5f;
    auto* t = p.mutable_graph()->add_initializer();
    t->set_name("shift");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(&v), 4));
  }, {"node 'conv1_relu' (Add)", "not supported yet", "graph models"});
  expect_rejected([](onnx::ModelProto& p) {
    // Clip(0, 3) on conv1's output
    auto* n = node_named(p, "conv1_relu");
    n->set_op_type("Clip");
    n->add_input("lo");
    n->add_input("hi");
    const float lo = 0.f, hi = 3.f;
    auto* a = p.mutable_graph()->add_initializer();
    a->set_name("lo");
    a->set_data_type(onnx::TensorProto::FLOAT);
    a->set_raw_data(std::string(reinterpret_cast<const char*>(&lo), 4));
    auto* b = p.mutable_graph()->add_initializer();
    b->set_name("hi");
    b->set_data_type(onnx::TensorProto::FLOAT);
    b->set_raw_data(std::string(reinterpret_cast<const char*>(&hi), 4));
  }, {"node 'conv1_relu' (Clip)", "Clip(0, 3)"});
  expect_rejected([](onnx::ModelProto& p) { p.mutable_opset_import(0)->set_version(8); }, {"opset 8 is not supported"});
}

TEST(OnnxBadInput, MissingAndNonFloatInitializers) {
  expect_rejected([](onnx::ModelProto& p) {
    auto* inits = p.mutable_graph()->mutable_initializer();
    for (int i = 0; i < inits->size(); ++i)
      if (inits->Get(i).name() == "conv3.weight") {
        inits->DeleteSubrange(i, 1);
        break;
      }
  }, {"node 'conv3' (Conv)", "'conv3.weight'", "missing initializer"});
  expect_rejected([](onnx::ModelProto& p) {
    for (auto& t : *p.mutable_graph()->mutable_initializer())
      if (t.name() == "fc1.weight") t.set_data_type(onnx::TensorProto::DOUBLE);
  }, {"node 'fc1' (Gemm)", "'fc1.weight'", "DOUBLE"});
  expect_rejected([](onnx::ModelProto& p) {
    for (auto& t : *p.mutable_graph()->mutable_initializer())
      if (t.name() == "conv1_bn.running_var") t.mutable_raw_data()->resize(12);
  }, {"node 'conv1_bn' (BatchNormalization)", "conv1_bn.running_var", "raw data has 12 bytes"});
  expect_rejected([](onnx::ModelProto& p) {
    p.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::UINT8);
  }, {"graph input 'input'", "UINT8"});
}

TEST(OnnxBadInput, TruncatedAndForeignFiles) {
  TempDir dir;
  const std::string full = exported_sicknet();
  int rejected = 0;
  // Cut anywhere: the protobuf does not parse, or what parses is incomplete (a missing
  // initializer, node or output). Never a crash, never a model.
  for (size_t cut : {size_t(3), size_t(100), full.size() / 3, full.size() / 2, full.size() - 5}) {
    const std::string path = dir / ("cut" + std::to_string(cut) + ".onnx");
    write_file_atomic(path, full.substr(0, cut));
    try {
      import_onnx(path);
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(rejected, 5);
  const std::string text = dir / "text.onnx";
  write_file_atomic(text, "[input]\nchannels=1\n");
  EXPECT_THROW(import_onnx(text), Error);
  try {
    import_onnx(text);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an ONNX model"), std::string::npos) << e.what();
  }
  EXPECT_THROW(import_onnx(dir / "absent.onnx"), Error);
}

// ---- the tools ----

int run(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(OnnxTools, ConvertBothWaysAndFailsWithStatus1) {
  TempDir dir;
  const std::string convert = tool_test::tool_path("convert");
  EXPECT_EQ(run(convert + " --help > " + dir / "help.txt"), 0);
  EXPECT_NE(tool_test::slurp(dir / "help.txt").find("IN.onnx"), std::string::npos);
  const std::string src = kModels + "pruned/sicknet_fmnist3_pruned";
  ASSERT_EQ(run(convert + " " + src + ".model " + dir / "p.onnx > " + dir / "out.txt"), 0);
  EXPECT_NE(tool_test::slurp(dir / "out.txt").find("onnx checker passed"), std::string::npos);
  ASSERT_EQ(run(convert + " " + dir / "p.onnx " + dir / "q.model > /dev/null"), 0);
  EXPECT_EQ(tool_test::slurp(dir / "q.model"), tool_test::slurp(src + ".model"));
  EXPECT_EQ(tool_test::slurp(dir / "q.weights"), tool_test::slurp(src + ".weights"));
  EXPECT_EQ(tool_test::slurp(dir / "q.classes"), tool_test::slurp(src + ".classes"));
  // --classes FILE names the outputs of an import.
  write_file_atomic(dir / "names.txt", "cat\ndog\nfox\n");
  ASSERT_EQ(run(convert + " " + dir / "p.onnx " + dir / "r.model --classes " + dir / "names.txt > /dev/null"), 0);
  EXPECT_EQ(tool_test::slurp(dir / "r.classes"), "cat\ndog\nfox\n");
  write_file_atomic(dir / "two.txt", "cat\ndog\n");
  EXPECT_EQ(run(convert + " " + dir / "p.onnx " + dir / "s.model --classes " + dir / "two.txt 2> " + dir / "err.txt"), 1);
  // Bad input: status 1, the file named.
  write_file_atomic(dir / "junk.onnx", "not a model");
  EXPECT_EQ(run(convert + " " + dir / "junk.onnx " + dir / "j.model 2> " + dir / "err.txt"), 1);
  EXPECT_NE(tool_test::slurp(dir / "err.txt").find(dir / "junk.onnx"), std::string::npos);
  EXPECT_FALSE(tool_test::exists(dir / "j.model"));
  EXPECT_NE(run(convert + " " + src + ".model " + dir / "x.model 2> /dev/null"), 0);  // no .onnx side
}

TEST(OnnxTools, PruneAndTrainTakeOnnxModels) {
  TempDir dir;
  tool_test::write_idx_data(dir.path(), 192, 64, 16);
  tool_test::write_tiny_model(dir / "tiny.model", 16);
  export_onnx(load_model(dir / "tiny.model"), dir / "tiny.onnx");
  EXPECT_EQ(run(tool_test::tool_path("prune") + " --model " + dir / "tiny.onnx --analyze > " + dir / "an.txt"), 0);
  EXPECT_NE(tool_test::slurp(dir / "an.txt").find("prunable layers"), std::string::npos);
  ASSERT_EQ(run(tool_test::tool_path("train") + " --model " + dir / "tiny.onnx --data " + dir.path() +
                " --epochs 1 --quiet --threads 1 --workers 1 --out " + dir / "run > " + dir / "train.txt 2>&1"),
            0) << tool_test::slurp(dir / "train.txt");
  EXPECT_TRUE(tool_test::exists(dir / "run/tiny.model"));
  // prune: uniform 50% in one round, fine-tune 1 epoch, and the pruned model written as ONNX.
  ASSERT_EQ(run(tool_test::tool_path("prune") + " --model " + dir / "tiny.onnx --data " + dir.path() +
                " --mode uniform --ratio 0.5 --epochs 1 --threads 1 --workers 1 --latency-runs 2 --quiet 1 --out " +
                dir / "pr --onnx-out " + dir / "pruned.onnx > " + dir / "prune.txt 2>&1"),
            0) << tool_test::slurp(dir / "prune.txt");
  Model pruned = load_model(dir / "pr/pruned.model");
  Model from_onnx = import_onnx(dir / "pruned.onnx");
  expect_identical(pruned, from_onnx, "prune --onnx-out");
  EXPECT_LT(pruned.macs(), load_model(dir / "tiny.model").macs());
  // A bad --onnx-out is an error naming the flag.
  EXPECT_NE(run(tool_test::tool_path("prune") + " --model " + dir / "tiny.onnx --onnx-out x.model --analyze 2> /dev/null"), 0);
}

TEST(OnnxTools, LoadModelAny) {
  EXPECT_TRUE(onnx_supported());
  TempDir dir;
  Model m = load_model(kModels + "pruned/sicknet_fmnist_pruned.model");
  save_model_any(m, dir / "a.onnx");
  save_model_any(m, dir / "b.model");
  Model a = load_model_any(dir / "a.onnx"), b = load_model_any(dir / "b.model");
  expect_identical(a, b, "load_model_any");
}

#else
TEST(Onnx, NeedsOnnx) {
  EXPECT_FALSE(onnx_supported());
  EXPECT_THROW(load_model_any("x.onnx"), Error);
  GTEST_SKIP() << "built without ONNX (libonnx-dev not found at configure time)";
}
#endif

}  // namespace
}  // namespace trim
