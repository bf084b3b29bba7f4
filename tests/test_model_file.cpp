// Model descriptions and weight files: round trips, and every kind of bad file gives an Error
// that names the file and the offending entry.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>

#include "framework/model_file.h"
#include "models/zoo.h"
#include "temp_dir.h"

namespace trim {
namespace {

const char* kTiny = R"(# a tiny model
[input]
channels=2
height=6
width=5

[conv]
name=c1
filters=3
size=3
pad=1
bias=0
[batchnorm]
name=b1
[relu]
[maxpool]
size=2
[flatten]
[linear]
name=fc
out=4
)";

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

TEST(ModelDesc, ParsesShapesNamesAndDefaults) {
  Model m = model_from_desc(kTiny, "tiny.model");
  ASSERT_EQ(m.layers.size(), 6u);
  EXPECT_EQ(m.input, (Shape{2, 6, 5}));
  EXPECT_EQ(m.layers[0]->name(), "c1");
  EXPECT_EQ(m.layers[2]->name(), "relu3");  // unnamed: type + position
  EXPECT_EQ(m.layers[3]->out_shape(), (Shape{3, 3, 2}));
  EXPECT_EQ(m.classes(), 4);
  // conv 3x(2*3*3) no bias + BN 2x3 + fc 4x18 + 4
  EXPECT_EQ(m.num_params(), 54u + 6u + 72u + 4u);
  EXPECT_EQ(m.macs(), 3 * 6 * 5 * 18 + 18 * 4);
}

TEST(ModelDesc, WriteParseRoundTripIsStable) {
  Model a = model_from_desc(kTiny, "tiny.model");
  std::string d1 = model_to_desc(a);
  Model b = model_from_desc(d1, "again.model");
  EXPECT_EQ(model_to_desc(b), d1);
}

TEST(ModelDesc, ErrorsNameFileLineAndKey) {
  std::string e = error_of([] { model_from_desc(std::string(kTiny) + "[linear]\nout=3\nbogus=1\n", "m.model"); });
  EXPECT_NE(e.find("m.model:24"), std::string::npos) << e;
  EXPECT_NE(e.find("bogus"), std::string::npos) << e;
  e = error_of([] { model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\n[convolution]\n", "m.model"); });
  EXPECT_NE(e.find("unknown layer type 'convolution'"), std::string::npos) << e;
  EXPECT_NE(e.find("m.model:5"), std::string::npos) << e;
  e = error_of([] { model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nfilters=x3\nsize=3\n", "m.model"); });
  EXPECT_NE(e.find("filters"), std::string::npos) << e;
  e = error_of([] { model_from_desc("[conv]\nfilters=3\n", "m.model"); });
  EXPECT_NE(e.find("[input]"), std::string::npos) << e;
  e = error_of([] { model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nfilters=3\nsize=7\n[flatten]\n[linear]\nout=2\n", "m.model"); });
  EXPECT_NE(e.find("m.model"), std::string::npos) << e;  // 7x7 kernel on a 4x4 input without padding
  e = error_of([] { model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\n[conv]\nname=a\nfilters=3\nsize=1\n[conv]\nname=a\nfilters=3\nsize=1\n[globalavgpool]\n", "m.model"); });
  EXPECT_NE(e.find("duplicate layer name 'a'"), std::string::npos) << e;
  e = error_of([] { model_from_desc("[input]\nchannels=1\nheight=4\nwidth=4\nlayers\n", "m.model"); });
  EXPECT_NE(e.find("m.model:5"), std::string::npos) << e;
}

class WeightsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    model = model_from_desc(kTiny, "tiny.model");
    model.init_params(7);
    // Non-trivial running statistics so the buffers are checked too.
    for (auto& p : model.params())
      if (!p.grad)
        for (size_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] = 0.5f + 0.25f * static_cast<float>(i);
    path = dir / "w.weights";
    save_weights(model, path);
    bytes = read_file(path);
  }
  TempDir dir;
  Model model;
  std::string path, bytes;
};

TEST_F(WeightsFile, RoundTripIsBitExact) {
  Model b = model_from_desc(kTiny, "tiny.model");
  load_weights(b, path);
  auto pa = model.params(), pb = b.params();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    ASSERT_EQ(pa[i].value->numel(), pb[i].value->numel());
    for (size_t j = 0; j < pa[i].value->numel(); ++j) ASSERT_EQ((*pa[i].value)[j], (*pb[i].value)[j]) << pa[i].name;
  }
}

TEST_F(WeightsFile, TruncatedAtEveryLengthIsAnError) {
  Model b = model_from_desc(kTiny, "tiny.model");
  for (size_t n = 0; n < bytes.size(); n += 7) {
    write(path, bytes.substr(0, n));
    std::string e = error_of([&] { load_weights(b, path); });
    ASSERT_FALSE(e.empty()) << "no error at length " << n;
    ASSERT_NE(e.find(path), std::string::npos) << e;
  }
}

TEST_F(WeightsFile, BadMagicVersionChecksumShapeAndMissingTensor) {
  Model b = model_from_desc(kTiny, "tiny.model");
  std::string bad = bytes;
  bad[0] = 'X';
  write(path, bad);
  EXPECT_NE(error_of([&] { load_weights(b, path); }).find("bad magic"), std::string::npos);
  bad = bytes;
  bad[8] = 9;
  write(path, bad);
  EXPECT_NE(error_of([&] { load_weights(b, path); }).find("version 9"), std::string::npos);
  bad = bytes;
  bad[bytes.size() - 10] ^= 0x40;  // flip a bit in the last tensor's data
  write(path, bad);
  EXPECT_NE(error_of([&] { load_weights(b, path); }).find("checksum"), std::string::npos);
  // Shape mismatch: weights of a model with 5 outputs into one with 4.
  std::string desc5 = kTiny;
  desc5.replace(desc5.find("out=4"), 5, "out=5");
  Model five = model_from_desc(desc5, "five.model");
  save_weights(five, path);
  std::string e = error_of([&] { load_weights(b, path); });
  EXPECT_NE(e.find("fc.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("[5, 18]"), std::string::npos) << e;
  // Missing tensor: a model without the BN layer has no b1.* tensors.
  std::string nobn = kTiny;
  nobn.erase(nobn.find("[batchnorm]"), std::string("[batchnorm]\nname=b1\n").size());
  Model small = model_from_desc(nobn, "nobn.model");
  save_weights(small, path);
  e = error_of([&] { load_weights(b, path); });
  EXPECT_NE(e.find("missing tensor 'b1."), std::string::npos) << e;
  e = error_of([&] { load_weights(small, dir / "does-not-exist.weights"); });
  EXPECT_NE(e.find("does-not-exist.weights"), std::string::npos) << e;
}

TEST_F(WeightsFile, SaveModelWritesThreeFilesAtomically) {
  model.class_names = {"a", "b", "c", "d"};
  save_model(model, dir / "net");
  Model back = load_model(dir / "net.model");
  EXPECT_EQ(back.class_names, model.class_names);
  EXPECT_EQ(model_to_desc(back), model_to_desc(model));
  // No temporary files remain.
  std::string ls;
  FILE* p = ::popen(("ls " + dir.path()).c_str(), "r");
  char buf[256];
  while (fgets(buf, sizeof buf, p)) ls += buf;
  ::pclose(p);
  EXPECT_EQ(ls.find(".tmp"), std::string::npos) << ls;
  // A class list of the wrong length is refused.
  write(dir / "net.classes", "a\nb\n");
  EXPECT_NE(error_of([&] { load_model(dir / "net.model"); }).find("2 class names"), std::string::npos);
}

TEST_F(WeightsFile, NonZeroPaddingIsRefused) {
  // The first tensor's header ends before offset 64; the bytes up to 64 are padding.
  Model b = model_from_desc(kTiny, "tiny.model");
  const size_t header = 16 + 4 + model.params()[0].name.size() + 4 + 4 * model.params()[0].value->shape().rank();
  ASSERT_LT(header, 63u);
  std::string bad = bytes;
  bad[63] = 1;
  write(path, bad);
  std::string e = error_of([&] { load_weights(b, path); });
  EXPECT_NE(e.find(path + ": tensor '" + model.params()[0].name + "': padding byte at offset 63 is not zero"),
            std::string::npos)
      << e;
}

TEST_F(WeightsFile, NonFiniteWeightsAndNegativeVariancesAreRefusedNamingTheTensor) {
  struct Case {
    const char* tensor;
    float value;
    const char* says;
  };
  for (const Case& c : {Case{"c1.weight", std::nanf(""), "is NaN"}, Case{"fc.bias", INFINITY, "is infinite"},
                        Case{"b1.gamma", -INFINITY, "is infinite"}, Case{"b1.running_mean", std::nanf(""), "is NaN"},
                        Case{"b1.running_var", -0.5f, "negative variance"}}) {
    Model bad = model.clone();
    for (auto& p : bad.params())
      if (p.name == c.tensor) (*p.value)[1] = c.value;
    save_weights(bad, path);
    Model b = model_from_desc(kTiny, "tiny.model");
    std::string e = error_of([&] { load_weights(b, path); });
    EXPECT_NE(e.find(path + ": tensor '" + std::string(c.tensor) + "' element 1"), std::string::npos) << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << e;
  }
  // A zero variance is legal (a channel that never varied); eps keeps 1/sqrt finite.
  Model ok = model.clone();
  for (auto& p : ok.params())
    if (p.name == "b1.running_var") p.value->fill(0.f);
  save_weights(ok, path);
  Model b = model_from_desc(kTiny, "tiny.model");
  EXPECT_EQ(error_of([&] { load_weights(b, path); }), "");
}

TEST_F(WeightsFile, SaveModelWithoutClassNamesRemovesAStaleClassesFile) {
  model.class_names = {"a", "b", "c", "d"};
  save_model(model, dir / "net");
  ASSERT_TRUE(std::ifstream(dir / "net.classes").good());
  Model other = model.clone();
  other.class_names.clear();
  save_model(other, dir / "net.model");
  EXPECT_FALSE(std::ifstream(dir / "net.classes").good()) << "stale net.classes left behind";
  EXPECT_TRUE(load_model(dir / "net.model").class_names.empty());
}

TEST_F(WeightsFile, ClassNamesThatCannotRoundTripAreRefusedAtSave) {
  for (const std::string& name : {std::string("two\nlines"), std::string("tab\there"), std::string(" lead"),
                                  std::string("trail "), std::string(""), std::string("bell\a")}) {
    model.class_names = {"a", name, "c", "d"};
    std::string e = error_of([&] { save_model(model, dir / "named"); });
    EXPECT_NE(e.find("class name"), std::string::npos) << "'" << name << "': " << e;
    EXPECT_FALSE(std::ifstream(dir / "named.model").good());
  }
  model.class_names = {"a", "b"};  // wrong count
  EXPECT_NE(error_of([&] { save_model(model, dir / "named"); }).find("2 class names"), std::string::npos);
}

TEST_F(WeightsFile, NonRegularFilesAreRefusedWithoutBlocking) {
  // A FIFO with no writer: reading it would block forever; a directory reads as nothing.
  const std::string fifo = dir / "fifo.weights";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  Model b = model_from_desc(kTiny, "tiny.model");
  std::string e = error_of([&] { load_weights(b, fifo); });
  EXPECT_NE(e.find(fifo + ": is a FIFO, not a regular file"), std::string::npos) << e;
  e = error_of([&] { read_file(dir.path()); });
  EXPECT_NE(e.find("is a directory"), std::string::npos) << e;
  e = error_of([&] { read_file("/dev/zero"); });
  EXPECT_NE(e.find("/dev/zero: is a character device"), std::string::npos) << e;
  e = error_of([&] { require_regular_file("/dev/null", "IDX file"); });
  EXPECT_NE(e.find("/dev/null: IDX file is a character device"), std::string::npos) << e;
  // A model whose .classes is a FIFO.
  save_model(model, dir / "m");
  ASSERT_EQ(::mkfifo((dir / "m.classes").c_str(), 0644), 0);
  e = error_of([&] { load_model(dir / "m.model"); });
  EXPECT_NE(e.find("m.classes: is a FIFO"), std::string::npos) << e;
}

TEST(WriteFileAtomic, ALeftoverTemporaryFileIsReplacedAndGone) {
  TempDir d;
  const std::string path = d / "checkpoint.trim";
  write(temp_path_for(path), "partial bytes of a killed writer");
  write_file_atomic(path, "new");
  EXPECT_EQ(read_file(path), "new");
  EXPECT_FALSE(std::ifstream(temp_path_for(path)).good());
  EXPECT_NE(error_of([] { write_file_atomic("", "x"); }).find("empty name"), std::string::npos);
}

TEST(SameFile, ComparesDeviceAndInodeNotSpelling) {
  TempDir d;
  write(d / "a", "x");
  ASSERT_EQ(::mkdir((d / "sub").c_str(), 0755), 0);
  EXPECT_TRUE(same_file(d / "a", d / "sub/../a"));
  ASSERT_EQ(::link((d / "a").c_str(), (d / "hard").c_str()), 0);
  EXPECT_TRUE(same_file(d / "a", d / "hard"));
  ASSERT_EQ(::symlink((d / "a").c_str(), (d / "soft").c_str()), 0);
  EXPECT_TRUE(same_file(d / "soft", d / "a"));
  write(d / "b", "x");
  EXPECT_FALSE(same_file(d / "a", d / "b"));
  EXPECT_FALSE(same_file(d / "a", d / "missing"));
  EXPECT_NE(error_of([&] { refuse_overwrite(d / "a", d / "hard", "--out"); }).find("refusing to write over it"),
            std::string::npos);
}

TEST(WriteFileAtomic, UnwritableFolderIsAnErrorAndKeepsNothing) {
  std::string e = error_of([] { write_file_atomic("/nonexistent-dir/x.weights", "abc"); });
  EXPECT_NE(e.find("/nonexistent-dir/x.weights"), std::string::npos) << e;
}

TEST(ModelSpec, OneSyntaxForEveryBuiltInModel) {
  EXPECT_EQ(build_model_spec("sicknet").input, (Shape{1, 28, 28}));
  EXPECT_EQ(build_model_spec("sicknet:input=3x64x64,classes=3").classes(), 3);
  Model mb = build_model_spec("mobilenet_v1:alpha=0.5");
  EXPECT_EQ(mb.input, (Shape{3, 224, 224}));
  EXPECT_EQ(mb.classes(), 1000);
  MobileNetV1Options half;
  half.alpha = 0.5f;
  EXPECT_EQ(mb.macs(), build_mobilenet_v1(half).macs());
  Model dw = build_model_spec("dwpw:input=16x28x28,blocks=2");
  EXPECT_EQ(dw.input, (Shape{16, 28, 28}));
  // The tools' form: the data set gives shape and classes; the spec may repeat, not contradict, them.
  EXPECT_EQ(build_model_by_name("mobilenet_v1", 1, 28, 28, 10).macs(), build_model_spec("mobilenet_v1:input=1x28x28,classes=10").macs());
  // The short names (issue 11's and 15's mobilenet_v1_1.0_224, resnet18_224, ...) are spellings of
  // specs: the same model, checked by the same parser.
  EXPECT_EQ(build_model_spec("mobilenet_v1_0.5_224").macs(), mb.macs());
  EXPECT_EQ(build_model_spec("mobilenet_v2_1.0_224").macs(), build_model_spec("mobilenet_v2:input=3x224x224").macs());
  EXPECT_EQ(build_model_spec("resnet18_224").macs(), build_model_spec("resnet18:input=3x224x224").macs());
  EXPECT_EQ(build_model_spec("dwpw_16_28").macs(), build_model_spec("dwpw:input=16x28x28").macs());
  EXPECT_EQ(build_model_spec("sicknet_3x64x64").input, (Shape{3, 64, 64}));
  struct Bad {
    const char* spec;
    const char* says;
  };
  for (const Bad& b : {Bad{"resnet", "unknown model 'resnet'"}, Bad{"mobilenet_v1:alpha=nan", "alpha: bad value 'nan'"},
                       Bad{"mobilenet_v1:alpha=inf", "alpha: bad value 'inf'"}, Bad{"mobilenet_v1:alpha=0", "out of range"},
                       Bad{"mobilenet_v1:alpha=0.5,alpha=1", "alpha: given twice"},
                       Bad{"mobilenet_v1:width=2", "width: unknown key"}, Bad{"sicknet:alpha=1", "alpha: unknown key"},
                       Bad{"sicknet:input=3x64", "expected CxHxW"}, Bad{"sicknet:input=0x28x28", "out of range"},
                       Bad{"sicknet:classes=-1", "out of range"}, Bad{"mobilenet_v1:small=2", "bad value '2'"},
                       Bad{"mobilenet_v1:dropout=1", "out of range"}, Bad{"mobilenet_v1:input=3x32x64", "square input"},
                       Bad{"dwpw", "needs input"}, Bad{"sicknet:", "expected key=value"}, Bad{"mobilenet_v1_x_224", "unknown model"},
                       Bad{"mobilenet_v1_0_224", "out of range"}, Bad{"resnet18_0", "out of range"}})
    EXPECT_NE(error_of([&] { build_model_spec(b.spec); }).find(b.says), std::string::npos)
        << b.spec << ": " << error_of([&] { build_model_spec(b.spec); });
  EXPECT_NE(error_of([] { build_model_by_name("sicknet:classes=3", 1, 28, 28, 10); }).find("the data set has 10"),
            std::string::npos);
  EXPECT_NE(error_of([] { build_model_by_name("sicknet:input=3x28x28", 1, 28, 28, 10); }).find("samples are 1x28x28"),
            std::string::npos);
}

TEST(Zoo, ShippedDescriptionsMatchTheBuilders) {
  // models/*.model are what the builders produce for Fashion-MNIST; keep them in sync.
  EXPECT_EQ(read_file(std::string(TRIM_SOURCE_DIR) + "/models/sicknet.model"), sicknet_desc(1, 28, 28, 10));
  MobileNetV1Options o;
  o.alpha = 0.5f;
  o.resolution = 28;
  o.channels = 1;
  o.classes = 10;
  o.small_input = true;
  EXPECT_EQ(read_file(std::string(TRIM_SOURCE_DIR) + "/models/mobilenet_v1_0.5_28.model"), mobilenet_v1_desc(o));
}

TEST(Zoo, SickNetAndMobileNetSizesMatchTheMethod) {
  Model s = build_sicknet(1, 28, 28, 10);
  // METHOD.md: about 29 M multiply-accumulates per image on Fashion-MNIST.
  EXPECT_NEAR(static_cast<double>(s.macs()), 29e6, 0.5e6);
  MobileNetV1Options o;  // 1.0 / 224 / 1000 classes
  Model m = build_mobilenet_v1(o);
  EXPECT_NEAR(static_cast<double>(m.macs()), 569e6, 4e6);    // Howard et al.: 569 M
  EXPECT_NEAR(static_cast<double>(m.num_params()), 4.2e6, 0.05e6);  // 4.2 M
  o.alpha = 0.5f;
  o.resolution = 28;
  o.channels = 1;
  o.classes = 10;
  o.small_input = true;
  Model small = build_mobilenet_v1(o);
  // The last feature map is 2x2: the layer before the global pool.
  int pool = small.index_of("pool");
  ASSERT_GT(pool, 0);
  EXPECT_EQ(small.layers[static_cast<size_t>(pool) - 1]->out_shape(), (Shape{512, 2, 2}));
}

}  // namespace
}  // namespace trim
