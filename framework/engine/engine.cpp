// engine.cpp - InferenceEngine: builds the plan (lowering, fusion, packing, planning: lower.h,
// fuse.h, pack.h, plan.h) and runs it, image by image, on the caller and the worker pool (the
// ops are in ops.h).
#include "framework/engine/engine.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <sstream>

#include "framework/engine/float_buffer.h"
#include "framework/engine/fuse.h"
#include "framework/engine/lower.h"
#include "framework/engine/ops.h"
#include "framework/engine/pack.h"
#include "framework/engine/passes.h"
#include "framework/engine/plan.h"
#include "framework/engine/step.h"
#include "framework/engine/worker_pool.h"
#include "framework/threads.h"

namespace trim {

namespace ed = engine_detail;

namespace {
// CPU time of the calling thread (profiling).
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
}  // namespace

struct InferenceEngine::Impl {
  std::vector<ed::Step> steps;
  ed::BufferPlan plan;
  std::vector<int> tasks;  // pieces per step (index 0: the input conversion, then step i at i + 1)
  // Per image, in one of two slots (see worker_pool.h): the next unclaimed piece and the pieces
  // finished of every work item, and the image's input.
  struct Run {
    std::unique_ptr<std::atomic<int>[]> next, done;
    const float* in = nullptr;
    InferenceEngine* engine = nullptr;
  };
  Run runs[2];
  std::unique_ptr<WorkerPool> pool;
  FloatBuffer weights;            // every packed weight and bias, one block
  std::vector<FloatBuffer> act;   // activation buffers (plan.buffer_floats)
  FloatBuffer scratch;            // per thread: im2col blocks, bands and windows of fused steps
  std::atomic<bool> running{false};  // a run is in progress (run() is not re-entrant)
};

InferenceEngine::InferenceEngine(const Model& model, const EngineOptions& opt)
    : impl_(new Impl), table_(opt.isa ? opt.isa : &kernels::kernels()) {
  if (!model.built()) throw Error("inference engine: the model is not built");
  // Graph models (from=, add, concat) train and evaluate through the model; lowering their
  // branches and the residual add into steps is not written yet (issue 15, engine side).
  if (const int g = model.first_graph_layer(); g >= 0)
    throw Error("graph models are not supported by the inference engine yet: layer '" + model.layers[g]->name() +
                "' (" + model.layers[g]->type() + ")");
  threads_ = resolve_threads(opt.threads, "inference engine");
  input_ = model.input;
  output_ = model.output_shape();
  Impl& im = *impl_;
  im.steps = ed::lower(optimize_for_inference(model));
  ed::fuse_activations(im.steps);
  ed::assign_channel_strides(im.steps, *table_);
  im.weights = ed::pack_weights(im.steps, *table_, opt.max_memory_bytes);
  ed::fuse_depthwise_pointwise(im.steps, opt.fuse_min_bytes);
  if (opt.chain) ed::chain_steps(im.steps, opt.fuse_min_bytes);
  im.plan = ed::plan_buffers(im.steps, *table_, input_, threads_, im.weights.size(), opt.max_memory_bytes);
  ed::plan_splits(im.steps, *table_, threads_);
  for (size_t f : im.plan.buffer_floats) im.act.emplace_back(f);
  im.scratch = FloatBuffer(std::max<size_t>(im.plan.scratch_per_thread * threads_, 1));
  im.tasks.push_back(threads_ > 1 && input_[1] * input_[2] >= 4096 ? 4 * threads_ : 1);
  for (const auto& s : im.steps) im.tasks.push_back(ed::plan_tasks(s, *table_, threads_));
  for (auto& r : impl_->runs) {
    r.next.reset(new std::atomic<int>[impl_->tasks.size()]);
    r.done.reset(new std::atomic<int>[impl_->tasks.size()]);
    r.engine = this;
  }
  if (threads_ > 1) impl_->pool.reset(new WorkerPool(threads_ - 1));
  for (const auto& s : impl_->steps) {
    EngineStep e;
    e.name = s.name;
    e.kind = ed::op_name(s.op);
    e.out = Shape{s.cout, s.oh, s.ow};
    e.macs = s.macs;
    steps_.push_back(e);
  }
  profile_ = opt.profile;
}

InferenceEngine::~InferenceEngine() = default;

// Piece j of work item w of the image in `in` (w = 0: the NCHW -> NHWC conversion; w = i + 1:
// step i, from and into the buffers plan_buffers gave it).
void InferenceEngine::work(const float* in, size_t w, int j, int tid) {
  Impl& im = *impl_;
  if (w == 0) {
    const int c = input_[0], pixels = input_[1] * input_[2];
    const size_t cs = im.plan.in_cs;
    int b, e;
    ed::split_range(pixels, im.tasks[0], 64, j, b, e);
    float* cur = im.act[im.plan.input_buf].data();
    for (int p = b; p < e; ++p)
      for (int ch = 0; ch < c; ++ch) cur[static_cast<size_t>(p) * cs + ch] = in[static_cast<size_t>(ch) * pixels + p];
    return;
  }
  const ed::Step& s = im.steps[w - 1];
  ed::exec(s, *table_, im.weights.data(), im.scratch.data() + tid * im.plan.scratch_per_thread,
           im.act[s.in_buf].data(), im.act[s.out_buf].data(), j, im.tasks[w]);
}

// Every thread of an image runs this: claim pieces of each work item in order, then wait until
// the pieces other threads claimed are finished. The caller (tid 0) times the items.
void InferenceEngine::work_loop(void* run_state, int tid) {
  auto& r = *static_cast<Impl::Run*>(run_state);
  Impl& im = *impl_;
  const bool timing = profile_ && tid == 0;
  double t0 = timing ? omp_get_wtime() : 0.0, c0 = timing ? thread_cpu_seconds() : 0.0;
  for (size_t w = 0; w < im.tasks.size(); ++w) {
    const int total = im.tasks[w];
    for (int j; (j = r.next[w].fetch_add(1, std::memory_order_relaxed)) < total;) {
      work(r.in, w, j, tid);
      r.done[w].fetch_add(1, std::memory_order_release);
    }
    spin_until([&] { return r.done[w].load(std::memory_order_acquire) >= total; });
    if (timing) {
      const double t1 = omp_get_wtime(), c1 = thread_cpu_seconds();
      if (w > 0) record(w - 1, t1 - t0, c1 - c0);
      t0 = t1;
      c0 = c1;
    }
  }
}

namespace {
// Marks an engine busy for the duration of a run: a second run() while one is in progress (from
// another thread) would share the activation buffers and the pool's slots, so it is refused.
class RunGuard {
 public:
  explicit RunGuard(std::atomic<bool>& running) : running_(running) {
    if (running_.exchange(true, std::memory_order_acquire))
      throw Error("inference engine: run() called while another run of the same engine is in progress; an engine "
                  "runs one image at a time (use one engine per calling thread)");
  }
  ~RunGuard() { running_.store(false, std::memory_order_release); }
  RunGuard(const RunGuard&) = delete;
  RunGuard& operator=(const RunGuard&) = delete;

