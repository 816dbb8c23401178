// Heads for feature vectors (embeddings): a linear classifier and a one-hidden-layer MLP,
// each optionally with a last-layer Laplace approximation (heads/laplace.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include <quarry/model.hpp>
#include <quarry/params.hpp>
#include <torch/nn/modules/linear.h>

#include "heads/fast_step.hpp"
#include "heads/laplace.hpp"

namespace quarry::heads {

/// logits = W x + b. features() = x itself (what BADGE and coreset see). Trains without
/// autograd through loss_and_gradients(): the gradients are closed-form.
class LinearHead : public Model {
 public:
  LinearHead(const Params& params, const ModelSpec& spec);
  static std::vector<ParamSpec> param_specs();
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return in_; }
  /// The features are the input: classify(x) = forward(x).logits.
  torch::Tensor classify(const torch::Tensor& features) override { return forward(features).logits; }
  torch::Tensor loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) override;
  bool fits_after_training() const override { return laplace_.options().enabled; }
  void after_training(const torch::Tensor& x, const torch::Tensor& y) override;
  const LastLayerLaplace& laplace() const { return laplace_; }

 private:
  std::int64_t in_;
  torch::nn::Linear fc_;
  LastLayerLaplace laplace_;
  torch::Tensor minus_ones_;  ///< B x 1 of -1, for p - onehot
  StepBuffers buffers_;       ///< the CPU step's logits and their gradient
};

/// logits = W2 dropout(relu(W1 x + b1)) + b2; features() = the hidden layer. Trains without
/// autograd on the CPU (loss_and_gradients()).
class MlpHead : public Model {
 public:
  MlpHead(const Params& params, const ModelSpec& spec);
  static std::vector<ParamSpec> param_specs();
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return hidden_; }
  /// Monte-Carlo dropout passes (predict_samples) when dropout > 0.
  bool stochastic() const override { return dropout_ > 0; }
  /// One Monte-Carlo pass of the output layer on the hidden features; forward() uses it.
  torch::Tensor sample_logits(const torch::Tensor& features) override;
  /// On the CPU: the step's gradients without autograd (dropout drawn as forward() draws it).
  torch::Tensor loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) override;
  /// The output layer on hidden features (with the Laplace predictive once fitted, in eval mode).
  torch::Tensor classify(const torch::Tensor& features) override;
  bool fits_after_training() const override { return laplace_.options().enabled; }
  void after_training(const torch::Tensor& x, const torch::Tensor& y) override;
  const LastLayerLaplace& laplace() const { return laplace_; }

 private:
  torch::Tensor hidden(const torch::Tensor& x);
  std::int64_t hidden_;
  double dropout_;
  torch::nn::Linear fc1_, fc2_;
  LastLayerLaplace laplace_;
  StepBuffers buffers_;  ///< the CPU step's hidden layer, logits and their gradients
};

}  // namespace quarry::heads
