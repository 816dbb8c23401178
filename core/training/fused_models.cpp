#include "core/training/fused_models.hpp"

#include <algorithm>

#include <torch/torch.h>

namespace quarry {

namespace {

double dropout_of(const Params& params) { return params.has("dropout") ? params.get_float("dropout") : 0.0; }

bool has_parameter(const std::vector<Model*>& models, const std::string& name) {
  return models.front()->named_parameters().find(name) != nullptr;
}

/// logits = W x + b per member: the `linear` head. Closed-form gradients, as the plugin's.
class FusedLinear : public FusedNet {
 public:
  FusedLinear(const std::vector<Model*>& models, std::int64_t streams) {
    members_ = static_cast<std::int64_t>(models.size()), streams_ = streams;
    w_ = stack_parameter(models, "fc.weight", false);
    b_ = stack_parameter(models, "fc.bias", false);
  }
  torch::Tensor forward(const torch::Tensor& x, bool, std::vector<at::Generator>&) override {
    return linear_streams(x, "fc");
  }
  torch::Tensor loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) override {
    if (x.scalar_type() != torch::kFloat32) return {};
    torch::NoGradGuard ng;
    const auto c = w_.size(1), d = w_.size(2), kg = members_ / streams_, b = x.size(1);
    auto z = torch::baddbmm(b_.view({streams_, 1, kg * c}), x, w_.view({streams_, kg * c, d}).transpose(1, 2));
    auto lsm = torch::log_softmax(z.view({streams_, b, kg, c}), 3);
    auto idx = y.view({streams_, b, 1, 1}).expand({streams_, b, kg, 1});
    auto loss = lsm.gather(3, idx).mean(1).neg().view({members_});  // G x Kg -> M, member g*Kg + j
    if (!minus_ones_.defined() || minus_ones_.sizes() != idx.sizes() || minus_ones_.device() != x.device())
      minus_ones_ = torch::full(idx.sizes(), -1.0f, x.options());
    auto g = lsm.exp_().scatter_add_(3, idx, minus_ones_);  // softmax - onehot, G x B x Kg x C
    const double inv_b = 1.0 / static_cast<double>(b);
    w_.mutable_grad() = torch::bmm(g.view({streams_, b, kg * c}).transpose(1, 2), x).mul_(inv_b).view({members_, c, d});
    b_.mutable_grad() = g.sum(1).mul_(inv_b).view({members_, c});
    return loss;
  }

 private:
  torch::Tensor w_, b_, minus_ones_;
};

/// logits = W2 dropout(relu(W1 x + b1)) + b2 per member: the `mlp` head.
class FusedMlp : public FusedNet {
 public:
  FusedMlp(const std::vector<Model*>& models, std::int64_t streams, double dropout) : p_(dropout) {
    members_ = static_cast<std::int64_t>(models.size()), streams_ = streams;
    for (const char* n : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) stack_parameter(models, n, false);
  }
  torch::Tensor forward(const torch::Tensor& x, bool training, std::vector<at::Generator>& gens) override {
    return linear(dropout(torch::relu(linear_streams(x, "fc1")), p_, training, gens), "fc2");
  }

 private:
  double p_;
};

/// `small_cnn`: two conv-BN-ReLU-maxpool stages, global average pool, Linear-ReLU, dropout, Linear.
class FusedSmallCnn : public FusedNet {
 public:
  FusedSmallCnn(const std::vector<Model*>& models, std::int64_t streams, double dropout) : p_(dropout) {
    members_ = static_cast<std::int64_t>(models.size()), streams_ = streams;
    stack_parameter(models, "conv1.weight", false);
    stack_batch_norm(models, "bn1");
    stack_parameter(models, "conv2.weight", false);
    stack_batch_norm(models, "bn2");
    for (const char* n : {"embed.weight", "embed.bias", "classifier.weight", "classifier.bias"})
      stack_parameter(models, n, false);
  }
  torch::Tensor forward(const torch::Tensor& x, bool training, std::vector<at::Generator>& gens) override {
    auto h = conv(stream_images(x), "conv1.weight", 1, 1, true);
    h = torch::max_pool2d(torch::relu(batch_norm(h, "bn1", training)), {2, 2});
    h = torch::max_pool2d(torch::relu(batch_norm(conv(h, "conv2.weight", 1, 1), "bn2", training)), {2, 2});
    auto features = torch::relu(linear(pool_members(h), "embed"));
    return linear(dropout(features, p_, training, gens), "classifier");
  }

 private:
  double p_;
};

/// `wide_resnet` (WRN-d-k, pre-activation blocks, dropout between a block's two convs).
class FusedWideResNet : public FusedNet {
 public:
  FusedWideResNet(const std::vector<Model*>& models, std::int64_t streams, double dropout) : p_(dropout) {
    members_ = static_cast<std::int64_t>(models.size()), streams_ = streams;
    stack_parameter(models, "stem.weight", false);
    for (int group = 1; group <= 3; ++group)
      for (int block = 0; has_parameter(models, name(group, block) + ".conv1.weight"); ++block) {
        const auto b = name(group, block);
        stack_batch_norm(models, b + ".bn1");
        stack_parameter(models, b + ".conv1.weight", false);
        stack_batch_norm(models, b + ".bn2");
        stack_parameter(models, b + ".conv2.weight", false);
        const bool projected = has_parameter(models, b + ".shortcut.weight");
        if (projected) stack_parameter(models, b + ".shortcut.weight", false);
        blocks_.push_back({b, group > 1 && block == 0 ? 2 : 1, projected});
      }
    stack_batch_norm(models, "final_bn");
    stack_parameter(models, "classifier.weight", false);
    stack_parameter(models, "classifier.bias", false);
  }
  torch::Tensor forward(const torch::Tensor& x, bool training, std::vector<at::Generator>& gens) override {
    auto h = conv(stream_images(x), "stem.weight", 1, 1, true);
    for (const auto& b : blocks_) {
      const auto pre = torch::relu(batch_norm(h, b.name + ".bn1", training));
      auto out = torch::relu(batch_norm(conv(pre, b.name + ".conv1.weight", b.stride, 1), b.name + ".bn2", training));
      out = conv(dropout(out, p_, training, gens), b.name + ".conv2.weight", 1, 1);
      h = out + (b.projected ? conv(pre, b.name + ".shortcut.weight", b.stride, 0) : h);
    }
    return linear(pool_members(torch::relu(batch_norm(h, "final_bn", training))), "classifier");
  }

 private:
  static std::string name(int group, int block) { return "group" + std::to_string(group) + "." + std::to_string(block); }
  struct Block {
    std::string name;
    std::int64_t stride;
    bool projected;
  };
  double p_;
  std::vector<Block> blocks_;
};

}  // namespace

const char* fused_model_names() { return "linear, mlp, small_cnn, wide_resnet"; }

std::unique_ptr<FusedNet> make_fused_architecture(const std::string& name, const Params& params,
                                                  const std::vector<Model*>& models, std::int64_t streams) {
  if (name == "linear") return std::make_unique<FusedLinear>(models, streams);
  if (name == "mlp") return std::make_unique<FusedMlp>(models, streams, dropout_of(params));
  if (name == "small_cnn") return std::make_unique<FusedSmallCnn>(models, streams, dropout_of(params));
  if (name == "wide_resnet") return std::make_unique<FusedWideResNet>(models, streams, dropout_of(params));
  return nullptr;
}

}  // namespace quarry
