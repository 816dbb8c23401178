#include "core/training/backbone_model.hpp"

#include <torch/script.h>

#include <algorithm>

#include "core/data/backbone.hpp"

namespace quarry {

namespace {
/// A parameter name nn::Module accepts (no dots): "layer1.0.conv.weight" -> "backbone__layer1__0__conv__weight".
std::string registered_name(const std::string& jit_name) {
  std::string s = "backbone__";
  for (char c : jit_name) s += c == '.' ? std::string("__") : std::string(1, c);
  return s;
}
}  // namespace

BackboneModel::BackboneModel(std::shared_ptr<torch::jit::Module> backbone, std::shared_ptr<Model> head,
                             BackboneConfig config, const std::vector<double>& data_mean,
                             const std::vector<double>& data_std)
    : backbone_(std::move(backbone)), head_(std::move(head)), config_(std::move(config)) {
  for (const auto& p : backbone_->named_parameters(/*recurse=*/true)) {
    auto t = p.value;
    t.set_requires_grad(true);  // a traced module may carry requires_grad = false
    register_parameter(registered_name(p.name), t);
  }
  for (const auto& b : backbone_->named_buffers(/*recurse=*/true)) register_buffer(registered_name(b.name), b.value);
  register_module("head", head_);
  const auto c = static_cast<std::int64_t>(data_mean.size());
  data_mean_ = register_buffer("data_mean", torch::tensor(data_mean, torch::kFloat64).to(torch::kFloat32).view({1, c, 1, 1}));
  data_std_ = register_buffer("data_std", torch::tensor(data_std, torch::kFloat64).to(torch::kFloat32).view({1, c, 1, 1}));
}

torch::Tensor BackboneModel::features(const torch::Tensor& x) {
  const auto pixels01 = x * data_std_.to(x.device()) + data_mean_.to(x.device());
  return backbone_forward(*backbone_, backbone_normalise(pixels01, config_), config_.file);
}

ModelOutput BackboneModel::forward(const torch::Tensor& x) { return head_->forward(features(x)); }

bool BackboneModel::stochastic() const { return head_->stochastic(); }

torch::Tensor BackboneModel::classify(const torch::Tensor& features) { return head_->classify(features); }

bool BackboneModel::fits_after_training() const { return head_->fits_after_training(); }

void BackboneModel::after_training(const torch::Tensor& x, const torch::Tensor& y) {
  head_->after_training(features(x), y);
}

std::int64_t BackboneModel::feature_dim() const { return head_->feature_dim(); }

void BackboneModel::train(bool on) {
  Model::train(on);  // the head and this module
  backbone_->train(on);
}

std::int64_t backbone_feature_dim(torch::jit::Module& backbone, const BackboneConfig& config, std::int64_t channels,
                                  torch::Device device) {
  torch::NoGradGuard no_grad;
  const auto probe = torch::zeros({2, channels, config.input_size, config.input_size}, torch::TensorOptions().device(device));
  return backbone_forward(backbone, backbone_normalise(probe, config), config.file).size(1);
}

}  // namespace quarry
