// Predictions and test metrics (accuracy, NLL, ECE) of a trained model.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/data/device_data.hpp"
#include "quarry/model.hpp"

namespace quarry {

struct EvalResult {
  double accuracy = 0;
  double nll = 0;
  double ece = 0;  ///< expected calibration error, 15 equal-width confidence bins
};

/// Softmax probabilities and/or features of `indices` of `split` (all when indices is empty),
/// eval mode, no augmentation, in batches of `batch`.
struct Outputs {
  torch::Tensor probabilities, features, logits;
};
Outputs predict(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                const std::vector<std::int64_t>& indices, std::int64_t batch, bool want_features,
                at::ScalarType autocast = at::kFloat);

/// Monte-Carlo dropout: `samples` stochastic passes over `indices` of `split` (no
/// augmentation, eval mode with dropout active through quarry::MonteCarloScope), as a
/// samples x N x C float32 tensor of softmax probabilities on the split's device. Each batch is
/// read once and passed `samples` times; every draw comes from a ModelRandomScope(seed), so the
/// same seed and batch size give the same samples. A model with Model::sample_logits runs its
/// trunk once per batch and only its head per pass (the same draws and values as `samples`
/// forward() passes, at a fraction of the cost).
torch::Tensor predict_samples(Model& model, const DeviceSplit& split, const torch::Tensor& mean,
                              const torch::Tensor& std, const std::vector<std::int64_t>& indices,
                              std::int64_t samples, std::int64_t batch, std::uint64_t seed,
                              at::ScalarType autocast = at::kFloat);

/// Accuracy, NLL and ECE of `model` on `split` (all of it, or `indices`).
EvalResult evaluate(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                    std::int64_t batch, const std::vector<std::int64_t>& indices = {}, at::ScalarType autocast = at::kFloat);

/// Metrics from logits and labels (CPU or device tensors).
EvalResult metrics_from_logits(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace quarry
