// ResNet-18, CIFAR variant (He et al. 2016, as the reference protocol runs it):
// 3x3 stride-1 stem without max-pool, BasicBlocks [2,2,2,2] at widths
// w, 2w, 4w, 8w and strides 1/2/2/2, global average pool, (dropout,) one Linear.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn.h>

#include <quarry/model.hpp>
#include <quarry/params.hpp>

namespace quarry::vision {

/// Two 3x3 conv-BN layers with a residual connection; the shortcut is a 1x1
/// conv + BN when the stride or the channel count changes, else the identity.
struct BasicBlockImpl : torch::nn::Module {
  BasicBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};  ///< null: identity
};
TORCH_MODULE(BasicBlock);

struct ResNet18 : quarry::Model {
  ResNet18(const Params& params, const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return feature_dim_; }
  torch::Tensor classify(const torch::Tensor& features) override { return classifier(features); }
  bool stochastic() const override { return dropout_ > 0; }
  /// One Monte-Carlo pass of the classifier on the (pre-dropout) features; forward() uses it.
  torch::Tensor sample_logits(const torch::Tensor& features) override;

  /// width (64), dropout (0), in_channels (0 = from the data).
  static std::vector<ParamSpec> param_specs();

  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  std::int64_t feature_dim_ = 0;
  double dropout_ = 0.0;  ///< on the pooled feature, before the classifier
};

}  // namespace quarry::vision
