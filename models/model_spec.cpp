// model_spec.cpp - see model_spec.h.
#include "models/model_spec.h"

#include "framework/model_file.h"
#include "framework/strings.h"
#include "models/zoo.h"

namespace trim {

Model load_model_spec(const std::string& spec) {
  if (ends_with(spec, ".model")) return load_model(spec);
  Model m = build_model_spec(spec);
  m.init_params(1);  // latency does not depend on the values; a fixed seed keeps runs comparable
  return m;
}

}  // namespace trim
