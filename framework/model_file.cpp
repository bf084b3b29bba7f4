#include "framework/model_file.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>

#include "framework/strings.h"

namespace trim {

namespace {

const char kMagic[8] = {'T', 'R', 'I', 'M', 'W', 'T', 'S', '1'};
const uint32_t kVersion = 1;

std::string stem_of(const std::string& model_path) {
  return ends_with(model_path, ".model") ? model_path.substr(0, model_path.size() - 6) : model_path;
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t crc_of(const char* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

// Bounds-checked little-endian reader that names the file and what it was reading.
struct Reader {
  const std::string& bytes;
  const std::string& path;
  size_t pos = 0;
  void need(size_t n, const std::string& what) {
    if (n > bytes.size() || pos > bytes.size() - n)
      throw Error(path + ": truncated while reading " + what + " (offset " + std::to_string(pos) + ", file has " +
                  std::to_string(bytes.size()) + " bytes)");
  }
  uint32_t u32(const std::string& what) {
    need(4, what);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + i])) << (8 * i);
    pos += 4;
    return v;
  }
};

// A NaN or an infinity in a weight makes every output NaN, and a negative BN running variance
// makes 1/sqrt(var + eps) NaN: such a file evaluates to garbage without a word, so it is refused
// here, naming the tensor and the first bad element.
void check_values(const float* v, size_t n, const std::string& tensor, const std::string& path) {
  const bool variance = ends_with(tensor, ".running_var");
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i]))
      throw Error(path + ": tensor '" + tensor + "' element " + std::to_string(i) + " is " +
                  (std::isnan(v[i]) ? "NaN" : "infinite") + " (the weights are unusable)");
    if (variance && v[i] < 0.f)
      throw Error(path + ": tensor '" + tensor + "' element " + std::to_string(i) + " is a negative variance (" +
                  std::to_string(v[i]) + ")");
  }
}

}  // namespace

// A class name must come back from NAME.classes as it went in: one per line, trimmed on reading.
void check_class_name(const std::string& name, const std::string& where) {
  if (name.empty()) throw Error(where + ": empty class name");
  if (trim_ws(name) != name)
    throw Error(where + ": class name '" + name + "' starts or ends with white space (NAME.classes trims it)");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", c);
      throw Error(where + ": class name holds control character " + std::string(hex) +
                  " (a newline would split it in NAME.classes); rename the class");
    }
}

std::string model_to_desc(const Model& m) {
  std::ostringstream s;
  s << "[input]\nchannels=" << m.input[0] << "\nheight=" << m.input[1] << "\nwidth=" << m.input[2] << "\n";
  for (const auto& l : m.layers) {
    LayerDesc d;
    d.type = l->type();
    l->write_desc(d);
    s << "\n[" << d.type << "]\nname=" << l->name() << "\n";
    for (const auto& kv : d.kv) s << kv.first << "=" << kv.second << "\n";
  }
  return s.str();
}

