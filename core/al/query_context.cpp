#include "core/al/query_context.hpp"

#include <torch/torch.h>

#include "core/training/evaluation.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/experiment.hpp"
#include "quarry/error.hpp"

namespace quarry {

HostQueryContext::HostQueryContext(Experiment& e, const TrainConfig& cfg, std::vector<std::int64_t> labeled,
                                   std::vector<std::int64_t> unlabeled, std::vector<std::int64_t> candidates,
                                   std::int64_t k, std::int64_t memory_budget, std::uint64_t seed, Logger& log,
                                   std::string strategy, std::string model)
    : e_(e), cfg_(cfg), labeled_(std::move(labeled)), unlabeled_(std::move(unlabeled)),
      candidates_(std::move(candidates)), k_(k), memory_(memory_budget), strategy_(std::move(strategy)),
      model_(std::move(model)), rng_(seed), log_(log) {
  const auto labels = e_.data.pool_labels_cpu.defined() ? e_.data.pool_labels_cpu.to(torch::kLong).contiguous()
                                                        : e_.data.pool.labels.to(torch::kCPU, torch::kLong).contiguous();
  const auto* l = labels.data_ptr<std::int64_t>();
  labeled_labels_.reserve(labeled_.size());
  for (auto i : labeled_) {
    if (i < 0 || i >= labels.numel())
      throw Error("labeled pool index " + std::to_string(i) + " is outside the pool [0, " +
                  std::to_string(labels.numel()) + ")");
    labeled_labels_.push_back(l[i]);
  }
}

std::int64_t HostQueryContext::num_classes() const { return e_.data.num_classes; }
torch::Device HostQueryContext::device() const { return e_.device; }

namespace {
void check_indices(const std::vector<std::int64_t>& indices, std::int64_t pool_size) {
  for (auto i : indices)
    if (i < 0 || i >= pool_size)
      throw Error("strategy asked for predictions of pool index " + std::to_string(i) + ", outside the pool [0, " +
                  std::to_string(pool_size) + ")");
}
}  // namespace

torch::Tensor HostQueryContext::predict_samples(const std::vector<std::int64_t>& indices, std::int64_t samples) {
  const auto strategy = strategy_.empty() ? std::string("this strategy") : "strategy '" + strategy_ + "'";
  const auto model = model_.empty() ? std::string("the model") : "model '" + model_ + "'";
  if (!e_.model->stochastic())
    throw Error(strategy + " needs Monte-Carlo samples but " + model +
                " has no dropout (give it a dropout > 0, e.g. [model] dropout = 0.3)");
  if (samples < 1) throw Error(strategy + " asked for " + std::to_string(samples) + " Monte-Carlo samples; need >= 1");
  check_indices(indices, e_.data.pool.size());
  if (indices.empty()) return torch::empty({samples, 0, num_classes()}, torch::TensorOptions(e_.device));
  auto p = quarry::predict_samples(*e_.model, e_.data.pool, e_.data.mean, e_.data.std, indices, samples,
                                   cfg_.predict_batch_size, rng_(), autocast_dtype(cfg_));
  const auto bad = p.isnan().any(2, true);
  return torch::where(bad, torch::full_like(p, 1.0 / static_cast<double>(p.size(2))), p);
}

torch::Tensor HostQueryContext::classify(const torch::Tensor& features) {
  const bool was_training = e_.model->is_training();
  e_.model->train(false);
  torch::Tensor logits;
  try {
    logits = e_.model->classify(features);
  } catch (const std::exception& ex) {
    e_.model->train(was_training);
    throw Error((strategy_.empty() ? std::string("this strategy") : "strategy '" + strategy_ + "'") +
                " needs the classifier head of " + (model_.empty() ? std::string("the model") : "model '" + model_ + "'") +
                ": " + ex.what());
  }
  e_.model->train(was_training);
  return logits.to(torch::kFloat);
}

Predictions HostQueryContext::predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) {
  check_indices(indices, e_.data.pool.size());
  Predictions out;
  if (indices.empty()) return out;
  auto o = quarry::predict(*e_.model, e_.data.pool, e_.data.mean, e_.data.std, indices, cfg_.predict_batch_size,
                           features, autocast_dtype(cfg_));
  if (probabilities) {
    auto p = o.probabilities;
    auto bad = p.isnan().any(1, true);
    out.probabilities = torch::where(bad, torch::full_like(p, 1.0 / static_cast<double>(p.size(1))), p);
  }
  if (features) out.features = torch::nan_to_num(o.features, 0.0, 0.0, 0.0);
  return out;
}

std::optional<std::string> check_query(const std::vector<std::int64_t>& picked, std::int64_t expected,
                                       std::int64_t pool_size, const std::vector<char>& is_labeled) {
  if (static_cast<std::int64_t>(picked.size()) != expected)
    return "returned " + std::to_string(picked.size()) + " indices, expected exactly " + std::to_string(expected);
  std::vector<char> seen(static_cast<std::size_t>(pool_size), 0);
  for (auto i : picked) {
    if (i < 0 || i >= pool_size)
      return "returned index " + std::to_string(i) + ", outside the pool [0, " + std::to_string(pool_size) + ")";
    if (is_labeled[static_cast<std::size_t>(i)]) return "returned index " + std::to_string(i) + ", which is already labeled";
    if (seen[static_cast<std::size_t>(i)]++) return "returned index " + std::to_string(i) + " twice";
  }
  return std::nullopt;
}

}  // namespace quarry
