// Fused trials (core/training/fused_trainer.hpp) against the same trainings one after another
// (train_model), in one run, for bench/hpo_fused/run.sh:
//   1. the float32 matrix-product peak of this machine: torch::mm on 2048 x 2048, best of 5;
//   2. K linear heads, 200 epochs at batch 64 on 4,000 x 384 embeddings of 10 classes, each
//      head its own lr, weight decay and momentum: fused on one input stream (a search's K
//      trials on one split: common random numbers, the same batches) and fused with every head
//      on batches of its own seed;
//   3. K small_cnn trainings (width 32, feature 128) on 1,000 3 x 32 x 32 images, batch 32,
//      random crop + flip, fused (own batches and augmentation per trial; and shared) vs
//      separate, with FLOP/s against the peak.
// Checks that fused weights equal unfused ones (largest absolute difference printed).
//
//   bench_hpo_fused THREADS HEADS HEAD_EPOCHS CNNS CNN_EPOCHS
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "core/training/fused_trainer.hpp"
#include "core/training/trainer.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

using namespace quarry;

namespace {

struct QuietLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};

double sgemm_peak() {
  const std::int64_t n = 2048;
  auto gen = at::detail::createCPUGenerator(1);
  auto a = torch::randn({n, n}, gen), b = torch::randn({n, n}, gen), c = torch::empty({n, n});
  torch::mm_out(c, a, b);  // warm-up
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = now_seconds();
    torch::mm_out(c, a, b);
    best = std::min(best, now_seconds() - t0);
  }
  return 2.0 * static_cast<double>(n * n * n) / best;
}

double max_diff(Model& a, Model& b) {
  double d = 0;
  auto pb = b.named_parameters();
  for (const auto& item : a.named_parameters())
    d = std::max(d, (item.value() - pb[item.key()]).abs().max().item<double>());
  return d;
}

struct Side {
  double seconds = 0, max_diff = 0;
};

/// K trainings one after another, then fused with shared and with own batches.
struct Comparison {
  Side alone, shared, own;
};

Comparison compare(const PluginHost& host, const std::string& name, const Params& params, const ModelSpec& spec,
                   const DeviceSplit& data, const torch::Tensor& mean, const torch::Tensor& std,
                   const std::vector<TrainConfig>& cfgs, const std::vector<std::int64_t>& labeled) {
  torch::manual_seed(3);
  auto initial = host.make_model(name, params, spec);
  const auto init = snapshot_weights(*initial);
  auto model = host.make_model(name, params, spec);
  std::vector<std::shared_ptr<Model>> trained;
  Comparison c;
  double t0 = now_seconds();
  for (std::size_t k = 0; k < cfgs.size(); ++k) {  // member k's seed: 1000 + k
    restore_weights(*model, init);
    train_model(*model, cfgs[k], data, mean, std, labeled, 1000 + k);
    trained.push_back(host.make_model(name, params, spec));
    restore_weights(*trained.back(), snapshot_weights(*model));
  }
  c.alone.seconds = now_seconds() - t0;
  for (bool share : {true, false}) {
    std::vector<FusedMember> members;
    for (std::size_t k = 0; k < cfgs.size(); ++k)
      members.push_back({cfgs[k], labeled, share ? 1000 : 1000 + k, initial.get()});
    std::string why;
    t0 = now_seconds();
    auto fused = FusedTraining::make(name, params, members, data, mean, std, why);
    if (!fused) throw Error("not fused: " + why);
    fused->run();
    auto& side = share ? c.shared : c.own;
    side.seconds = now_seconds() - t0;
    // Shared batches are member 0's (seed 1000): only it has an unfused twin.
    for (std::size_t k = 0; k < (share ? 1 : cfgs.size()); ++k) {
      restore_weights(*model, init);
      fused->load_member(k, *model);
      side.max_diff = std::max(side.max_diff, max_diff(*model, *trained[k]));
    }
  }
  return c;
}

std::vector<TrainConfig> settings(std::size_t k, std::int64_t epochs, std::int64_t batch, bool augment) {
  auto gen = at::detail::createCPUGenerator(11);
  std::vector<TrainConfig> out;
  for (std::size_t i = 0; i < k; ++i) {
    auto u = torch::rand({3}, gen);
    TrainConfig c;
    c.epochs = epochs;
    c.batch_size = batch;
    c.lr = std::pow(10.0, -3.0 + 2.5 * u[0].item<double>());
    c.weight_decay = std::pow(10.0, -5.0 + 3.0 * u[1].item<double>());
    c.momentum = 0.5 + 0.45 * u[2].item<double>();
    c.warmup_epochs = std::min<std::int64_t>(10, epochs / 4);
    c.augment = augment;
    out.push_back(c);
  }
  return out;
}

