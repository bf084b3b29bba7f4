#include "framework/trainer.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <sys/stat.h>

#include "framework/data_parallel.h"
#include "framework/evaluate.h"
#include "framework/model_file.h"
#include "framework/progress.h"
#include "framework/threads.h"

namespace trim {

namespace {

// Version 2 ends with a CRC-32 of every byte before it (version 1 checksummed only the weights
// inside it, so a damaged optimizer state or counter resumed silently).
const char kCkptMagic[8] = {'T', 'R', 'I', 'M', 'C', 'K', 'P', '2'};
const char kCkptMagicV1[8] = {'T', 'R', 'I', 'M', 'C', 'K', 'P', '1'};

uint32_t crc32_of(const std::string& b, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t pos = 0; pos < n;) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n - pos, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(b.data() + pos), chunk);
    pos += chunk;
  }
  return static_cast<uint32_t>(crc);
}

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_blob(std::string& s, const std::string& blob) {
  put_u64(s, blob.size());
  s += blob;
}

struct CkptReader {
  const std::string& b;
  const std::string& path;
  size_t pos = 8;
  uint64_t u64() {
    if (b.size() < 8 || pos > b.size() - 8) throw Error(path + ": truncated checkpoint");
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[pos + i])) << (8 * i);
    pos += 8;
    return v;
  }
  std::string blob() {
    uint64_t n = u64();
    if (n > b.size() - pos) throw Error(path + ": truncated checkpoint");
    std::string s = b.substr(pos, n);
    pos += n;
    return s;
  }
};

std::string stats_csv_header() {
  return "epoch,lr,train_loss,train_acc,val_loss,val_acc,seconds,images_per_s,skipped\n";
}

std::string stats_csv_line(const EpochStats& e) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%d,%.6g,%.5f,%.5f,%.5f,%.5f,%.2f,%.1f,%zu\n", e.epoch, e.lr, e.train_loss, e.train_acc,
                e.val_loss, e.val_acc, e.seconds, e.images_per_s, e.skipped);
  return buf;
}

uint64_t step_seed(uint64_t seed, int epoch, size_t step) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL ^ (static_cast<uint64_t>(epoch) << 32) ^ step;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void ensure_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::string cur;
  std::stringstream ss(dir);
  std::string part;
  if (dir[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part + "/";
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error(cur + ": cannot create output folder (" + std::strerror(errno) + ")");
  }
}

struct Checkpoint {
  int epochs_done = 0;
  double best_val = -1;
  int best_epoch = 0;
  std::string best_weights;  // serialized weights of the best epoch
  std::vector<EpochStats> history;
};

std::string encode_history(const std::vector<EpochStats>& h) {
  std::string s;
  for (const auto& e : h) s += stats_csv_line(e);
  return s;
}

std::vector<EpochStats> decode_history(const std::string& s) {
  std::vector<EpochStats> h;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    EpochStats e;
    if (std::sscanf(line.c_str(), "%d,%f,%lf,%lf,%lf,%lf,%lf,%lf,%zu", &e.epoch, &e.lr, &e.train_loss, &e.train_acc,
                    &e.val_loss, &e.val_acc, &e.seconds, &e.images_per_s, &e.skipped) == 9)
      h.push_back(e);
  }
  return h;
}

void save_checkpoint(const std::string& path, const Model& model, Sgd& sgd, const Checkpoint& c) {
  std::string s(kCkptMagic, 8);
  put_blob(s, model_to_desc(model));
  put_blob(s, serialize_weights(model));
  put_blob(s, std::string(reinterpret_cast<const char*>(sgd.velocity().data()), sgd.velocity().numel() * sizeof(float)));
  put_u64(s, static_cast<uint64_t>(c.epochs_done));
  put_u64(s, static_cast<uint64_t>(c.best_epoch));
  uint64_t bv;
  std::memcpy(&bv, &c.best_val, 8);
  put_u64(s, bv);
  put_blob(s, c.best_weights);
  put_blob(s, encode_history(c.history));
  const uint32_t crc = crc32_of(s, s.size());
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  write_file_atomic(path, s);
}

