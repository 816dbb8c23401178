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
/// constructor, compute in forward(). Input is normalised float N x C x H x W, or float
/// N x input_dim feature vectors when the spec says so. In eval mode, softmax(logits) is
/// the model's predictive distribution (a Laplace head returns its approximate
/// predictive there), which evaluation and every strategy use.
class Model : public torch::nn::Module {
 public:
  virtual ModelOutput forward(const torch::Tensor& x) = 0;
  virtual std::int64_t feature_dim() const = 0;

  /// Optional fast path for small heads: in training mode, the mean cross-entropy of
  /// forward(x).logits against labels y, with every parameter's grad() set to its
  /// gradient, computed without autograd (a scalar tensor). The default returns an
  /// undefined tensor, and the host runs forward() and autograd instead (for the rest of that
  /// training: decline on the first call or never). Must give the
  /// gradients autograd would (tests/test_embeddings.cpp checks the in-tree heads).
  virtual torch::Tensor loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) {
    (void)x, (void)y;
    return {};
  }

  /// Whether the host should call after_training() (default: no; it then never builds
  /// the labeled set's inputs for it).
  virtual bool fits_after_training() const { return false; }

  /// Called once after each training that did not diverge, in eval mode and without
  /// gradients, with the whole labeled set as forward() receives it and its labels
  /// (int64 N), on the model's device. Laplace heads fit their posterior here. Keep what
  /// it computes in buffers: the host resets a model by restoring its parameters and
  /// buffers, and a fit must not outlive the weights it was fitted to.
  virtual void after_training(const torch::Tensor& x, const torch::Tensor& y) { (void)x, (void)y; }

  /// Whether forward() is stochastic under a MonteCarloScope (quarry/random.hpp): it draws
  /// through quarry::dropout with p > 0, so QueryContext::predict_samples can ask it for
  /// Monte-Carlo passes. A model without dropout says false and such strategies refuse it.
  virtual bool stochastic() const { return false; }
  /// Optional fast path for Monte-Carlo passes, for a model whose only randomness is dropout
  /// between its features and its logits (logits = head(dropout(features)), as small_cnn,
  /// resnet18 and the mlp head): the logits of one pass from forward(x).features, drawing through
  /// quarry::dropout exactly as forward() draws (write forward() as {sample_logits(f), f}). The
  /// host then runs the deterministic trunk once per batch and only the head per pass: the same
  /// draws and probabilities for S times fewer trunk passes (as the Bayesian module of Kirsch et
  /// al.'s BatchBALD code keeps its deterministic part out of the sampling). The default returns
  /// an undefined tensor: the host then runs forward() once per pass (decline on the first call).
  virtual torch::Tensor sample_logits(const torch::Tensor& features) {
    (void)features;
    return {};
  }
  /// The classifier head alone: logits from penultimate features (N x feature_dim()), so that
  /// classify(forward(x).features) == forward(x).logits in eval mode; no dropout. Strategies
  /// that move features (dropquery, alfamix) need it. This default throws: a model whose head
  /// is not separable keeps it.
  virtual torch::Tensor classify(const torch::Tensor& features);
};

}  // namespace quarry
