// make_seeds - writes the seed corpora of the fuzz targets: valid inputs, each named valid-*,
// in the input format of its target (see the comment at the top of each fuzz_<parser>.cpp).
// tests/test_fuzz_regressions.cpp checks that every valid-* seed is still accepted.
//
//   build-fuzz/make_seeds <repo root>      (fuzz/run.sh --seeds)
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "datasets/image_decode.h"
#include "framework/model_file.h"
#include "fuzz/fuzz_weights_model.h"
#include "pruning/prune_config.h"
#ifdef TRIM_HAVE_ONNX
#include "interop/onnx_export.h"
#endif

namespace fs = std::filesystem;
using namespace trim;

namespace {

std::string root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(root + "/fuzz/corpus/" + target);
  std::ofstream(root + "/fuzz/corpus/" + target + "/" + name, std::ios::binary) << bytes;
}

void be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::string le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

std::string gzip(const std::string& in) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw Error("deflateInit2");
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(&out[0]);
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw Error("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void weights() {
  Model m = model_from_desc(fuzz::kWeightsModel, "fuzz_weights_model.model");
  m.init_params(1);
  const std::string w = serialize_weights(m);
  put("weights", "valid-exact", std::string(1, '\0') + w);
  put("weights", "valid-fix-crc", std::string(1, '\1') + w);
}

void idx() {
  const int n = 3, h = 4, w = 5;
  std::string images, labels;
  be32(images, 0x803);
  be32(images, n);
  be32(images, h);
  be32(images, w);
  for (int i = 0; i < n * h * w; ++i) images.push_back(static_cast<char>(i * 37 % 256));
  be32(labels, 0x801);
  be32(labels, n);
  for (int i = 0; i < n; ++i) labels.push_back(static_cast<char>(i * 4));
  put("idx", "valid-plain", std::string(1, '\0') + le32(static_cast<uint32_t>(images.size())) + images + labels);
  put("idx", "valid-named", std::string(1, '\1') + le32(static_cast<uint32_t>(images.size())) + images + labels);
  const std::string gi = gzip(images), gl = gzip(labels);
  put("idx", "valid-gzip", std::string(1, '\1') + le32(static_cast<uint32_t>(gi.size())) + gi + gl);
}

void images() {
  const std::string tmp = fs::temp_directory_path().string() + "/trim-make-seeds";
  fs::create_directories(tmp);
  struct Seed {
    const char* ext;
    int w, h, c;
  };
  for (const Seed& s : {Seed{"png", 7, 5, 1}, Seed{"png", 6, 9, 3}, Seed{"jpg", 16, 12, 3}, Seed{"jpg", 9, 17, 1},
                        Seed{"bmp", 3, 3, 3}, Seed{"bmp", 5, 2, 1}}) {
    Image img(s.w, s.h, s.c);
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 53 % 251);
    const std::string name = std::to_string(s.w) + "x" + std::to_string(s.h) + "x" + std::to_string(s.c) + "." + s.ext;
    write_image(tmp + "/" + name, img.view(), 90);
    std::vector<uint8_t> bytes = read_file_bytes(tmp + "/" + name);
    // Parameter bytes: channels as stored, eval crop 4 from resize 6; then rrc + flip + shift 1.
    const char p1[3] = {static_cast<char>(s.c == 3 ? 1 : 0), 3, 2};
    const char p2[3] = {static_cast<char>((s.c == 3 ? 1 : 0) | 2 | 4 | 8), 7, 0};
    const std::string file(bytes.begin(), bytes.end());
    put("image", std::string("valid-") + name, std::string(p1, 3) + file);
    put("image", std::string("valid-aug-") + name, std::string(p2, 3) + file);
  }
  fs::remove_all(tmp);
}

