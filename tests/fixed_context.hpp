// A QueryContext over fixed tensors, one row per pool index, for driving strategy plugins in
// tests: probabilities, features, Monte-Carlo samples (S x pool x C) and pool labels.
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "quarry/error.hpp"
#include "quarry/strategy.hpp"

namespace quarry::testing {

struct SilentLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string&) override {}
};

class FixedPoolContext : public QueryContext {
 public:
  struct Pool {
    torch::Tensor probabilities;  ///< pool x C (optional)
    torch::Tensor features;       ///< pool x D (optional)
    torch::Tensor samples;        ///< S x pool x C (optional)
    std::vector<std::int64_t> labels;  ///< pool (optional)
    torch::Tensor head_weight, head_bias;  ///< a linear classifier head C x D, C (optional)
    std::int64_t num_classes = 0;
  };
  FixedPoolContext(Pool pool, std::vector<std::int64_t> labeled, std::int64_t query_size, std::uint64_t seed)
      : pool_(std::move(pool)), labeled_(std::move(labeled)), query_size_(query_size), rng_(seed) {
    const auto size = pool_.features.defined()        ? pool_.features.size(0)
                      : pool_.probabilities.defined() ? pool_.probabilities.size(0)
                                                      : pool_.samples.size(1);
    std::set<std::int64_t> l(labeled_.begin(), labeled_.end());
    for (std::int64_t i = 0; i < size; ++i)
      if (!l.count(i)) unlabeled_.push_back(i);
    candidates_ = unlabeled_;
    for (auto i : labeled_)
      if (!pool_.labels.empty()) labeled_labels_.push_back(pool_.labels.at(static_cast<std::size_t>(i)));
  }
  void set_candidates(std::vector<std::int64_t> c) { candidates_ = std::move(c); }

  const std::vector<std::int64_t>& labeled() const override { return labeled_; }
  const std::vector<std::int64_t>& unlabeled() const override { return unlabeled_; }
  const std::vector<std::int64_t>& candidates() const override { return candidates_; }
  std::int64_t query_size() const override { return query_size_; }
  std::int64_t num_classes() const override { return pool_.num_classes; }
  torch::Device device() const override { return torch::kCPU; }
  std::int64_t memory_budget_bytes() const override { return budget; }
  std::mt19937_64& rng() override { return rng_; }
  Logger& log() override { return log_; }
  Predictions predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) override {
    ++predict_calls;
    const auto idx = torch::tensor(indices, torch::kLong);
    Predictions out;
    if (probabilities) out.probabilities = pool_.probabilities.index_select(0, idx);
    if (features) out.features = pool_.features.index_select(0, idx);
    return out;
  }
  torch::Tensor predict_samples(const std::vector<std::int64_t>& indices, std::int64_t samples) override {
    if (!pool_.samples.defined()) return QueryContext::predict_samples(indices, samples);
    if (samples != pool_.samples.size(0))
      throw Error("test context holds " + std::to_string(pool_.samples.size(0)) + " samples, asked for " +
                  std::to_string(samples));
    ++sample_calls;
    return pool_.samples.index_select(1, torch::tensor(indices, torch::kLong));
  }
  torch::Tensor classify(const torch::Tensor& features) override {
    if (!pool_.head_weight.defined()) return QueryContext::classify(features);
    return torch::addmm(pool_.head_bias, features, pool_.head_weight.t());
  }
  const std::vector<std::int64_t>& labeled_labels() const override {
    if (pool_.labels.empty()) return QueryContext::labeled_labels();
    return labeled_labels_;
  }

  std::int64_t budget = std::int64_t{256} << 20;
  int predict_calls = 0, sample_calls = 0;

 private:
  Pool pool_;
  std::vector<std::int64_t> labeled_, unlabeled_, candidates_, labeled_labels_;
  std::int64_t query_size_;
  std::mt19937_64 rng_;
  SilentLogger log_;
};

}  // namespace quarry::testing
