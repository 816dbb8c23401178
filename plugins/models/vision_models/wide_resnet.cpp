#include "wide_resnet.hpp"

#include <quarry/error.hpp>
#include <quarry/random.hpp>

#include "model_params.hpp"

namespace quarry::vision {

namespace nn = torch::nn;

WideBlockImpl::WideBlockImpl(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
                             double dropout_p)
    : bn1(register_module("bn1", nn::BatchNorm2d(in_channels))),
      bn2(register_module("bn2", nn::BatchNorm2d(out_channels))),
      conv1(register_module("conv1", conv3x3(in_channels, out_channels, stride))),
      conv2(register_module("conv2", conv3x3(out_channels, out_channels, 1))),
      dropout(dropout_p) {
  if (stride != 1 || in_channels != out_channels)
    shortcut = register_module(
        "shortcut", nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false)));
}

torch::Tensor WideBlockImpl::forward(const torch::Tensor& x) {
  const auto pre = torch::relu(bn1(x));
  auto out = torch::relu(bn2(conv1(pre)));
  if (dropout > 0) out = quarry::dropout(out, dropout, is_training());
  out = conv2(out);
  return out + (shortcut ? shortcut(pre) : x);
}

std::vector<ParamSpec> WideResNet::param_specs() {
  return {param_int("depth", 28, "total depth d; (d - 4) must be a multiple of 6", 10),
          param_int("widen", 2, "widening factor k; groups have 16k, 32k, 64k channels", 1),
          param_float("dropout", 0.0, "dropout between the two convs of a block", 0.0, 0.99),
          param_int("in_channels", 0, "input channels; 0 takes them from the data", 0)};
}

WideResNet::WideResNet(const Params& params, const ModelSpec& spec) {
  const auto depth = params.get_int("depth");
  if (depth < 10 || (depth - 4) % 6 != 0)
    throw Error("model 'wide_resnet': parameter 'depth' must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...), got " +
                std::to_string(depth));
  const auto k = positive_int(params, "wide_resnet", "widen");
  const auto p = dropout_probability(params, "wide_resnet");
  dropout_ = p;
  const auto channels = input_channels(params, spec, "wide_resnet");
  const auto classes = class_count(spec, "wide_resnet");

  const auto blocks = (depth - 4) / 6;
  auto make_group = [&](std::int64_t in, std::int64_t out, std::int64_t stride) {
    nn::Sequential group;
    for (std::int64_t i = 0; i < blocks; ++i) group->push_back(WideBlock(i == 0 ? in : out, out, i == 0 ? stride : 1, p));
    return group;
  };
  stem = register_module("stem", conv3x3(channels, 16, 1));
  group1 = register_module("group1", make_group(16, 16 * k, 1));
  group2 = register_module("group2", make_group(16 * k, 32 * k, 2));
  group3 = register_module("group3", make_group(32 * k, 64 * k, 2));
  feature_dim_ = 64 * k;
  final_bn = register_module("final_bn", nn::BatchNorm2d(feature_dim_));
  classifier = register_module("classifier", nn::Linear(feature_dim_, classes));
}

ModelOutput WideResNet::forward(const torch::Tensor& x) {
  auto h = group3->forward(group2->forward(group1->forward(stem(x))));
  auto features = global_average_pool(torch::relu(final_bn(h)));
  return {classifier(features), features};
}

}  // namespace quarry::vision
