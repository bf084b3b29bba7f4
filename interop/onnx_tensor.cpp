#include "interop/onnx_tensor.h"

#include <cmath>
#include <cstring>

#include "framework/tensor.h"

namespace trim {
namespace onnx_io {

namespace {

// Larger than any tensor trim can hold (a layer's parameter is at most 2^27 floats), small
// enough that the product of the dims cannot overflow on the way.
constexpr int64_t kMaxElements = int64_t(1) << 28;

int64_t checked_numel(const onnx::TensorProto& t, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) throw Error(what + ": negative dimension " + std::to_string(d));
    if (d != 0 && n > kMaxElements / d)
      throw Error(what + ": dims " + ints_text({t.dims().begin(), t.dims().end()}) + " hold more than " +
                  std::to_string(kMaxElements) + " values");
    n *= d;
  }
  return n;
}

void reject_external(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0)
    throw Error(what + ": data stored outside the model file (external data) is not supported");
}

}  // namespace

std::string ints_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string data_type_name(int32_t type) {
  if (onnx::TensorProto::DataType_IsValid(type))
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(type));
  return "type " + std::to_string(type);
}

FloatTensor read_float_tensor(const onnx::TensorProto& t, const std::string& what) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    throw Error(what + ": a " + data_type_name(t.data_type()) + " tensor; trim needs FLOAT (32-bit) weights");
  reject_external(t, what);
  const int64_t n = checked_numel(t, what);
  FloatTensor out;
  out.dims.assign(t.dims().begin(), t.dims().end());
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * 4)
      throw Error(what + ": raw data has " + std::to_string(raw.size()) + " bytes, dims " + ints_text(out.dims) +
                  " need " + std::to_string(n * 4));
    out.values.resize(static_cast<size_t>(n));
    if (n) std::memcpy(out.values.data(), raw.data(), raw.size());  // little-endian, as the host
  } else {
    if (static_cast<int64_t>(t.float_data_size()) != n)
      throw Error(what + ": " + std::to_string(t.float_data_size()) + " values, dims " + ints_text(out.dims) +
                  " need " + std::to_string(n));
    out.values.assign(t.float_data().begin(), t.float_data().end());
  }
  for (float v : out.values)
    if (!std::isfinite(v)) throw Error(what + ": holds a value that is not finite (NaN or infinity)");
  return out;
}

std::vector<int64_t> read_int_tensor(const onnx::TensorProto& t, const std::string& what) {
  reject_external(t, what);
  const int64_t n = checked_numel(t, what);
  if (n > 64) throw Error(what + ": " + std::to_string(n) + " values, expected a short list");
  std::vector<int64_t> out;
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (t.has_raw_data()) {
      if (static_cast<int64_t>(t.raw_data().size()) != n * 8)
        throw Error(what + ": raw data has " + std::to_string(t.raw_data().size()) + " bytes, need " + std::to_string(n * 8));
      out.resize(static_cast<size_t>(n));
      if (n) std::memcpy(out.data(), t.raw_data().data(), static_cast<size_t>(n) * 8);
    } else {
      if (t.int64_data_size() != n) throw Error(what + ": " + std::to_string(t.int64_data_size()) + " values, need " + std::to_string(n));
      out.assign(t.int64_data().begin(), t.int64_data().end());
    }
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    if (t.has_raw_data()) {
      if (static_cast<int64_t>(t.raw_data().size()) != n * 4)
        throw Error(what + ": raw data has " + std::to_string(t.raw_data().size()) + " bytes, need " + std::to_string(n * 4));
      for (int64_t i = 0; i < n; ++i) {
        int32_t v;
        std::memcpy(&v, t.raw_data().data() + i * 4, 4);
        out.push_back(v);
      }
    } else {
      if (t.int32_data_size() != n) throw Error(what + ": " + std::to_string(t.int32_data_size()) + " values, need " + std::to_string(n));
      out.assign(t.int32_data().begin(), t.int32_data().end());
    }
  } else {
    throw Error(what + ": a " + data_type_name(t.data_type()) + " tensor where an INT64 list was expected");
  }
  return out;
}

void write_float_tensor(onnx::TensorProto* t, const std::string& name, const std::vector<int64_t>& dims,
                        const float* data) {
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  t->set_raw_data(std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(n) * 4));
}

NodeAttrs::NodeAttrs(const onnx::NodeProto& node, std::string where) : node_(node), where_(std::move(where)) {}

const onnx::AttributeProto* NodeAttrs::find(const std::string& name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::string NodeAttrs::value_text(const onnx::AttributeProto& a) const {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return std::to_string(a.i());
    case onnx::AttributeProto::FLOAT: {
      char b[32];
      std::snprintf(b, sizeof b, "%g", static_cast<double>(a.f()));
      return b;
    }
    case onnx::AttributeProto::STRING: return "'" + a.s().substr(0, 64) + "'";
    case onnx::AttributeProto::INTS: return ints_text({a.ints().begin(), a.ints().end()});
    default: return "(" + onnx::AttributeProto::AttributeType_Name(a.type()) + ")";
  }
}

void NodeAttrs::reject(const std::string& name, const std::string& why) const {
  const onnx::AttributeProto* a = find(name);
  throw Error(where_ + ": attribute '" + name + "'" + (a ? " = " + value_text(*a) : std::string()) + ": " + why);
}

void NodeAttrs::only(const std::vector<std::string>& known) const {
  for (const auto& a : node_.attribute()) {
    bool ok = false;
    for (const auto& k : known) ok = ok || k == a.name();
    if (!ok) reject(a.name(), "not supported by trim's importer for " + node_.op_type());
  }
}

int64_t NodeAttrs::i(const std::string& name, int64_t dflt) const {
  const onnx::AttributeProto* a = find(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::INT) reject(name, "expected an integer");
  return a->i();
}

float NodeAttrs::f(const std::string& name, float dflt) const {
  const onnx::AttributeProto* a = find(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::FLOAT) reject(name, "expected a float");
  if (!std::isfinite(a->f())) reject(name, "not a finite number");
  return a->f();
}

std::string NodeAttrs::s(const std::string& name, const std::string& dflt) const {
  const onnx::AttributeProto* a = find(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::STRING) reject(name, "expected a string");
  return a->s();
}

std::vector<int64_t> NodeAttrs::ints(const std::string& name, const std::vector<int64_t>& dflt) const {
  const onnx::AttributeProto* a = find(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::INTS) reject(name, "expected a list of integers");
  return {a->ints().begin(), a->ints().end()};
}

const onnx::TensorProto* NodeAttrs::tensor(const std::string& name) const {
  const onnx::AttributeProto* a = find(name);
  if (!a) return nullptr;
  if (a->type() != onnx::AttributeProto::TENSOR) reject(name, "expected a tensor");
  return &a->t();
}

}  // namespace onnx_io
}  // namespace trim