Model model_from_desc(const std::string& text, const std::string& filename) {
  std::vector<LayerDesc> sections;
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    std::string line = trim_ws(raw.substr(0, raw.find('#')));
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3)
        throw Error(filename + ":" + std::to_string(lineno) + ": malformed section header '" + line + "'");
      LayerDesc d;
      d.type = trim_ws(line.substr(1, line.size() - 2));
      d.file = filename;
      d.line = lineno;
      sections.push_back(d);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      throw Error(filename + ":" + std::to_string(lineno) + ": expected key=value, got '" + line + "'");
    if (sections.empty())
      throw Error(filename + ":" + std::to_string(lineno) + ": key before the first [section]");
    std::string key = trim_ws(line.substr(0, eq)), value = trim_ws(line.substr(eq + 1));
    if (key.empty()) throw Error(filename + ":" + std::to_string(lineno) + ": empty key");
    if (sections.back().has(key))
      throw Error(filename + ":" + std::to_string(lineno) + ": key '" + key + "' given twice in [" +
                  sections.back().type + "]");
    sections.back().kv.emplace_back(key, value);
    sections.back().kv_lines.push_back(lineno);
  }
  if (sections.empty() || sections.front().type != "input")
    throw Error(filename + ": the first section must be [input] (channels, height, width)");
  Model m;
  const LayerDesc& inp = sections.front();
  for (const auto& kv : inp.kv)
    if (kv.first != "channels" && kv.first != "height" && kv.first != "width")
      throw Error(inp.where(kv.first) + ": unknown key '" + kv.first + "' (known: channels, height, width)");
  int c = inp.require_int("channels"), h = inp.require_int("height"), w = inp.require_int("width");
  if (c <= 0 || h <= 0 || w <= 0 || c > 4096 || h > 16384 || w > 16384)
    throw Error(inp.where() + ": input size " + std::to_string(c) + "x" + std::to_string(h) + "x" +
                std::to_string(w) + " is out of range");
  m.input = Shape{c, h, w};
  for (size_t i = 1; i < sections.size(); ++i) {
    std::unique_ptr<Layer> l;
    try {
      l = make_layer(sections[i]);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(sections[i].where() + ": " + e.what());
    }
    m.add(std::move(l));
  }
  try {
    m.build();
  } catch (const Error& e) {
    throw Error(filename + ": " + e.what());
  }
  return m;
}

void save_weights(const Model& m, const std::string& path) { write_file_atomic(path, serialize_weights(m)); }

void load_weights(Model& m, const std::string& path) { deserialize_weights(m, read_file(path), path); }

std::string serialize_weights(const Model& m) {
  std::string out(kMagic, 8);
  put_u32(out, kVersion);
  auto params = const_cast<Model&>(m).params();
  put_u32(out, static_cast<uint32_t>(params.size()));
  for (const auto& p : params) {
    put_u32(out, static_cast<uint32_t>(p.name.size()));
    out += p.name;
    const Shape& s = p.value->shape();
    put_u32(out, static_cast<uint32_t>(s.rank()));
    for (int d : s.dims) put_u32(out, static_cast<uint32_t>(d));
    out.resize((out.size() + 63) / 64 * 64, '\0');
    size_t n = p.value->numel() * sizeof(float);
    // trim only targets little-endian machines (x86-64, aarch64): floats are written as they are.
    out.append(reinterpret_cast<const char*>(p.value->data()), n);
  }
  put_u32(out, crc_of(out.data(), out.size()));
  return out;
}

