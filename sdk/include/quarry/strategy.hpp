// Query strategies: given the current model and the pool, pick what to label next.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/types.h>

#include "quarry/logger.hpp"

namespace quarry {

/// The current model's outputs on pool images (no augmentation, eval mode, no grad),
/// float32 on the model's device. A tensor is undefined when it was not asked for.
struct Predictions {
  torch::Tensor probabilities;  ///< N x C softmax
  torch::Tensor features;       ///< N x D penultimate features
};

/// What the host gives a strategy for one query. Indices are pool indices
/// (the training pool after the validation split is held out).
class QueryContext {
 public:
  virtual ~QueryContext() = default;

  /// Labeled pool indices, in acquisition order.
  virtual const std::vector<std::int64_t>& labeled() const = 0;
  /// Every unlabeled pool index, ascending.
  virtual const std::vector<std::int64_t>& unlabeled() const = 0;
  /// The unlabeled indices to score this cycle: a seeded random subset of
  /// `candidate_subset` of them, or all when candidate_subset = 0. Ascending.
  virtual const std::vector<std::int64_t>& candidates() const = 0;
  /// How many indices to return.
  virtual std::int64_t query_size() const = 0;
  virtual std::int64_t num_classes() const = 0;
  /// Where predictions live; do heavy tensor work there.
  virtual torch::Device device() const = 0;
  /// Bytes a strategy may use for temporary matrices (chunk distance products under it).
  virtual std::int64_t memory_budget_bytes() const = 0;
  /// Seeded from (run seed, cycle): the same seed gives the same draws.
  virtual std::mt19937_64& rng() = 0;
  virtual Logger& log() = 0;

  /// Run the current model over `indices` in batches of the prediction batch size.
  virtual Predictions predict(const std::vector<std::int64_t>& indices, bool probabilities,
                              bool features) = 0;

  /// Monte-Carlo predictions for the Bayesian strategies: `samples` stochastic passes of the
  /// current model over `indices`, as a samples x N x C tensor of softmax probabilities
  /// (float32, on device()). Dropout is active (MonteCarloScope), batch norm and everything
  /// else in eval mode; every draw comes from a generator seeded with one rng() call, so a
  /// seed gives the same samples. Throws an Error naming the strategy and the model when the
  /// model has no dropout (Model::stochastic() is false). This default throws for contexts
  /// that have no model (fixed tensors in tests); the host's context implements it.
  virtual torch::Tensor predict_samples(const std::vector<std::int64_t>& indices, std::int64_t samples);
  /// The class labels of labeled(), in the same order. This default throws for contexts
  /// without labels; the host's context implements it.
  virtual const std::vector<std::int64_t>& labeled_labels() const;

  /// The current model's classifier head (Model::classify) on penultimate features (N x D, on
  /// device()): N x C logits, eval mode. Differentiable: gradients reach `features` when they
  /// require grad. Throws an Error naming the strategy and the model when the model has no
  /// separable head. This default throws for contexts without a model.
  virtual torch::Tensor classify(const torch::Tensor& features);

  torch::Tensor probabilities(const std::vector<std::int64_t>& indices) {
    return predict(indices, true, false).probabilities;
  }
  torch::Tensor features(const std::vector<std::int64_t>& indices) {
    return predict(indices, false, true).features;
  }
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  /// Return exactly min(query_size, |unlabeled|) distinct unlabeled pool indices.
  /// The host checks this and stops the run with an error otherwise.
  virtual std::vector<std::int64_t> query(QueryContext& ctx) = 0;
};

/// Helpers shared by score-based strategies.
/// Indices of the k largest scores (ties broken by lower position), mapped through `candidates`.
std::vector<std::int64_t> top_k(const torch::Tensor& scores, const std::vector<std::int64_t>& candidates,
                                std::int64_t k);

}  // namespace quarry
