#include "core/al/query_context.hpp"

#include <torch/torch.h>

#include "core/training/evaluation.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/experiment.hpp"
#include "quarry/error.hpp"

namespace quarry {

HostQueryContext::HostQueryContext(Experiment& e, const TrainConfig& cfg, std::vector<std::int64_t> labeled,
                                   std::vector<std::int64_t> unlabeled, std::vector<std::int64_t> candidates,
                                   std::int64_t k, std::int64_t memory_budget, std::uint64_t seed, Logger& log)
    : e_(e), cfg_(cfg), labeled_(std::move(labeled)), unlabeled_(std::move(unlabeled)),
      candidates_(std::move(candidates)), k_(k), memory_(memory_budget), rng_(seed), log_(log) {}

std::int64_t HostQueryContext::num_classes() const { return e_.data.num_classes; }
torch::Device HostQueryContext::device() const { return e_.device; }

Predictions HostQueryContext::predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) {
  for (auto i : indices)
    if (i < 0 || i >= e_.data.pool.size())
      throw Error("strategy asked for predictions of pool index " + std::to_string(i) + ", outside the pool [0, " +
                  std::to_string(e_.data.pool.size()) + ")");
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