void print(const char* what, const Comparison& c, double flops_per_training, std::size_t k, double peak) {
  auto rate = [&](double s) { return flops_per_training * static_cast<double>(k) / s; };
  std::printf("%s\n", what);
  std::printf("  %-34s %9.2f s\n", "one after another", c.alone.seconds);
  std::printf("  %-34s %9.2f s  %6.1fx  max |dw| %.1e\n", "fused, shared batches (search)", c.shared.seconds,
              c.alone.seconds / c.shared.seconds, c.shared.max_diff);
  std::printf("  %-34s %9.2f s  %6.1fx  max |dw| %.1e\n", "fused, own batches per trial", c.own.seconds,
              c.alone.seconds / c.own.seconds, c.own.max_diff);
  if (flops_per_training > 0)
    std::printf("  GFLOP/s: one after another %.1f, fused shared %.1f, fused own %.1f (%.0f%% of the %.1f peak)\n",
                rate(c.alone.seconds) / 1e9, rate(c.shared.seconds) / 1e9, rate(c.own.seconds) / 1e9,
                100 * rate(c.own.seconds) / peak, peak / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: bench_hpo_fused THREADS HEADS HEAD_EPOCHS CNNS CNN_EPOCHS\n";
    return 2;
  }
  try {
    torch::set_num_threads(std::stoi(argv[1]));
    const auto heads = static_cast<std::size_t>(std::stoi(argv[2]));
    const auto head_epochs = std::stoll(argv[3]);
    const auto cnns = static_cast<std::size_t>(std::stoi(argv[4]));
    const auto cnn_epochs = std::stoll(argv[5]);
    QuietLogger log;
    PluginHost host(log);
    host.load_directory(QUARRY_PLUGIN_DIR);
    const double peak = sgemm_peak();
    std::printf("torch %s, %s threads; sgemm peak (torch::mm 2048^3): %.1f GFLOP/s\n", TORCH_VERSION, argv[1], peak / 1e9);

    if (heads > 0) {  // linear heads on embeddings
      auto gen = at::detail::createCPUGenerator(2);
      const std::int64_t n = 4000, d = 384, classes = 10;
      auto y = torch::randint(0, classes, {n}, gen, torch::kInt64);
      auto x = torch::randn({classes, d}, gen).index_select(0, y) * 0.5 + torch::randn({n, d}, gen);
      const DeviceSplit data{x, y};
      std::vector<std::int64_t> labeled(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) labeled[static_cast<std::size_t>(i)] = i;
      Params params("linear");
      params.apply_specs(host.get(ComponentKind::Model, "linear").info.params);
      const auto cfgs = settings(heads, head_epochs, 64, false);
      const auto c = compare(host, "linear", params, ModelSpec{0, 0, 0, classes, d}, data, {}, {}, cfgs, labeled);
      const double steps = static_cast<double>(head_epochs * (n / 64 + 1));
      const double flops = steps * 2.0 * 2.0 * 64.0 * static_cast<double>(d * classes);  // logits + weight gradient
      char what[160];
      std::snprintf(what, sizeof what, "%zu linear heads, %lld epochs at batch 64 on %lld x %lld embeddings:", heads,
                    static_cast<long long>(head_epochs), static_cast<long long>(n), static_cast<long long>(d));
      print(what, c, flops, heads, peak);
    }
    if (cnns > 0) {  // small_cnn on images
      auto gen = at::detail::createCPUGenerator(3);
      const std::int64_t n = 1000, classes = 10, hw = 32, ch = 3, w = 32, f = 128;
      auto y = torch::randint(0, classes, {n}, gen, torch::kInt64);
      auto x = (torch::rand({n, ch, hw, hw}, gen) * 180 + y.view({n, 1, 1, 1}).to(torch::kFloat32) * 7).to(torch::kUInt8);
      const DeviceSplit data{x, y};
      const auto mean = torch::full({1, ch, 1, 1}, 110.0f), std = torch::full({1, ch, 1, 1}, 55.0f);
      std::vector<std::int64_t> labeled(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) labeled[static_cast<std::size_t>(i)] = i;
      Params params("small_cnn");
      params.apply_specs(host.get(ComponentKind::Model, "small_cnn").info.params);
      const auto cfgs = settings(cnns, cnn_epochs, 32, true);
      const auto c = compare(host, "small_cnn", params, ModelSpec{ch, hw, hw, classes}, data, mean, std, cfgs, labeled);
      // Forward FLOPs per image (convolutions and Linear layers); training ~3x (forward, two backward).
      const double fwd = 2.0 * static_cast<double>(hw * hw * ch * 9 * w + (hw / 2) * (hw / 2) * w * 9 * 2 * w +
                                                   2 * w * f + f * classes);
      const double images = static_cast<double>(cnn_epochs * (n / 32 + 1) * 32);
      char what[160];
      std::snprintf(what, sizeof what, "%zu small_cnn trainings, %lld epochs at batch 32 on %lld images of 3x32x32:",
                    cnns, static_cast<long long>(cnn_epochs), static_cast<long long>(n));
      print(what, c, 3.0 * fwd * images, cnns, peak);
    }
  } catch (const std::exception& e) {
    std::cerr << "bench_hpo_fused: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
