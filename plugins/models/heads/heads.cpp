#include "heads/heads.hpp"

#include <torch/torch.h>

#include <quarry/error.hpp>
#include <quarry/random.hpp>

namespace quarry::heads {

namespace {
std::int64_t input_dim(const ModelSpec& spec, const char* model) {
  if (spec.input_dim < 1)
    throw Error(std::string("model '") + model + "' takes feature vectors, but the dataset gives images of " +
                std::to_string(spec.in_channels) + "x" + std::to_string(spec.height) + "x" + std::to_string(spec.width) +
                "; use a vision model, or a dataset of embeddings");
  if (spec.num_classes < 1) throw Error(std::string("model '") + model + "': the data reports no classes");
  return spec.input_dim;
}

void set_grad(torch::Tensor& p, const torch::Tensor& g) {
  if (p.grad().defined())
    p.mutable_grad() = g;  // a fresh tensor each step: no copy
  else
    p.mutable_grad() = g.detach().clone();
}
}  // namespace

LinearHead::LinearHead(const Params& params, const ModelSpec& spec)
    : in_(input_dim(spec, "linear")),
      fc_(register_module("fc", torch::nn::Linear(in_, spec.num_classes))),
      laplace_(*this, in_, spec.num_classes, LaplaceOptions::from(params)) {}

std::vector<ParamSpec> LinearHead::param_specs() { return laplace_param_specs(); }

ModelOutput LinearHead::forward(const torch::Tensor& x) {
  auto logits = fc_->forward(x);
  if (!is_training() && laplace_.fitted()) logits = laplace_.predictive_logits(x, logits);
  return {logits, x};
}

torch::Tensor LinearHead::loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) {
  if (!is_training() || x.scalar_type() != torch::kFloat32) return {};
  torch::NoGradGuard ng;
  const auto b = x.size(0);
  if (cpu_fast_path(x, y)) {
    // logits = b + x W^T into a kept buffer, then softmax/cross-entropy/gradient in one loop,
    // dW = g^T x straight into W's gradient: two BLAS calls and no temporaries.
    const auto xc = x.contiguous();
    const auto yc = y.contiguous();
    const auto c = fc_->weight.size(0);
    auto& logits = buffers_.get(0, b, c);
    auto& g = buffers_.get(1, b, c);
    at::addmm_out(logits, fc_->bias, xc, fc_->weight.t());
    const double loss = softmax_xent_backward(logits.data_ptr<float>(), yc.data_ptr<std::int64_t>(), b, c,
                                              g.data_ptr<float>(), grad_buffer(fc_->bias).data_ptr<float>());
    at::mm_out(grad_buffer(fc_->weight), g.t(), xc);
    return torch::scalar_tensor(loss, x.options());
  }
  auto lsm = torch::log_softmax(torch::addmm(fc_->bias, x, fc_->weight.t()), 1);
  auto loss = torch::nll_loss(lsm, y);
  // d loss / d logits = (softmax - onehot) / B.
  if (!minus_ones_.defined() || minus_ones_.size(0) < b || minus_ones_.device() != x.device())
    minus_ones_ = torch::full({b, 1}, -1.0f, x.options());
  auto g = lsm.exp_().scatter_add_(1, y.view({b, 1}), minus_ones_.narrow(0, 0, b));
  const double inv_b = 1.0 / static_cast<double>(b);
  set_grad(fc_->weight, torch::mm(g.t(), x).mul_(inv_b));
  set_grad(fc_->bias, g.sum(0).mul_(inv_b));
  return loss;
}

void LinearHead::after_training(const torch::Tensor& x, const torch::Tensor& y) {
  laplace_.fit(x, y, fc_->weight, fc_->bias);
}

MlpHead::MlpHead(const Params& params, const ModelSpec& spec)
    : hidden_(params.get_int("hidden")),
      dropout_(params.get_float("dropout")),
      fc1_(register_module("fc1", torch::nn::Linear(input_dim(spec, "mlp"), hidden_))),
      fc2_(register_module("fc2", torch::nn::Linear(hidden_, spec.num_classes))),
      laplace_(*this, hidden_, spec.num_classes, LaplaceOptions::from(params)) {}

std::vector<ParamSpec> MlpHead::param_specs() {
  auto specs = std::vector<ParamSpec>{param_int("hidden", 256, "width of the hidden layer", 1, 1 << 20),
                                      param_float("dropout", 0.0, "dropout on the hidden layer in training", 0.0, 0.95)};
  for (auto& s : laplace_param_specs()) specs.push_back(std::move(s));
  return specs;
}

torch::Tensor MlpHead::hidden(const torch::Tensor& x) { return torch::relu(fc1_->forward(x)); }

ModelOutput MlpHead::forward(const torch::Tensor& x) {
  auto h = hidden(x);
  return {sample_logits(h), h};
}

torch::Tensor MlpHead::sample_logits(const torch::Tensor& h) {
  auto logits = fc2_->forward(quarry::dropout(h, dropout_, is_training()));
  if (!is_training() && laplace_.fitted()) logits = laplace_.predictive_logits(h, logits);
  return logits;
}

torch::Tensor MlpHead::loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) {
  // The CPU only: elsewhere autograd (LibTorch's per-call cost is not what bounds a GPU step).
  if (!is_training() || !cpu_fast_path(x, y)) return {};
  torch::NoGradGuard ng;
  const auto xc = x.contiguous();
  const auto yc = y.contiguous();
  const auto b = xc.size(0), c = fc2_->weight.size(0);
  auto& h = buffers_.get(0, b, hidden_);
  at::addmm_out(h, fc1_->bias, xc, fc1_->weight.t());
  h.relu_();
  // Dropout draws exactly as forward() does (quarry::dropout, the training's generator).
  const auto hd = quarry::dropout(h, dropout_, true);
  auto& logits = buffers_.get(1, b, c);
  auto& g = buffers_.get(2, b, c);
  at::addmm_out(logits, fc2_->bias, hd, fc2_->weight.t());
  const double loss = softmax_xent_backward(logits.data_ptr<float>(), yc.data_ptr<std::int64_t>(), b, c,
                                            g.data_ptr<float>(), grad_buffer(fc2_->bias).data_ptr<float>());
  at::mm_out(grad_buffer(fc2_->weight), g.t(), hd);
  auto& dh = buffers_.get(3, b, hidden_);
  at::mm_out(dh, g, fc2_->weight);
  // Through dropout (kept entries x 1 / (1 - p), as quarry::dropout scales) and the ReLU: an
  // entry of hd is > 0 exactly where both let the gradient through.
  const float scale = dropout_ > 0 ? 1.0f / static_cast<float>(1.0 - dropout_) : 1.0f;
  relu_dropout_backward(hd.data_ptr<float>(), dh.data_ptr<float>(), b, hidden_, scale,
                        grad_buffer(fc1_->bias).data_ptr<float>());
  at::mm_out(grad_buffer(fc1_->weight), dh.t(), xc);
  return torch::scalar_tensor(loss, x.options());
}

torch::Tensor MlpHead::classify(const torch::Tensor& features) {
  auto logits = fc2_->forward(features);
  if (!is_training() && laplace_.fitted()) logits = laplace_.predictive_logits(features, logits);
  return logits;
}

void MlpHead::after_training(const torch::Tensor& x, const torch::Tensor& y) {
  laplace_.fit(hidden(x), y, fc2_->weight, fc2_->bias);
}

}  // namespace quarry::heads
