// What each epoch of a training does: the learning rate (warm-up + cosine) and the
// batches it draws (PROTOCOL.md, "Training").
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/pipeline/settings.hpp"

namespace quarry {

/// Learning rate of `epoch` (0-based): linear warm-up from 0.01 x lr over
/// warmup_epochs, then cosine annealing to 0 over the remaining epochs.
double warmup_cosine(const TrainConfig& cfg, std::int64_t epoch);

/// The batches of one epoch over n labeled images, as positions 0..n-1.
/// "sampled" (the reference): floor(n / batch) + 1 full batches drawn across concatenated
/// random permutations; "shuffled": one pass over a permutation, the last batch shorter.
std::vector<torch::Tensor> epoch_batches(std::int64_t n, const TrainConfig& cfg, at::Generator& gen);

}  // namespace quarry
