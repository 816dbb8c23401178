// Model plugins: a torch::nn::Module that gives logits and penultimate features.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace quarry {

/// What the host tells a model factory about the data.
struct ModelSpec {
  std::int64_t in_channels = 3;
  std::int64_t height = 32;
  std::int64_t width = 32;
  std::int64_t num_classes = 10;
  /// > 0 when the dataset gives feature vectors: inputs are float32 N x input_dim, and
  /// in_channels, height and width are 0. A model for images refuses such a spec.
  std::int64_t input_dim = 0;
};

struct ModelOutput {
  torch::Tensor logits;    ///< N x num_classes
  torch::Tensor features;  ///< N x feature_dim(), the penultimate layer
};

/// Write models in the PyTorch C++ frontend idiom: register submodules in the
/// constructor, compute in forward(). Input is normalised float N x C x H x W.
class Model : public torch::nn::Module {
 public:
  virtual ModelOutput forward(const torch::Tensor& x) = 0;
  virtual std::int64_t feature_dim() const = 0;
};

}  // namespace quarry