void val_labels() {
  // Byte 0 = images - 1 (the target uses 1 + b % 6 images named ILSVRC2012_val_0000000i.JPEG).
  put("val_labels", "valid-plain", std::string(1, '\2') + "0\n2\n1\n");
  put("val_labels", "valid-names", std::string(1, '\2') + "n01484850\r\nn01440764\r\nn01443537\r\n");
  put("val_labels", "valid-keyed", std::string(1, '\3') +
                                       "ILSVRC2012_val_00000004.JPEG 2\nILSVRC2012_val_00000001.JPEG 0\n"
                                       "ILSVRC2012_val_00000002.JPEG n01443537\nILSVRC2012_val_00000003.JPEG 1\n");
  put("val_labels", "valid-csv", std::string(1, '\1') +
                                     "ImageId,PredictionString\n"
                                     "ILSVRC2012_val_00000002,n01443537 10 20 30 40\n"
                                     "ILSVRC2012_val_00000001,n01484850 1 2 3 4 n01484850 5 6 7 8\n");
}

void texts() {
  for (const auto& e : fs::directory_iterator(root + "/models"))
    if (e.path().extension() == ".model") put("model_desc", "valid-" + e.path().filename().string(), read_file(e.path().string()));
  put("model_desc", "valid-fuzz_weights_model.model", fuzz::kWeightsModel);
  put("model_desc", "valid-every-layer.model",
      "# every layer type and key\n[input]\nchannels=3\nheight=12\nwidth=12\n"
      "[conv]\nname=stem\nfilters=8\nsize=3\nstride=2\npad=1\ngroups=1\nbias=0\n[batchnorm]\neps=1e-3\nmomentum=0.01\n"
      "[relu6]\n[conv]\nfilters=8\nsize=3\npad=1\ngroups=8\n[relu]\n[maxpool]\nsize=2\n[avgpool]\nsize=2\nstride=1\npad=1\n"
      "[conv]\nfilters=4\nsize=1\n[globalavgpool]\n[flatten]\n[dropout]\np=0.25\n[linear]\nout=3\nbias=1\n");
  for (const auto& e : fs::directory_iterator(root + "/configs"))
    if (e.path().extension() == ".ini") put("prune_config", "valid-" + e.path().filename().string(), read_file(e.path().string()));
  PruneConfig c = parse_prune_config("[model]\npath = m.model\n", "seed.ini");
  put("prune_config", "valid-defaults.ini", config_to_ini(c));
}

// trim's own exports of small models covering every layer type (the committed valid-torch-*
// seeds are PyTorch's exports, which add Identity and Constant nodes and Clip's attribute form).
void onnx_models() {
#ifdef TRIM_HAVE_ONNX
  const char* every =
      "[input]\nchannels=2\nheight=6\nwidth=6\n[conv]\nname=c1\nfilters=4\nsize=3\nstride=2\npad=1\n"
      "[batchnorm]\nname=bn1\n[relu6]\nname=a1\n[avgpool]\nname=ap\nsize=3\nstride=1\npad=1\n"
      "[conv]\nname=dw\nfilters=4\nsize=3\npad=1\ngroups=4\nbias=0\n[relu]\nname=a2\n[maxpool]\nname=mp\nsize=2\n"
      "[flatten]\nname=fl\n[linear]\nname=fc1\nout=6\n[dropout]\nname=dr\np=0.3\n[linear]\nname=fc2\nout=3\n";
  Model m = model_from_desc(every, "every.model");
  m.init_params(1);
  m.class_names = {"a", "b", "c"};
  put("onnx", "valid-trim-every-layer.onnx", export_onnx_bytes(m));
  Model g = model_from_desc("[input]\nchannels=1\nheight=5\nwidth=5\n[conv]\nname=c\nfilters=3\nsize=1\nbias=0\n"
                            "[globalavgpool]\nname=gap\n", "gap.model");
  g.init_params(2);
  put("onnx", "valid-trim-gap-opset17.onnx", export_onnx_bytes(g, 17));
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <repo root>\n";
    return 2;
  }
  root = argv[1];
  try {
    weights();
    idx();
    images();
    val_labels();
    texts();
    onnx_models();
  } catch (const std::exception& e) {
    std::cerr << "make_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
