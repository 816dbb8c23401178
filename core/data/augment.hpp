// Training-time augmentation as batched tensor ops on the batch's device.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace quarry {

/// Random crop with `padding` zero pixels and (optionally) horizontal flip, one draw
/// per image, as batched gathers on the batch's device. Draws come from `gen` (CPU).
torch::Tensor augment(const torch::Tensor& batch, std::int64_t padding, bool flip, at::Generator& gen);

}  // namespace quarry
