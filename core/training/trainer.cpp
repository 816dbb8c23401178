#include "core/training/trainer.hpp"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/data/augment.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/schedule.hpp"
#include "core/training/sgd_update.hpp"
#include "core/util/log.hpp"
#include "quarry/random.hpp"

namespace quarry {

namespace {
bool plain_cpu_float(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

// One step of torch::optim::SGD's update (dampening 0), op for op, on gradients a model wrote
// itself (Model::loss_and_gradients): the same weights as opt.step(), without its per-parameter
// state lookups and copies. `buffers` starts empty and holds the momentum buffers. On the CPU
// each parameter is one loop over its elements (weight decay, momentum, Nesterov, the update)
// instead of four LibTorch calls: a small head's step is mostly such calls.
void sgd_step(const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& buffers, const TrainConfig& cfg,
              double lr) {
  torch::NoGradGuard ng;
  if (buffers.size() != params.size()) buffers.assign(params.size(), torch::Tensor());
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto g = params[i].grad();  // written by the model each step, so updated in place
    if (!g.defined()) continue;
    if (plain_cpu_float(params[i]) && plain_cpu_float(g)) {
      // One loop over its elements (quarry::sgd_update) instead of four LibTorch calls.
      const bool first = cfg.momentum != 0 && !buffers[i].defined();
      if (first) buffers[i] = torch::empty_like(g);
      sgd_update(params[i].data_ptr<float>(), g.data_ptr<float>(),
                 cfg.momentum != 0 ? buffers[i].data_ptr<float>() : nullptr, g.numel(),
                 static_cast<float>(cfg.weight_decay), static_cast<float>(cfg.momentum), cfg.nesterov,
                 static_cast<float>(-lr), first);
      continue;
    }
    if (cfg.weight_decay != 0) g.add_(params[i], cfg.weight_decay);
    if (cfg.momentum != 0) {
      if (!buffers[i].defined())
        buffers[i] = g.clone();
      else
        buffers[i].mul_(cfg.momentum).add_(g);
      g = cfg.nesterov ? g.add_(buffers[i], cfg.momentum) : buffers[i];
    }
    params[i].add_(g, -lr);
  }
}
}  // namespace

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

TrainResult train_model(Model& model, const TrainConfig& cfg, const DeviceSplit& data, const torch::Tensor& mean,
                        const torch::Tensor& std, const std::vector<std::int64_t>& indices, std::uint64_t seed,
                        Logger* log, std::int64_t stop_after) {
  TrainResult r;
  const double t0 = now_seconds();
  const auto n = static_cast<std::int64_t>(indices.size());
  if (n == 0) return r;
  const auto device = data.images.device();
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // Dropout draws from a generator of this training's own (quarry/random.hpp), never from the
  // process-wide one that parallel trials would share.
  ModelRandomScope model_random(seed);
  auto idx = torch::tensor(indices, torch::kInt64).to(device);
  auto images = data.images.index_select(0, idx);  // the labeled set (uint8 images or features) stays on the device
  auto labels = data.labels.index_select(0, idx);

  torch::optim::SGD opt(model.parameters(), torch::optim::SGDOptions(cfg.lr)
                                                .momentum(cfg.momentum)
                                                .weight_decay(cfg.weight_decay)
                                                .nesterov(cfg.nesterov));
  // float16 needs loss scaling (its range lets small gradients underflow); bfloat16 does not.
  const auto autocast = device.is_cuda() ? autocast_dtype(cfg) : at::kFloat;
  GradScaler scaler(autocast == at::kHalf);
  const bool features = data.features();  // feature vectors: no augmentation, no normalisation
  bool fast = autocast == at::kFloat;     // until the model declines loss_and_gradients
  const auto params = model.parameters();
  std::vector<torch::Tensor> momentum_buffers;  // of the fast path's sgd_step
  torch::Tensor batch_x, batch_y, last_x, last_y;  // CPU feature batches: full ones, a shorter last one
  model.train(true);
  std::unique_ptr<Progress> progress;
  if (log) progress = std::make_unique<Progress>(*log, "  training on " + std::to_string(n) + " labels, epoch", cfg.epochs, 10.0);
  const auto run_epochs = stop_after >= 0 ? std::min(stop_after, cfg.epochs) : cfg.epochs;
  for (std::int64_t epoch = 0; epoch < run_epochs; ++epoch) {
    const double lr = warmup_cosine(cfg, epoch);
    for (auto& group : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    double loss_sum_cpu = 0;  // the CPU's running sum: no tensor op per step
    auto batches = epoch_batches(n, cfg, gen);
    // Feature vectors: on the CPU each batch's rows are gathered into a buffer kept from step to
    // step (small enough to stay in cache for the step's products: gathering the whole epoch
    // first wrote and re-read every row once more through memory, a fifth of a linear head's
    // training); elsewhere the epoch's rows are gathered once, each batch a view of them.
    torch::Tensor epoch_x, epoch_y;
    if (features && !device.is_cpu()) {
      const auto order = torch::cat(batches).to(device);
      epoch_x = images.index_select(0, order);
      epoch_y = labels.index_select(0, order);
    }
    std::int64_t offset = 0;
    for (auto& pos : batches) {
      torch::Tensor x, y;
      if (features && device.is_cpu()) {
        auto& bx = pos.size(0) == cfg.batch_size ? batch_x : last_x;
        auto& by = pos.size(0) == cfg.batch_size ? batch_y : last_y;
        if (!bx.defined() || bx.size(0) != pos.size(0)) {
          bx = torch::empty({pos.size(0), images.size(1)}, images.options());
          by = torch::empty({pos.size(0)}, labels.options());
        }
        x = at::index_select_out(bx, images, 0, pos);
        y = at::index_select_out(by, labels, 0, pos);
      } else if (features) {
        x = epoch_x.narrow(0, offset, pos.size(0));
        y = epoch_y.narrow(0, offset, pos.size(0));
        offset += pos.size(0);
      } else {
        auto p = pos.to(device);
        x = images.index_select(0, p);
        if (cfg.augment) x = augment(x, cfg.crop_padding, cfg.flip, gen);
        y = labels.index_select(0, p);
      }
      auto xf = normalize(x, mean, std);  // features: as they are
      // A head that computes its own gradients skips autograd (Model::loss_and_gradients).
      torch::Tensor loss = fast ? model.loss_and_gradients(xf, y) : torch::Tensor();
      if (loss.defined()) {
        sgd_step(params, momentum_buffers, cfg, lr);
      } else {
        fast = false;
        opt.zero_grad();
        {
          AutocastScope ac(autocast, device);
          loss = torch::nn::functional::cross_entropy(model.forward(xf).logits.to(torch::kFloat32), y);
        }
        scaler.scale(loss).backward();
        // A float16 step whose gradients overflowed is skipped and the scale backs off; its loss
        // still counts: only a non-finite loss is divergence, not an overflowed gradient.
        scaler.step(opt, params);
      }
      if (device.is_cpu())
        loss_sum_cpu += loss.item<double>();
      else
        loss_sum += loss.detach().to(torch::kFloat64);
    }
    const double mean_loss =
        (device.is_cpu() ? loss_sum_cpu : loss_sum.item<double>()) / static_cast<double>(batches.size());
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
  if (!r.diverged && model.fits_after_training()) {
    // E.g. a Laplace head's posterior over its last layer, fitted on the whole labeled set.
    torch::NoGradGuard ng;
    model.after_training(normalize(images, mean, std), labels);
  }
  r.seconds = now_seconds() - t0;
  return r;
}

}  // namespace quarry
