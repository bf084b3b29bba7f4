// test_engine_plan.cpp - buffer planning by value lifetime (framework/engine/plan.h): a chain
// alternates two buffers exactly like the ping-pong it replaced, and a value several steps read
// keeps its buffer until the last of them has run.
#include <gtest/gtest.h>

#include <vector>

#include "framework/engine/plan.h"
#include "framework/kernels/kernels.h"

namespace trim {
namespace engine_detail {
namespace {

Step affine(int in, int out, int c, int hw) {
  Step s;
  s.op = Op::Affine;
  s.name = "s" + std::to_string(out);
  s.inputs = {in};
  s.output = out;
  s.cin = s.cout = c;
  s.ih = s.iw = s.oh = s.ow = hw;
  return s;
}

TEST(EnginePlan, ChainAlternatesTwoBuffersSizedForTheLargestMap) {
  const auto& t = *kernels::kernels_for("ref");
  std::vector<Step> steps;
  for (int i = 0; i < 5; ++i) steps.push_back(affine(i, i + 1, 3 + i, 8 - i));
  assign_channel_strides(steps, t);
  BufferPlan p = plan_buffers(steps, t, Shape{3, 8, 8}, 1, 0, size_t(1) << 30);
  ASSERT_EQ(p.buffer_floats.size(), 2u);
  EXPECT_EQ(p.input_buf, 0);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(steps[i].in_buf, i % 2) << i;  // step i reads act[i % 2], writes act[(i + 1) % 2]
    EXPECT_EQ(steps[i].out_buf, (i + 1) % 2) << i;
    EXPECT_EQ(steps[i].in_cs, i == 0 ? p.in_cs : steps[i - 1].out_cs) << i;
  }
  EXPECT_EQ(p.output_buf, 1);
  size_t biggest = 3 * 8 * 8;
  for (const auto& s : steps) biggest = std::max(biggest, output_floats(s));
  EXPECT_EQ(p.buffer_floats[0], biggest);
  EXPECT_EQ(p.buffer_floats[1], biggest);
}

TEST(EnginePlan, ValueReadBySeveralStepsStaysAliveUntilTheLast) {
  const auto& t = *kernels::kernels_for("ref");
  // value 1 is read by steps 1, 2 and 3; step 3 also outlives value 2 and 3.
  std::vector<Step> steps = {affine(0, 1, 4, 4), affine(1, 2, 4, 4), affine(1, 3, 4, 4), affine(1, 4, 4, 4),
                             affine(4, 5, 4, 4)};
  assign_channel_strides(steps, t);
  BufferPlan p = plan_buffers(steps, t, Shape{4, 4, 4}, 1, 0, size_t(1) << 30);
  const int b1 = steps[0].out_buf;
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(steps[i].in_buf, b1) << i;
    EXPECT_NE(steps[i].out_buf, b1) << i << ": wrote over a value still to be read";
  }
  // After its last reader (step 3), value 1's buffer is free again.
  EXPECT_EQ(steps[4].in_buf, steps[3].out_buf);
  EXPECT_NE(steps[4].out_buf, steps[4].in_buf);
  EXPECT_EQ(p.output_buf, steps[4].out_buf);
  EXPECT_LE(p.buffer_floats.size(), 3u);
}

TEST(EnginePlan, NoStepsLeavesTheInputAsTheOutput) {
  const auto& t = *kernels::kernels_for("ref");
  std::vector<Step> steps;
  BufferPlan p = plan_buffers(steps, t, Shape{10, 1, 1}, 2, 0, size_t(1) << 30);
  EXPECT_EQ(p.input_buf, p.output_buf);
  EXPECT_EQ(p.buffer_floats.size(), 1u);
}

}  // namespace
}  // namespace engine_detail
}  // namespace trim
