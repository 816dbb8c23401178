// What a strategy sees of the host during one query (quarry::QueryContext), and the
// check every strategy's answer goes through before anything is recorded.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/pipeline/settings.hpp"
#include "quarry/strategy.hpp"

namespace quarry {

struct Experiment;

class HostQueryContext : public QueryContext {
 public:
  HostQueryContext(Experiment& e, const TrainConfig& cfg, std::vector<std::int64_t> labeled,
                   std::vector<std::int64_t> unlabeled, std::vector<std::int64_t> candidates, std::int64_t k,
                   std::int64_t memory_budget, std::uint64_t seed, Logger& log, std::string strategy = "",
                   std::string model = "");

  const std::vector<std::int64_t>& labeled() const override { return labeled_; }
  const std::vector<std::int64_t>& unlabeled() const override { return unlabeled_; }
  const std::vector<std::int64_t>& candidates() const override { return candidates_; }
  std::int64_t query_size() const override { return k_; }
  std::int64_t num_classes() const override;
  torch::Device device() const override;
  std::int64_t memory_budget_bytes() const override { return memory_; }
  std::mt19937_64& rng() override { return rng_; }
  Logger& log() override { return log_; }

  /// Probabilities and/or features of pool indices, in eval mode. A diverged model's NaN
  /// probabilities become uniform and its NaN features 0: strategies see an uninformative
  /// model, never NaN.
  Predictions predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) override;
  /// Monte-Carlo dropout passes (core/training/evaluation.hpp), seeded with one rng() draw; NaN
  /// rows of a diverged model become uniform. Refuses a model that is not stochastic(), naming
  /// the strategy and the model.
  torch::Tensor predict_samples(const std::vector<std::int64_t>& indices, std::int64_t samples) override;
  const std::vector<std::int64_t>& labeled_labels() const override { return labeled_labels_; }
  /// The model's classifier head in eval mode; a model without one is refused naming the
  /// strategy and the model.
  torch::Tensor classify(const torch::Tensor& features) override;

 private:
  Experiment& e_;
  const TrainConfig& cfg_;
  std::vector<std::int64_t> labeled_, unlabeled_, candidates_, labeled_labels_;
  std::int64_t k_, memory_;
  std::string strategy_, model_;  ///< names for messages
  std::mt19937_64 rng_;
  Logger& log_;
};

/// Check a strategy's answer; returns what is wrong, or nullopt.
std::optional<std::string> check_query(const std::vector<std::int64_t>& picked, std::int64_t expected,
                                       std::int64_t pool_size, const std::vector<char>& is_labeled);

}  // namespace quarry
