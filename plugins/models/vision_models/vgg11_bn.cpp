#include "vgg11_bn.hpp"

#include "model_params.hpp"

namespace quarry::vision {

namespace nn = torch::nn;

torch::Tensor MaxPoolIfLargeImpl::forward(const torch::Tensor& x) {
  if (x.size(-2) < 2 || x.size(-1) < 2) return x;
  return torch::max_pool2d(x, {2, 2});
}

std::vector<ParamSpec> Vgg11Bn::param_specs() {
  return {param_int("in_channels", 0, "input channels; 0 takes them from the data", 0)};
}

Vgg11Bn::Vgg11Bn(const Params& params, const ModelSpec& spec) {
  constexpr std::int64_t kPool = 0;
  const std::int64_t config[] = {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
  auto channels = input_channels(params, spec, "vgg11_bn");
  const auto classes = class_count(spec, "vgg11_bn");
  nn::Sequential stack;
  for (const auto out : config) {
    if (out == kPool) {
      stack->push_back(MaxPoolIfLarge());
      continue;
    }
    // Convs keep their bias, as torchvision's vgg11_bn does.
    stack->push_back(nn::Conv2d(nn::Conv2dOptions(channels, out, 3).padding(1)));
    stack->push_back(nn::BatchNorm2d(out));
    stack->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    channels = out;
  }
  features = register_module("features", stack);
  classifier = register_module("classifier", nn::Linear(512, classes));
}

ModelOutput Vgg11Bn::forward(const torch::Tensor& x) {
  auto f = global_average_pool(features->forward(x));
  return {classifier(f), f};
}

}  // namespace quarry::vision
