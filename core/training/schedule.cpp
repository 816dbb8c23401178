#include "core/training/schedule.hpp"

#include <cmath>

#include <torch/torch.h>

namespace quarry {

double warmup_cosine(const TrainConfig& cfg, std::int64_t epoch) {
  const auto w = cfg.warmup_epochs;
  if (epoch < w) return cfg.lr * (0.01 + 0.99 * static_cast<double>(epoch) / static_cast<double>(w));
  const auto span = cfg.epochs - w;
  if (span <= 0) return cfg.lr;
  const double t = static_cast<double>(epoch - w) / static_cast<double>(span);
  return cfg.lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

std::vector<torch::Tensor> epoch_batches(std::int64_t n, const TrainConfig& cfg, at::Generator& gen) {
  std::vector<torch::Tensor> batches;
  const auto b = cfg.batch_size;
  if (cfg.epoch_mode == "shuffled") {
    auto perm = torch::randperm(n, gen, torch::kInt64);
    for (std::int64_t s = 0; s < n; s += b) batches.push_back(perm.narrow(0, s, std::min(b, n - s)));
    return batches;
  }
  // The reference: floor(n / batch) + 1 batches of `batch`, drawn across the labeled set
  // (concatenated random permutations, so every image appears at least once an epoch).
  const auto n_batches = n / b + 1;
  const auto need = n_batches * b;
  std::vector<torch::Tensor> perms;
  for (std::int64_t have = 0; have < need; have += n) perms.push_back(torch::randperm(n, gen, torch::kInt64));
  auto all = torch::cat(perms).narrow(0, 0, need);
  for (std::int64_t i = 0; i < n_batches; ++i) batches.push_back(all.narrow(0, i * b, b));
  return batches;
}

}  // namespace quarry
