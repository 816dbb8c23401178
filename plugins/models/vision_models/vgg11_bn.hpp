// VGG-11 with batch norm (Simonyan & Zisserman 2015, configuration "A") for
// CIFAR-size inputs: 3x3 conv-BN-ReLU stacks 64, M, 128, M, 256, 256, M,
// 512, 512, M, 512, 512, M, then global average pool -> 512-d feature -> Linear.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn.h>

#include <quarry/model.hpp>
#include <quarry/params.hpp>

namespace quarry::vision {

/// 2x2 max-pool, skipped when either spatial side is already below 2: a 28x28
/// input reaches 1x1 after four pools, so the fifth must not empty it.
struct MaxPoolIfLargeImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(MaxPoolIfLarge);

struct Vgg11Bn : quarry::Model {
  Vgg11Bn(const Params& params, const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return 512; }
  torch::Tensor classify(const torch::Tensor& f) override { return classifier(f); }

  /// in_channels (0 = from the data).
  static std::vector<ParamSpec> param_specs();

  torch::nn::Sequential features{nullptr};
  torch::nn::Linear classifier{nullptr};
};

}  // namespace quarry::vision