void deserialize_weights(Model& m, const std::string& bytes, const std::string& path) {
  Reader r{bytes, path};
  r.need(8, "magic");
  if (std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw Error(path + ": not a trim weights file (bad magic; expected TRIMWTS1)");
  r.pos = 8;
  uint32_t version = r.u32("version");
  if (version != kVersion)
    throw Error(path + ": unsupported weights version " + std::to_string(version) + " (this build reads " +
                std::to_string(kVersion) + ")");
  if (bytes.size() < 16) throw Error(path + ": truncated (no checksum)");
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i)
    stored_crc |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[bytes.size() - 4 + i])) << (8 * i);
  uint32_t count = r.u32("tensor count");
  auto params = m.params();
  std::map<std::string, NamedParam*> want;
  for (auto& p : params) want[p.name] = &p;
  std::map<std::string, bool> seen;
  const size_t data_end = bytes.size() - 4;
  for (uint32_t t = 0; t < count; ++t) {
    std::string what = "tensor #" + std::to_string(t);
    uint32_t len = r.u32(what + " name length");
    if (len == 0 || len > 4096) throw Error(path + ": " + what + " has a bad name length " + std::to_string(len));
    r.need(len, what + " name");
    std::string name = bytes.substr(r.pos, len);
    r.pos += len;
    what = "tensor '" + name + "'";
    uint32_t rank = r.u32(what + " rank");
    if (rank < 1 || rank > 4) throw Error(path + ": " + what + " has rank " + std::to_string(rank) + " (1..4 allowed)");
    std::vector<int> dims;
    size_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      uint32_t v = r.u32(what + " shape");
      if (v > (1u << 28)) throw Error(path + ": " + what + " has an absurd dimension " + std::to_string(v));
      dims.push_back(static_cast<int>(v));
      numel *= v;
      if (numel > (size_t(1) << 32)) throw Error(path + ": " + what + " is absurdly large");
    }
    const size_t data_start = (r.pos + 63) / 64 * 64;
    if (data_start > data_end || numel * sizeof(float) > data_end - data_start)
      throw Error(path + ": truncated inside " + what + " data");
    for (size_t i = r.pos; i < data_start; ++i)
      if (bytes[i] != '\0')
        throw Error(path + ": " + what + ": padding byte at offset " + std::to_string(i) +
                    " is not zero (the file is corrupt)");
    r.pos = data_start;
    auto it = want.find(name);
    if (it == want.end()) throw Error(path + ": unexpected " + what + " (the model description has no such parameter)");
    if (seen[name]) throw Error(path + ": " + what + " appears twice");
    seen[name] = true;
    Shape got(dims);
    if (got != it->second->value->shape())
      throw Error(path + ": " + what + " has shape " + got.str() + " but the model needs " +
                  it->second->value->shape().str());
    float* dst = it->second->value->data();
    std::memcpy(dst, bytes.data() + r.pos, numel * sizeof(float));
    check_values(dst, numel, name, path);
    r.pos += numel * sizeof(float);
  }
  if (r.pos != data_end)
    throw Error(path + ": " + std::to_string(data_end - r.pos) + " unexpected bytes after the last tensor");
  if (crc_of(bytes.data(), data_end) != stored_crc) throw Error(path + ": checksum mismatch (file is corrupt)");
  for (auto& p : params)
    if (!seen[p.name]) throw Error(path + ": missing tensor '" + p.name + "'");
}

std::string weights_path_for(const std::string& model_path) { return stem_of(model_path) + ".weights"; }
std::string classes_path_for(const std::string& model_path) { return stem_of(model_path) + ".classes"; }

void save_model(const Model& m, const std::string& path) {
  std::string model_path = stem_of(path) + ".model";
  // Weights first: a reader that finds the new description also finds matching weights.
  save_weights(m, weights_path_for(model_path));
  const std::string classes = classes_path_for(model_path);
  if (!m.class_names.empty()) {
    if (static_cast<int>(m.class_names.size()) != m.classes())
      throw Error(model_path + ": " + std::to_string(m.class_names.size()) + " class names for a model with " +
                  std::to_string(m.classes()) + " outputs");
    std::string names;
    for (const auto& n : m.class_names) {
      check_class_name(n, classes);
      names += n + "\n";
    }
    write_file_atomic(classes, names);
  } else if (::unlink(classes.c_str()) != 0 && errno != ENOENT) {
    // A .classes left from an earlier model saved here would give this one the wrong names.
    throw Error(classes + ": cannot remove the stale class names (" + std::strerror(errno) + ")");
  }
  write_file_atomic(model_path, model_to_desc(m));
}

Model load_model(const std::string& path) {
  std::string model_path = stem_of(path) + ".model";
  Model m = model_from_desc(read_file(model_path), model_path);
  load_weights(m, weights_path_for(model_path));
  const std::string classes = classes_path_for(model_path);
  struct stat st;
  if (::stat(classes.c_str(), &st) == 0) {
    std::istringstream cf(read_file(classes));
    std::string line;
    while (std::getline(cf, line)) {
      line = trim_ws(line);
      if (!line.empty()) m.class_names.push_back(line);
    }
    if (static_cast<int>(m.class_names.size()) != m.classes())
      throw Error(classes_path_for(model_path) + ": " + std::to_string(m.class_names.size()) +
                  " class names but the model has " + std::to_string(m.classes()) + " outputs");
  }
  return m;
}

}  // namespace trim
