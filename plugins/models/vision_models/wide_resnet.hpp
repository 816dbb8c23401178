// Wide ResNet WRN-d-k for CIFAR (Zagoruyko & Komodakis 2016): a 3x3 conv to 16
// channels, three groups of (d-4)/6 pre-activation blocks at 16k, 32k, 64k
// channels and strides 1/2/2, a final BN-ReLU, global average pool, one Linear.
// WRN-28-2 for 10 classes and 3 input channels: 1,467,610 parameters (convs
// without bias, as published).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn.h>

#include <quarry/model.hpp>
#include <quarry/params.hpp>

namespace quarry::vision {

/// BN-ReLU-conv3x3, BN-ReLU-(dropout)-conv3x3, plus a shortcut. When the shape
/// changes the shortcut is a 1x1 conv applied to the pre-activated input (as in
/// the authors' code); otherwise it is the identity on the raw input.
struct WideBlockImpl : torch::nn::Module {
  WideBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride, double dropout);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Conv2d shortcut{nullptr};  ///< null: identity
  double dropout = 0.0;
};
TORCH_MODULE(WideBlock);

struct WideResNet : quarry::Model {
  WideResNet(const Params& params, const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return feature_dim_; }
  torch::Tensor classify(const torch::Tensor& features) override { return classifier(features); }
  bool stochastic() const override { return dropout_ > 0; }

  /// depth (28), widen (2), dropout (0), in_channels (0 = from the data).
  static std::vector<ParamSpec> param_specs();

  torch::nn::Conv2d stem{nullptr};
  torch::nn::Sequential group1{nullptr}, group2{nullptr}, group3{nullptr};
  torch::nn::BatchNorm2d final_bn{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  std::int64_t feature_dim_ = 0;
  double dropout_ = 0.0;
};

}  // namespace quarry::vision
