// A small, fast CNN for CPU runs and smoke tests: two 3x3 conv-BN-ReLU-maxpool
// stages (w, 2w channels), global average pool, Linear-ReLU to the feature,
// (dropout, for Monte-Carlo dropout) Linear to the classes.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn.h>

#include <quarry/model.hpp>
#include <quarry/params.hpp>

namespace quarry::vision {

struct SmallCnn : quarry::Model {
  SmallCnn(const Params& params, const ModelSpec& spec);
  ModelOutput forward(const torch::Tensor& x) override;
  std::int64_t feature_dim() const override { return feature_dim_; }
  torch::Tensor classify(const torch::Tensor& features) override { return classifier(features); }
  bool stochastic() const override { return dropout_ > 0; }
  /// One Monte-Carlo pass of the classifier on the (pre-dropout) features; forward() uses it.
  torch::Tensor sample_logits(const torch::Tensor& features) override;

  /// width (32), feature_dim (128), dropout (0), in_channels (0 = from the data).
  static std::vector<ParamSpec> param_specs();

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Linear embed{nullptr}, classifier{nullptr};

 private:
  std::int64_t feature_dim_ = 0;
  double dropout_ = 0.0;  ///< on the feature, before the classifier
};

}  // namespace quarry::vision
