// fuzz_onnx - the ONNX importer (interop/onnx_import.cpp) on arbitrary bytes: protobuf parsing
// (Debian's libprotobuf), onnx's checker and shape inference, then trim's converters. Whatever
// imports must export (passing the checker) and import back to the same description and weights.
#include <cstring>

#include "framework/model_file.h"
#include "fuzz/fuzz_target.h"
#include "interop/onnx_export.h"
#include "interop/onnx_import.h"

TRIM_FUZZ_TARGET(onnx) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  trim::Model m;
  if (!trim::fuzz::accepted([&] { m = trim::import_onnx_bytes(bytes, "fuzz.onnx"); })) return false;
  std::string exported;
  if (!trim::fuzz::accepted([&] { exported = trim::export_onnx_bytes(m); }))
    trim::fuzz::invariant_failed("an imported model does not export");
  trim::Model back;
  if (!trim::fuzz::accepted([&] { back = trim::import_onnx_bytes(exported, "exported.onnx"); }))
    trim::fuzz::invariant_failed("an exported model does not import");
  if (trim::model_to_desc(back) != trim::model_to_desc(m)) trim::fuzz::invariant_failed("description does not round-trip");
  auto a = m.params(), b = back.params();
  if (a.size() != b.size()) trim::fuzz::invariant_failed("parameter count differs after the round trip");
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].value->numel() != b[i].value->numel() ||
        std::memcmp(a[i].value->data(), b[i].value->data(), a[i].value->numel() * sizeof(float)) != 0)
      trim::fuzz::invariant_failed("weights differ after the round trip");
  return true;
}
