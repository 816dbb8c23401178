#include "core/training/trainer.hpp"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/util/log.hpp"
#include "core/training/torch_compat.hpp"

namespace quarry {

double warmup_cosine(const TrainConfig& cfg, std::int64_t epoch) {
  const auto w = cfg.warmup_epochs;
  if (epoch < w) return cfg.lr * (0.01 + 0.99 * static_cast<double>(epoch) / static_cast<double>(w));
  const auto span = cfg.epochs - w;
  if (span <= 0) return cfg.lr;
  const double t = static_cast<double>(epoch - w) / static_cast<double>(span);
  return cfg.lr * 0.5 * (1.0 + std::cos(M_PI * t));
}

WeightSnapshot snapshot_weights(torch::nn::Module& model) {
  torch::NoGradGuard ng;
  WeightSnapshot s;
  for (auto& p : model.parameters()) s.push_back(p.detach().clone());
  for (auto& b : model.buffers()) s.push_back(b.detach().clone());
  return s;
}

void restore_weights(torch::nn::Module& model, const WeightSnapshot& s) {
  torch::NoGradGuard ng;
  std::size_t i = 0;
  for (auto& p : model.parameters()) p.copy_(s.at(i++));
  for (auto& b : model.buffers()) b.copy_(s.at(i++));
}

namespace {

/// Autocast for the scope when enabled and on CUDA.
struct AutocastScope {
  bool on;
  AutocastScope(bool enabled, const torch::Device& d) : on(enabled && d.is_cuda()) {
    if (on) compat::set_cuda_autocast(true);
  }
  ~AutocastScope() {
    if (on) {
      compat::set_cuda_autocast(false);
      compat::clear_autocast_cache();
    }
  }
};

/// The batches of one epoch, as positions into `indices`.
std::vector<torch::Tensor> epoch_batches(std::int64_t n, const TrainConfig& cfg, at::Generator& gen) {
  std::vector<torch::Tensor> batches;
  const auto b = cfg.batch_size;
  if (cfg.epoch_mode == "shuffled") {
    auto perm = torch::randperm(n, gen, torch::kInt64);
    for (std::int64_t s = 0; s < n; s += b) batches.push_back(perm.narrow(0, s, std::min(b, n - s)));
    return batches;
  }
  // The reference: floor(n / batch) + 1 batches of `batch`, drawn across the labeled set
  // (concatenated random permutations, so every image appears at least once an epoch).
  const auto n_batches = n / b + 1;
  const auto need = n_batches * b;
  std::vector<torch::Tensor> perms;
  for (std::int64_t have = 0; have < need; have += n) perms.push_back(torch::randperm(n, gen, torch::kInt64));
  auto all = torch::cat(perms).narrow(0, 0, need);
  for (std::int64_t i = 0; i < n_batches; ++i) batches.push_back(all.narrow(0, i * b, b));
  return batches;
}

}  // namespace

TrainResult train_model(Model& model, const TrainConfig& cfg, const DeviceSplit& data, const torch::Tensor& mean,
                        const torch::Tensor& std, const std::vector<std::int64_t>& indices, std::uint64_t seed,
                        Logger* log) {
  TrainResult r;
  const double t0 = now_seconds();
  const auto n = static_cast<std::int64_t>(indices.size());
  if (n == 0) return r;
  const auto device = data.images.device();
  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::manual_seed(seed);  // dropout and any other op that draws from the global generator
  auto idx = torch::tensor(indices, torch::kInt64).to(device);
  auto images = data.images.index_select(0, idx);  // the labeled set, uint8, stays on the device
  auto labels = data.labels.index_select(0, idx);

  torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(cfg.lr)
                                                .momentum(cfg.momentum)
                                                .weight_decay(cfg.weight_decay)
                                                .nesterov(cfg.nesterov));
  model.train(true);
  std::unique_ptr<Progress> progress;
  if (log) progress = std::make_unique<Progress>(*log, "  training on " + std::to_string(n) + " labels, epoch", cfg.epochs, 10.0);
  for (std::int64_t epoch = 0; epoch < cfg.epochs; ++epoch) {
    const double lr = warmup_cosine(cfg, epoch);
    for (auto& group : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    auto batches = epoch_batches(n, cfg, gen);
    for (auto& pos : batches) {
      auto p = pos.to(device);
      auto x = images.index_select(0, p);
      if (cfg.augment) x = augment(x, cfg.crop_padding, cfg.flip, gen);
      auto xf = normalize(x, mean, std);
      auto y = labels.index_select(0, p);
      opt.zero_grad();
      torch::Tensor loss;
      {
        AutocastScope ac(cfg.mixed_precision, device);
        loss = torch::nn::functional::cross_entropy(model.forward(xf).logits.to(torch::kFloat32), y);
      }
      loss.backward();
      opt.step();
      loss_sum += loss.detach().to(torch::kFloat64);
    }
    const double mean_loss = loss_sum.item<double>() / static_cast<double>(batches.size());
    r.epochs_run = epoch + 1;
    r.final_loss = mean_loss;
    if (!std::isfinite(mean_loss)) {
      // The study's lr = 0.1 settings can blow up: stop, and let the caller record it.
      r.diverged = true;
      r.diverged_epoch = epoch;
      if (log) log->warn("  training diverged at epoch " + std::to_string(epoch) + " (non-finite loss)");
      break;
    }
    if (progress) progress->step(epoch + 1, "loss " + std::to_string(mean_loss));
  }
  model.train(false);
  r.seconds = now_seconds() - t0;
  return r;
}

Outputs predict(Model& model, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                const std::vector<std::int64_t>& indices, std::int64_t batch, bool want_features,
                bool mixed_precision) {
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
    AutocastScope ac(mixed_precision, device);
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
                    std::int64_t batch, const std::vector<std::int64_t>& indices, bool mixed_precision) {
  auto out = predict(model, split, mean, std, indices, batch, false, mixed_precision);
  if (!out.logits.defined()) return {};
  auto labels = indices.empty() ? split.labels
                                : split.labels.index_select(0, torch::tensor(indices, torch::kInt64).to(split.labels.device()));
  return metrics_from_logits(out.logits, labels);
}

}  // namespace quarry
