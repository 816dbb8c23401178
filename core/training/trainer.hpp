// Training under a configurable protocol (PROTOCOL.md, "Training"), and the seed's
// initial weights every cycle starts from.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/pipeline/settings.hpp"
#include "core/data/device_data.hpp"
#include "quarry/logger.hpp"
#include "quarry/model.hpp"

namespace quarry {

struct TrainResult {
  bool diverged = false;
  std::int64_t diverged_epoch = -1;  ///< first epoch with a non-finite loss
  std::int64_t epochs_run = 0;
  double final_loss = 0;             ///< mean loss of the last epoch run
  double seconds = 0;
};

/// The model's parameters and buffers, copied (the initial weights of a seed).
using WeightSnapshot = std::vector<torch::Tensor>;
WeightSnapshot snapshot_weights(torch::nn::Module& model);
void restore_weights(torch::nn::Module& model, const WeightSnapshot& snapshot);

/// Train `model` (already on data.device) on pool indices `indices` of `images`/`labels`.
/// Seeded by `seed`: on CPU the same seed gives bit-identical weights. Feature vectors are
/// never augmented; a model's loss_and_gradients() replaces autograd when it offers one; a
/// model that fits_after_training() gets after_training() on the labeled set at the end.
/// `stop_after` >= 0: only the first stop_after epochs of cfg's schedule run (a prefix of its
/// learning-rate curve; bench/hpo compares such prefixes with short full schedules).
TrainResult train_model(Model& model, const TrainConfig& cfg, const DeviceSplit& data, const torch::Tensor& mean,
                        const torch::Tensor& std, const std::vector<std::int64_t>& indices, std::uint64_t seed,
                        Logger* log = nullptr, std::int64_t stop_after = -1);

}  // namespace quarry
