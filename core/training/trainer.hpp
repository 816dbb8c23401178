// Training and evaluation under a configurable protocol (PROTOCOL.md, "Training").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/pipeline/pipeline.hpp"
#include "core/data/device_data.hpp"
#include "quarry/logger.hpp"
#include "quarry/model.hpp"

namespace quarry {

/// Learning rate of `epoch` (0-based): linear warm-up from 0.01 x lr over
/// warmup_epochs, then cosine annealing to 0 over the remaining epochs.
double warmup_cosine(const TrainConfig& cfg, std::int64_t epoch);

struct TrainResult {
  bool diverged = false;
  std::int64_t diverged_epoch = -1;  ///< first epoch with a non-finite loss
  std::int64_t epochs_run = 0;
  double final_loss = 0;             ///< mean loss of the last epoch run
  double seconds = 0;
};

struct EvalResult {
  double accuracy = 0;
  double nll = 0;
  double ece = 0;  ///< expected calibration error, 15 equal-width confidence bins
};

/// The model's parameters and buffers, copied (the initial weights of a seed).
using WeightSnapshot = std::vector<torch::Tensor>;
WeightSnapshot snapshot_weights(torch::nn::Module& model);
void restore_weights(torch::nn::Module& model, const WeightSnapshot& snapshot);

/// Train `model` (already on data.device) on pool indices `indices` of `images`/`labels`.
/// Seeded by `seed`: on CPU the same seed gives bit-identical weights.
TrainResult train_model(Model& model, const TrainConfig& cfg, const DeviceSplit& data, const torch::Tensor& mean,
                        const torch::Tensor& std, const std::vector<std::int64_t>& indices, std::uint64_t seed,
                        Logger* log = nullptr);

/// Softmax probabilities and/or features of `indices` of `split` (all when indices is empty),
/// eval mode, no augmentation, in batches of `batch`.
struct Outputs {
  torch::Tensor probabilities, features, logits;
};
Outputs predict(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                const std::vector<std::int64_t>& indices, std::int64_t batch, bool want_features,
                bool mixed_precision = false);

/// Accuracy, NLL and ECE of `model` on `split` (all of it, or `indices`).
EvalResult evaluate(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                    std::int64_t batch, const std::vector<std::int64_t>& indices = {}, bool mixed_precision = false);

/// Metrics from logits and labels (CPU or device tensors).
EvalResult metrics_from_logits(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace quarry