// Restores weights, velocity and bookkeeping; the model must have the checkpoint's description.
// The whole file is checksummed, and every counter must fit the run being resumed (`epochs`).
// b: the checkpoint file's bytes (read by rank 0 and sent to every process in a distributed run).
Checkpoint load_checkpoint(std::string b, const std::string& path, Model& model, Sgd& sgd, int epochs) {
  if (b.size() >= 8 && std::memcmp(b.data(), kCkptMagicV1, 8) == 0)
    throw Error(path + ": checkpoint of an older trim (TRIMCKP1, not checksummed as a whole); start the run again");
  if (b.size() < 12 || std::memcmp(b.data(), kCkptMagic, 8) != 0) throw Error(path + ": not a trim checkpoint");
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= static_cast<uint32_t>(static_cast<unsigned char>(b[b.size() - 4 + i])) << (8 * i);
  if (crc32_of(b, b.size() - 4) != stored) throw Error(path + ": checksum mismatch (the checkpoint is corrupt)");
  b.resize(b.size() - 4);
  CkptReader r{b, path};
  std::string desc = r.blob();
  if (desc != model_to_desc(model))
    throw Error(path + ": checkpoint is for a different model (architecture differs); use another --out folder");
  deserialize_weights(model, r.blob(), path);
  std::string vel = r.blob();
  if (vel.size() != sgd.velocity().numel() * sizeof(float)) throw Error(path + ": optimizer state has the wrong size");
  std::memcpy(sgd.velocity().data(), vel.data(), vel.size());
  for (size_t i = 0; i < sgd.velocity().numel(); ++i)
    if (!std::isfinite(sgd.velocity()[i]))
      throw Error(path + ": optimizer state element " + std::to_string(i) + " is not finite");
  Checkpoint c;
  const uint64_t done = r.u64(), best = r.u64();
  if (done > static_cast<uint64_t>(epochs))
    throw Error(path + ": checkpoint is after epoch " + std::to_string(done) + " but this run has " +
                std::to_string(epochs) + " epochs (use the same --epochs, or another --out folder)");
  if (best > done)
    throw Error(path + ": best epoch " + std::to_string(best) + " is after the last epoch done (" + std::to_string(done) + ")");
  c.epochs_done = static_cast<int>(done);
  c.best_epoch = static_cast<int>(best);
  uint64_t bv = r.u64();
  std::memcpy(&c.best_val, &bv, 8);
  if (!(c.best_val == -1 || (c.best_val >= 0 && c.best_val <= 1)))
    throw Error(path + ": best validation accuracy " + std::to_string(c.best_val) + " is not in [0, 1]");
  c.best_weights = r.blob();
  if (!c.best_weights.empty()) {
    Model probe = model.clone();
    deserialize_weights(probe, c.best_weights, path + " (best-epoch weights)");
  }
  c.history = decode_history(r.blob());
  if (c.history.size() != done)
    throw Error(path + ": " + std::to_string(c.history.size()) + " epochs of history for " + std::to_string(done) +
                " epochs done");
  for (size_t i = 0; i < c.history.size(); ++i)
    if (c.history[i].epoch != static_cast<int>(i) + 1 || !std::isfinite(c.history[i].lr))
      throw Error(path + ": history line " + std::to_string(i + 1) + " is damaged");
  if (r.pos != b.size()) throw Error(path + ": trailing bytes in checkpoint");
  return c;
}

}  // namespace

std::string checkpoint_path(const std::string& out_dir) { return out_dir + "/checkpoint.trim"; }

