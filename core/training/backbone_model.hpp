// A fine-tuned [backbone] (finetune = true): the TorchScript network in front of the pipeline's
// model (a head on its features), trained end to end as one quarry::Model.
#pragma once

#include <memory>
#include <vector>

#include "core/pipeline/settings.hpp"
#include "quarry/model.hpp"

namespace torch::jit {
struct Module;
}

namespace quarry {

class BackboneModel : public Model {
 public:
  /// `backbone` maps backbone_normalise()d images to N x D features; `head` takes those
  /// (its spec's input_dim = D). The host normalises images with the dataset's mean/std
  /// (data_mean, data_std, per channel); forward() undoes that before the backbone's own
  /// normalisation. The backbone's parameters and buffers are registered here (the same
  /// tensors), so the optimiser, weight snapshots and checkpoints see them.
  BackboneModel(std::shared_ptr<torch::jit::Module> backbone, std::shared_ptr<Model> head, BackboneConfig config,
                const std::vector<double>& data_mean, const std::vector<double>& data_std);

  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override;
  void train(bool on = true) override;
  /// The head's: Monte-Carlo passes and classify() act on the head (the backbone is
  /// deterministic at query time, in eval mode).
  bool stochastic() const override;
  torch::Tensor classify(const torch::Tensor& features) override;
  /// A head with a Laplace approximation is fitted on the backbone's features of the labeled set.
  bool fits_after_training() const override;
  void after_training(const torch::Tensor& x, const torch::Tensor& y) override;

 private:
  torch::Tensor features(const torch::Tensor& x);

  std::shared_ptr<torch::jit::Module> backbone_;
  std::shared_ptr<Model> head_;
  BackboneConfig config_;
  torch::Tensor data_mean_, data_std_;  // 1 x C x 1 x 1
};

/// The dimension of the backbone's features: one forward pass on a zero image.
std::int64_t backbone_feature_dim(torch::jit::Module& backbone, const BackboneConfig& config, std::int64_t channels,
                                  torch::Device device);

}  // namespace quarry
