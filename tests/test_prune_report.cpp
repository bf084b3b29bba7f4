// report.json: a figure that was measured is written as a number whatever its sign (a pruned model
// better than the dense one has a negative accuracy drop); one that was not is null.
#include <gtest/gtest.h>

#include "pruning/report.h"

namespace trim {
namespace {

TEST(PruneReport, NegativeDropsAreWrittenAsNumbersNotNull) {
  PruneReport r;
  r.dense.macs = 1000;
  r.final_model.macs = 250;
  r.dense.val_acc = 0.90;
  r.final_model.val_acc = 0.91;  // better after pruning
  r.dense.test_acc = 0.80;
  r.final_model.test_acc = 0.8125;
  ASSERT_TRUE(r.test_drop_points());
  EXPECT_NEAR(*r.test_drop_points(), -1.25, 1e-9);
  EXPECT_NEAR(*r.val_drop_points(), -1.0, 1e-9);
  const std::string j = report_json(r);
  EXPECT_NE(j.find("\"test_drop_points\": -1.25"), std::string::npos) << j;
  EXPECT_NE(j.find("\"val_drop_points\": -1"), std::string::npos) << j;
  EXPECT_NE(j.find("\"macs_reduction\": 4"), std::string::npos) << j;
  // Latency was not measured: null, and so is the speedup.
  EXPECT_NE(j.find("\"latency_ms\": null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"speedup\": null"), std::string::npos) << j;
  EXPECT_NE(report_summary(r).find("(+1.25 points)"), std::string::npos) << report_summary(r);
}

TEST(PruneReport, UnmeasuredAccuracyIsNullAndAZeroIsAZero) {
  PruneReport r;
  r.dense.test_acc = 0.0;  // measured: a model at zero accuracy
  r.final_model.test_acc = 0.0;
  const std::string j = report_json(r);
  EXPECT_NE(j.find("\"test_drop_points\": 0"), std::string::npos) << j;
  EXPECT_NE(j.find("\"val_drop_points\": null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"val_acc\": null"), std::string::npos) << j;
}

TEST(PruneReport, StringsWithControlCharactersStayValidJson) {
  PruneReport r;
  r.model_path = "runs/a\nb\t\"c\".model";
  const std::string j = report_json(r);
  EXPECT_NE(j.find("\"model\": \"runs/a\\nb\\t\\\"c\\\".model\""), std::string::npos) << j;
}

}  // namespace
}  // namespace trim
