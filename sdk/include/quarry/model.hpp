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
  /// Whether forward() is stochastic under a MonteCarloScope (quarry/random.hpp): it draws
  /// through quarry::dropout with p > 0, so QueryContext::predict_samples can ask it for
  /// Monte-Carlo passes. A model without dropout says false and such strategies refuse it.
  virtual bool stochastic() const { return false; }
  /// The classifier head alone: logits from penultimate features (N x feature_dim()), so that
  /// classify(forward(x).features) == forward(x).logits in eval mode; no dropout. Strategies
  /// that move features (dropquery, alfamix) need it. This default throws: a model whose head
  /// is not separable keeps it.
  virtual torch::Tensor classify(const torch::Tensor& features);
};

}  // namespace quarry
