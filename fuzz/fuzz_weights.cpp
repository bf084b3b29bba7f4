// fuzz_weights - the binary weight file (NAME.weights) read into a small fixed model with every
// kind of parameter (conv weight and bias, batchnorm parameters and buffers, linear).
//
// Input: one flag byte, then the file. A random mutation almost never keeps the CRC-32 right,
// which would hide every check behind the checksum (missing tensors, say); with flag bit 0 set
// the target rewrites the trailing checksum first so the fuzzer reaches them too. Whatever
// loads must serialize to a file that loads back to the same bytes.
#include <zlib.h>

#include "framework/model_file.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/fuzz_weights_model.h"

TRIM_FUZZ_TARGET(weights) {
  static trim::Model model = trim::model_from_desc(trim::fuzz::kWeightsModel, "fuzz_weights_model.model");
  static trim::Model copy = trim::model_from_desc(trim::fuzz::kWeightsModel, "fuzz_weights_model.model");
  if (size < 1) return false;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) && bytes.size() >= 4) {
    uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4));
    for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  }
  if (!trim::fuzz::accepted([&] { trim::deserialize_weights(model, bytes, "fuzz.weights"); })) return false;
  const std::string saved = trim::serialize_weights(model);
  if (!trim::fuzz::accepted([&] { trim::deserialize_weights(copy, saved, "saved.weights"); }))
    trim::fuzz::invariant_failed("serialize_weights wrote a file deserialize_weights rejects");
  if (trim::serialize_weights(copy) != saved) trim::fuzz::invariant_failed("weights do not round-trip");
  return true;
}