TrainResult train(Model& model, BatchSource& train_data, BatchSource* val_data, const TrainOptions& opt) {
  opt.schedule.validate();
  ThreadScope threads(opt.threads);
  Sgd sgd(model, opt.sgd);
  Workspace ws;
  std::mt19937_64 rng;
  Context ctx;
  ctx.workspace = &ws;
  ctx.rng = &rng;
  const int epochs = opt.schedule.epochs;
  const size_t nb = train_data.batches_per_epoch();

  Tensor images, dlogits;
  GradientSum dp(opt.parallel, dlogits, train_data, opt.hooks);
  StepHooks* hooks = dp.active() ? &dp : opt.hooks;
  const bool progress = opt.progress && dp.leader();
  const bool write = !opt.out_dir.empty() && dp.leader();  // only rank 0 writes files
  Checkpoint ck;
  if (write) ensure_dir(opt.out_dir);
  const std::string ckpt = opt.out_dir.empty() ? "" : checkpoint_path(opt.out_dir);
  if (opt.resume) {
    if (ckpt.empty()) throw Error("--resume needs an output folder");
    // Rank 0's checkpoint, sent to every process (the other machines need no copy of it).
    std::string bytes;
    if (dp.leader() && ::access(ckpt.c_str(), F_OK) == 0) bytes = read_file(ckpt);
    dp.broadcast(bytes);
    if (!bytes.empty()) {
      ck = load_checkpoint(bytes, ckpt, model, sgd, epochs);
      if (progress)
        std::fprintf(stderr, "%s: resuming from %s after epoch %d of %d\n", opt.label.c_str(), ckpt.c_str(),
                     ck.epochs_done, epochs);
    } else if (progress) {
      std::fprintf(stderr, "%s: no checkpoint in %s, starting from scratch\n", opt.label.c_str(), opt.out_dir.c_str());
    }
  }
  dp.check_same_start(model, nb, opt.label);

  TrainResult res;
  res.epochs = ck.history;
  res.best_val_acc = ck.best_val;
  res.best_epoch = ck.best_epoch;
  double total_images = 0, total_seconds = 0;
  std::vector<int> labels;
  const int last_epoch = opt.stop_after > 0 ? std::min(epochs, opt.stop_after) : epochs;
  for (int epoch = ck.epochs_done; epoch < last_epoch; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    ctx.mode = Mode::Train;
    train_data.start_epoch(epoch);
    Progress bar(opt.label + " epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), nb, progress);
    double loss_sum = 0;
    size_t correct_sum = 0, seen = 0;
    float lr = 0;
    for (size_t step = 0; train_data.next(images, labels); ++step) {
      lr = opt.schedule.at(epoch + static_cast<double>(step) / static_cast<double>(nb));
      rng.seed(step_seed(opt.seed, epoch, step));
      dp.before_forward(ctx);
      const StepResult r = train_step(model, sgd, ctx, images, labels, lr, dlogits, hooks);
      if (!r.updated)
        throw Error(opt.label + ": loss became " + std::to_string(r.loss) + " at epoch " + std::to_string(epoch + 1) +
                    " step " + std::to_string(step + 1) + " (learning rate " + std::to_string(lr) + " too high?)");
      loss_sum += r.loss * static_cast<double>(labels.size());
      correct_sum += static_cast<size_t>(r.correct);
      seen += labels.size();
      bar.update(step + 1, seen, loss_sum / static_cast<double>(seen),
                 static_cast<double>(correct_sum) / static_cast<double>(seen));
    }
    double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.finish();
    size_t skipped = train_data.skipped_samples();
    dp.end_epoch(model, loss_sum, correct_sum, seen, skipped, opt.label);
    EpochStats e;
    e.epoch = epoch + 1;
    e.lr = lr;
    e.train_loss = seen ? loss_sum / static_cast<double>(seen) : 0;
    e.train_acc = seen ? static_cast<double>(correct_sum) / static_cast<double>(seen) : 0;
    e.images_per_s = static_cast<double>(seen) / std::max(train_seconds, 1e-9);
    e.skipped = skipped;
    total_images += static_cast<double>(seen);
    total_seconds += train_seconds;
    if (val_data) {
      EvalResult v = evaluate(model, *val_data, 0, dp.active() ? opt.parallel.comm : nullptr);
      e.val_loss = v.loss;
      e.val_acc = v.top1;
    }
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.epochs.push_back(e);
    bool best = val_data ? e.val_acc > res.best_val_acc : true;
    if (best) {
      res.best_val_acc = val_data ? e.val_acc : -1;
      res.best_epoch = e.epoch;
    }
    if (progress) {
      std::fprintf(stderr, "%s epoch %d/%d: lr %.4g  loss %.4f  acc %.2f%%", opt.label.c_str(), e.epoch, epochs, e.lr,
                   e.train_loss, 100 * e.train_acc);
      if (val_data) std::fprintf(stderr, "  val loss %.4f  val acc %.2f%%%s", e.val_loss, 100 * e.val_acc, best ? " *" : "");
      std::fprintf(stderr, "  %.0f img/s  %.1f s", e.images_per_s, e.seconds);
      if (e.skipped) std::fprintf(stderr, "  (%zu unreadable samples skipped)", e.skipped);
      std::fprintf(stderr, "\n");
    }
    if (write) {
      ck.epochs_done = epoch + 1;
      ck.history = res.epochs;
      ck.best_val = res.best_val_acc;
      ck.best_epoch = res.best_epoch;
      if (best) {
        ck.best_weights = serialize_weights(model);
        save_model(model, opt.out_dir + "/" + opt.name + ".model");
      }
      save_model(model, opt.out_dir + "/" + opt.name + "-last.model");
      std::string csv = stats_csv_header();
      for (const auto& h : res.epochs) csv += stats_csv_line(h);
      write_file_atomic(opt.out_dir + "/log.csv", csv);
      save_checkpoint(ckpt, model, sgd, ck);
    } else if (best) {
      ck.best_weights = serialize_weights(model);
    }
  }
  if (!ck.best_weights.empty()) deserialize_weights(model, ck.best_weights, "best-epoch weights");
  res.images_per_s = total_seconds > 0 ? total_images / total_seconds : 0;
  res.train_seconds = total_seconds;
  res.gradient_sum_seconds = dp.sum_seconds();
  res.gradient_sums = dp.sums();
  return res;
}

}  // namespace trim
