// fuzz_model_desc - the text model description (NAME.model): model_from_desc builds the model,
// and whatever it accepts must print (model_to_desc) to a description that parses back to the
// same text and the same parameter count.
#include "framework/model_file.h"
#include "fuzz/fuzz_target.h"

TRIM_FUZZ_TARGET(model_desc) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  trim::Model m;
  if (!trim::fuzz::accepted([&] { m = trim::model_from_desc(text, "fuzz.model"); })) return false;
  const std::string printed = trim::model_to_desc(m);
  const size_t params = m.num_params();
  const int64_t macs = m.macs();
  m = trim::Model();  // one model at a time: descriptions near the size limits are large
  if (!trim::fuzz::accepted([&] { m = trim::model_from_desc(printed, "printed.model"); }))
    trim::fuzz::invariant_failed("model_to_desc wrote a description model_from_desc rejects");
  if (trim::model_to_desc(m) != printed) trim::fuzz::invariant_failed("description does not round-trip");
  if (m.num_params() != params || m.macs() != macs) trim::fuzz::invariant_failed("re-parsed model differs in parameters or MACs");
  return true;
}
