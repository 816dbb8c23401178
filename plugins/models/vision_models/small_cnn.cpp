#include "small_cnn.hpp"

#include <quarry/random.hpp>

#include "model_params.hpp"

namespace quarry::vision {

namespace nn = torch::nn;

std::vector<ParamSpec> SmallCnn::param_specs() {
  return {param_int("width", 32, "channels of the first conv; the second has twice as many", 1),
          param_int("feature_dim", 128, "size of the penultimate feature", 1),
          param_float("dropout", 0.0, "dropout on the feature before the classifier (Monte-Carlo dropout for bald)", 0.0,
                      0.99),
          param_int("in_channels", 0, "input channels; 0 takes them from the data", 0)};
}

SmallCnn::SmallCnn(const Params& params, const ModelSpec& spec) {
  const auto w = positive_int(params, "small_cnn", "width");
  feature_dim_ = positive_int(params, "small_cnn", "feature_dim");
  dropout_ = dropout_probability(params, "small_cnn");
  const auto channels = input_channels(params, spec, "small_cnn");
  const auto classes = class_count(spec, "small_cnn");
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, w, 3).padding(1).bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(w));
  conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(w, 2 * w, 3).padding(1).bias(false)));
  bn2 = register_module("bn2", nn::BatchNorm2d(2 * w));
  embed = register_module("embed", nn::Linear(2 * w, feature_dim_));
  classifier = register_module("classifier", nn::Linear(feature_dim_, classes));
}

ModelOutput SmallCnn::forward(const torch::Tensor& x) {
  auto h = torch::max_pool2d(torch::relu(bn1(conv1(x))), {2, 2});
  h = torch::max_pool2d(torch::relu(bn2(conv2(h))), {2, 2});
  auto features = torch::relu(embed(global_average_pool(h)));
  return {sample_logits(features), features};
}

torch::Tensor SmallCnn::sample_logits(const torch::Tensor& features) {
  return classifier(quarry::dropout(features, dropout_, is_training()));
}

}  // namespace quarry::vision