 private:
  std::atomic<bool>& running_;
};
}  // namespace

void InferenceEngine::run(const float* in, float* out) {
  RunGuard guard(impl_->running);
  run_image(in, out);
}

void InferenceEngine::run_image(const float* in, float* out) {
  Impl& im = *impl_;
  const size_t items = im.tasks.size();
  if (!im.pool) {
    for (size_t w = 0; w < items; ++w) {
      const double t0 = profile_ ? omp_get_wtime() : 0.0, c0 = profile_ ? thread_cpu_seconds() : 0.0;
      for (int j = 0; j < im.tasks[w]; ++j) work(in, w, j, 0);
      if (profile_ && w > 0) record(w - 1, omp_get_wtime() - t0, thread_cpu_seconds() - c0);
    }
  } else {
    Impl::Run& r = im.runs[im.pool->begin()];
    for (size_t w = 0; w < items; ++w) {
      r.next[w].store(0, std::memory_order_relaxed);
      r.done[w].store(0, std::memory_order_relaxed);
    }
    r.in = in;
    im.pool->offer([](void* ctx, int tid) { static_cast<Impl::Run*>(ctx)->engine->work_loop(ctx, tid); }, &r);
    work_loop(&r, 0);
  }
  // The output is classes x 1 x 1 (Model::build checks), so NHWC and NCHW coincide. With no steps
  // (a model of flatten or dropout layers on a 1 x 1 input) it is the converted input itself.
  std::memcpy(out, im.act[im.plan.output_buf].data(), sizeof(float) * output_.numel());
}

void InferenceEngine::record(size_t step, double seconds, double cpu_seconds) {
  EngineStep& st = steps_[step];
  st.min_seconds = st.runs == 0 ? seconds : std::min(st.min_seconds, seconds);
  st.seconds += seconds;
  st.cpu_seconds += cpu_seconds;
  st.runs += 1;
}

const Tensor& InferenceEngine::run(const Tensor& x) {
  RunGuard guard(impl_->running);
  // Shapes are compared dimension by dimension: building a Shape would allocate.
  const bool single = x.rank() == 3;
  const int n = single ? 1 : x.dim(0);
  bool ok = (single || x.rank() == 4) && n >= 1;
  for (int d = 0; ok && d < 3; ++d) ok = x.dim(single ? d : d + 1) == input_[d];
  if (!ok) throw Error("inference engine: expected input N x " + input_.str() + ", got " + x.shape().str());
  bool same = out_.rank() == 4 && out_.dim(0) == n;
  for (int d = 0; same && d < 3; ++d) same = out_.dim(d + 1) == output_[d];
  if (!same) out_.resize(Shape{n, output_[0], output_[1], output_[2]});
  const size_t in_per = input_.numel(), out_per = output_.numel();
  for (int i = 0; i < n; ++i) run_image(x.data() + i * in_per, out_.data() + i * out_per);
  return out_;
}

int64_t InferenceEngine::macs() const {
  int64_t m = 0;
  for (const auto& s : steps_) m += s.macs;
  return m;
}

size_t InferenceEngine::weight_bytes() const { return impl_->weights.size() * sizeof(float); }

size_t InferenceEngine::workspace_bytes() const {
  size_t floats = impl_->scratch.size();
  for (const auto& a : impl_->act) floats += a.size();
  return floats * sizeof(float);
}

void InferenceEngine::reset_profile() {
  for (auto& s : steps_) s.seconds = 0, s.min_seconds = 0, s.cpu_seconds = 0, s.runs = 0;
}

std::string InferenceEngine::summary() const {
  std::ostringstream o;
  o << "inference plan (" << table_->isa << ", " << threads_ << " thread" << (threads_ == 1 ? "" : "s") << ")\n";
  for (const auto& s : steps_)
    o << "  " << std::left << std::setw(14) << s.kind << std::setw(18) << s.out.str() << std::right << std::setw(12)
      << s.macs << "  " << s.name << "\n";
  o << "  weights " << weight_bytes() / 1024 << " KiB, workspace " << workspace_bytes() / 1024 << " KiB\n";
  return o.str();
}

}  // namespace trim
