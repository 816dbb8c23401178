#include "core/training/evaluation.hpp"

#include <torch/torch.h>

#include "core/data/device_data.hpp"
#include "core/training/mixed_precision.hpp"
#include "quarry/random.hpp"

namespace quarry {

Outputs predict(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                const std::vector<std::int64_t>& indices, std::int64_t batch, bool want_features,
                at::ScalarType autocast) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.train(false);
  const auto device = split.images.device();
  torch::Tensor idx;
  std::int64_t n = split.size();
  if (!indices.empty()) {
    idx = torch::tensor(indices, torch::kInt64).to(device);
    n = idx.size(0);
  }
  std::vector<torch::Tensor> logits, feats;
  for (std::int64_t s = 0; s < n; s += batch) {
    const auto len = std::min(batch, n - s);
    auto x = idx.defined() ? split.images.index_select(0, idx.narrow(0, s, len)) : split.images.narrow(0, s, len);
    AutocastScope ac(autocast, device);
    auto out = model.forward(normalize(x, mean, std));
    logits.push_back(out.logits.to(torch::kFloat32));
    if (want_features) feats.push_back(out.features.to(torch::kFloat32));
  }
  model.train(was_training);
  Outputs o;
  if (logits.empty()) return o;
  o.logits = torch::cat(logits);
  o.probabilities = torch::softmax(o.logits, 1);
  if (want_features) o.features = torch::cat(feats);
  return o;
}

torch::Tensor predict_samples(Model& model, const DeviceSplit& split, const torch::Tensor& mean,
                              const torch::Tensor& std, const std::vector<std::int64_t>& indices,
                              std::int64_t samples, std::int64_t batch, std::uint64_t seed, at::ScalarType autocast) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  model.train(false);
  const auto device = split.images.device();
  const auto idx = torch::tensor(indices, torch::kInt64).to(device);
  const auto n = idx.size(0);
  ModelRandomScope random(seed);
  // The trunk once per batch and the head per pass when the model offers it (Model::sample_logits,
  // asked on the first pass); else the whole forward() per pass. The same draws either way.
  bool head_only = true;
  torch::Tensor out;
  for (std::int64_t s = 0; s < n; s += batch) {
    const auto len = std::min(batch, n - s);
    const auto x = normalize(split.images.index_select(0, idx.narrow(0, s, len)), mean, std);
    torch::Tensor features;
    if (head_only) {
      AutocastScope ac(autocast, device);
      features = model.forward(x).features;  // outside the MonteCarloScope: no dropout, no draws
    }
    for (std::int64_t pass = 0; pass < samples; ++pass) {
      torch::Tensor logits;
      {
        MonteCarloScope monte_carlo;
        AutocastScope ac(autocast, device);
        if (head_only) logits = model.sample_logits(features);
        if (!logits.defined()) {
          head_only = false;
          logits = model.forward(x).logits;
        }
      }
      if (!out.defined()) out = torch::empty({samples, n, logits.size(1)}, logits.options().dtype(torch::kFloat32));
      out[pass].narrow(0, s, len).copy_(torch::softmax(logits.to(torch::kFloat32), 1));
    }
  }
  model.train(was_training);
  return out;
}

EvalResult metrics_from_logits(const torch::Tensor& logits_in, const torch::Tensor& labels_in) {
  EvalResult r;
  if (logits_in.size(0) == 0) return r;
  auto logits = logits_in.to(torch::kCPU, torch::kFloat64);
  auto labels = labels_in.to(torch::kCPU);
  auto logp = torch::log_softmax(logits, 1);
  r.nll = torch::nll_loss(logp, labels).item<double>();
  auto probs = logp.exp();
  auto [conf_raw, pred] = probs.max(1);
  // A diverged model gives NaN probabilities; they count as confidence 0, never as a bin index.
  auto conf = torch::nan_to_num(conf_raw, 0.0, 1.0, 0.0);
  auto correct = pred.eq(labels).to(torch::kFloat64);
  r.accuracy = correct.mean().item<double>();
  // ECE: 15 equal-width bins over (0, 1] of the top-class confidence.
  const int bins = 15;
  auto bin = (conf * bins).ceil().clamp(1, bins).to(torch::kInt64) - 1;
  auto count = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, torch::ones_like(conf));
  auto conf_sum = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, conf);
  auto acc_sum = torch::zeros({bins}, torch::kFloat64).index_add_(0, bin, correct);
  r.ece = (conf_sum - acc_sum).abs().sum().item<double>() / static_cast<double>(logits.size(0));
  return r;
}

EvalResult evaluate(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                    std::int64_t batch, const std::vector<std::int64_t>& indices, at::ScalarType autocast) {
  auto out = predict(model, split, mean, std, indices, batch, false, autocast);
  if (!out.logits.defined()) return {};
  auto labels = indices.empty() ? split.labels
                                : split.labels.index_select(0, torch::tensor(indices, torch::kInt64).to(split.labels.device()));
  return metrics_from_logits(out.logits, labels);
}

}  // namespace quarry
