#include "resnet18.hpp"

#include <quarry/random.hpp>

#include "model_params.hpp"

namespace quarry::vision {

namespace nn = torch::nn;

BasicBlockImpl::BasicBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride)
    : conv1(register_module("conv1", conv3x3(in_channels, out_channels, stride))),
      conv2(register_module("conv2", conv3x3(out_channels, out_channels, 1))),
      bn1(register_module("bn1", nn::BatchNorm2d(out_channels))),
      bn2(register_module("bn2", nn::BatchNorm2d(out_channels))) {
  if (stride != 1 || in_channels != out_channels) {
    shortcut = register_module(
        "shortcut", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false)),
                                   nn::BatchNorm2d(out_channels)));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (shortcut ? shortcut->forward(x) : x));
}

namespace {
nn::Sequential make_stage(std::int64_t in, std::int64_t out, std::int64_t stride) {
  return nn::Sequential(BasicBlock(in, out, stride), BasicBlock(out, out, 1));
}
}  // namespace

std::vector<ParamSpec> ResNet18::param_specs() {
  return {param_int("width", 64, "channels of the stem and the first stage; stages use w, 2w, 4w, 8w", 1),
          param_float("dropout", 0.0, "dropout on the pooled feature before the classifier (Monte-Carlo dropout for bald)",
                      0.0, 0.99),
          param_int("in_channels", 0, "input channels; 0 takes them from the data", 0)};
}

ResNet18::ResNet18(const Params& params, const ModelSpec& spec) {
  const auto w = positive_int(params, "resnet18", "width");
  dropout_ = dropout_probability(params, "resnet18");
  const auto channels = input_channels(params, spec, "resnet18");
  const auto classes = class_count(spec, "resnet18");
  stem = register_module("stem", conv3x3(channels, w, 1));
  stem_bn = register_module("stem_bn", nn::BatchNorm2d(w));
  layer1 = register_module("layer1", make_stage(w, w, 1));
  layer2 = register_module("layer2", make_stage(w, 2 * w, 2));
  layer3 = register_module("layer3", make_stage(2 * w, 4 * w, 2));
  layer4 = register_module("layer4", make_stage(4 * w, 8 * w, 2));
  feature_dim_ = 8 * w;
  classifier = register_module("classifier", nn::Linear(feature_dim_, classes));
}

ModelOutput ResNet18::forward(const torch::Tensor& x) {
  auto h = torch::relu(stem_bn(stem(x)));
  h = layer4->forward(layer3->forward(layer2->forward(layer1->forward(h))));
  auto features = global_average_pool(h);
  return {sample_logits(features), features};
}

torch::Tensor ResNet18::sample_logits(const torch::Tensor& features) {
  return classifier(quarry::dropout(features, dropout_, is_training()));
}

}  // namespace quarry::vision
