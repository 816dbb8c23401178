// Reading and checking the parameters the vision models share. The host has
// already applied the ParamSpec ranges; these checks repeat them because a
// factory may be called directly, and the messages must still name the key.
#pragma once

#include <cstdint>
#include <string>

#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <quarry/model.hpp>
#include <quarry/params.hpp>

namespace quarry::vision {

/// The Int parameter `name`, or an Error naming it when it is not >= 1.
std::int64_t positive_int(const Params& params, const std::string& model, const std::string& name);

/// Input channels: the `in_channels` parameter when it is > 0, else the data's (spec).
std::int64_t input_channels(const Params& params, const ModelSpec& spec, const std::string& model);

/// The Float parameter `dropout`, or an Error naming it when it is not in [0, 1).
double dropout_probability(const Params& params, const std::string& model);

/// The data's class count, or an Error when it is not >= 1.
std::int64_t class_count(const ModelSpec& spec, const std::string& model);

/// N x C x H x W -> N x C: the mean over the spatial positions, so any input size works.
/// A 3x3 convolution with padding 1 and no bias (ResNet's and Wide ResNet's building block).
torch::nn::Conv2d conv3x3(std::int64_t in, std::int64_t out, std::int64_t stride);

inline torch::Tensor global_average_pool(const torch::Tensor& x) { return x.mean({2, 3}); }

}  // namespace quarry::vision
