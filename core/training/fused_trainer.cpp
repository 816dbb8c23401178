#include "core/training/fused_trainer.hpp"

#include <cmath>
#include <map>
#include <tuple>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "core/data/augment.hpp"
#include "core/training/fused_net.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/schedule.hpp"
#include "core/training/sgd_update.hpp"
#include "core/util/log.hpp"

namespace quarry {

namespace {

at::ScalarType autocast_of(const TrainConfig& cfg, const torch::Device& device) {
  return device.is_cuda() ? autocast_dtype(cfg) : at::kFloat;
}

/// M x 1 x 1 ... to broadcast a per-member value over a stacked parameter.
/// Whether a stacked parameter and its gradient (M x ...) are plain contiguous float32 on the CPU.
bool cpu_members(const torch::Tensor& p, const torch::Tensor& g, std::size_t members) {
  const auto plain = [](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
  };
  return plain(p) && plain(g) && p.dim() > 0 && p.size(0) == static_cast<std::int64_t>(members) && g.sizes() == p.sizes();
}

torch::Tensor per_member(const torch::Tensor& v, const torch::Tensor& like) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(like.dim()), 1);
  shape[0] = v.size(0);
  return v.view(shape);
}

}  // namespace

std::string fusion_mismatch(const std::vector<FusedMember>& members, const torch::Device& device) {
  if (members.empty()) return "no members";
  const auto& a = members.front();
  for (std::size_t k = 0; k < members.size(); ++k) {
    const auto& m = members[k];
    if (!m.initial) return "internal: a member without initial weights";
    if (m.indices.empty()) return "a member has no labeled images";
    auto differ = [&](const char* what) { return fmt::format("members 0 and {} differ in {}", k, what); };
    if (m.cfg.epochs != a.cfg.epochs) return differ("epochs");
    if (m.cfg.batch_size != a.cfg.batch_size) return differ("batch_size");
    if (m.cfg.epoch_mode != a.cfg.epoch_mode) return differ("epoch_mode");
    if (m.indices.size() != a.indices.size()) return differ("the size of their labeled sets");
    if (autocast_of(m.cfg, device) != autocast_of(a.cfg, device)) return differ("precision");
  }
  if (autocast_of(a.cfg, device) == at::kHalf) return "float16 mixed precision needs a loss scale per member";
  return {};
}

FusedTraining::~FusedTraining() = default;

std::unique_ptr<FusedTraining> FusedTraining::make(const std::string& model, const Params& params,
                                                   std::vector<FusedMember> members, const DeviceSplit& data,
                                                   const torch::Tensor& mean, const torch::Tensor& std,
                                                   std::string& why) {
  why = fusion_mismatch(members, data.images.device());
  if (!why.empty()) return nullptr;
  std::unique_ptr<FusedTraining> t(new FusedTraining());
  // Members that would draw the same batches and augmentations (same seed, labeled set and
  // draw settings: a search's trials on one split) read one input stream.
  using Key = std::tuple<std::uint64_t, std::vector<std::int64_t>, bool, std::int64_t, bool>;
  std::map<Key, std::size_t> stream_of_key;
  std::vector<std::vector<std::size_t>> streams;
  for (std::size_t k = 0; k < members.size(); ++k) {
    const auto& c = members[k].cfg;
    const bool aug = !data.features() && c.augment;
    Key key{members[k].seed, members[k].indices, aug, aug ? c.crop_padding : 0, aug && c.flip};
    auto it = stream_of_key.emplace(key, streams.size()).first;
    if (it->second == streams.size()) streams.emplace_back();
    streams[it->second].push_back(k);
  }
  bool equal = true;
  for (const auto& s : streams) equal = equal && s.size() == streams.front().size();
  if (!equal) {  // unequal streams: every member reads its own copy
    streams.clear();
    for (std::size_t k = 0; k < members.size(); ++k) streams.push_back({k});
  }
  t->slot_.assign(members.size(), 0);
  std::vector<Model*> models;
  for (const auto& s : streams) {
    t->stream_members_.push_back(s.front());
    for (auto k : s) {
      t->slot_[k] = static_cast<std::int64_t>(models.size());
      models.push_back(members[k].initial);
    }
  }
  t->net_ = make_fused_net(model, params, models, static_cast<std::int64_t>(streams.size()), why);
  if (!t->net_) return nullptr;
  t->members_ = std::move(members);
  t->data_ = data;
  t->mean_ = mean;
  t->std_ = std;
  return t;
}

std::int64_t FusedTraining::streams() const { return net_->streams(); }

std::vector<TrainResult> FusedTraining::run(Logger* log) {
  const double t0 = now_seconds();
  const auto M = static_cast<std::size_t>(net_->members());
  const auto G = static_cast<std::size_t>(net_->streams());
  const auto kg = static_cast<std::int64_t>(M / G);
  const auto device = data_.images.device();
  const auto n = static_cast<std::int64_t>(members_.front().indices.size());
  const auto& shared = members_.front().cfg;  // epochs, batch size, epoch mode: the same for all
  const bool features = data_.features();
  const auto autocast = autocast_of(shared, device);
  results_.assign(members_.size(), TrainResult{});

  std::vector<const FusedMember*> at(M);
  for (std::size_t k = 0; k < members_.size(); ++k) at[static_cast<std::size_t>(slot_[k])] = &members_[k];
  std::vector<at::Generator> gens, dropout_gens;
  std::vector<torch::Tensor> stream_idx;
  for (auto s : stream_members_) {
    gens.push_back(at::detail::createCPUGenerator(members_[s].seed));
    stream_idx.push_back(torch::tensor(members_[s].indices, torch::kInt64).to(device));
  }
  for (auto* m : at) dropout_gens.push_back(dropout_generator(device, m->seed));
  const auto idx = torch::stack(stream_idx);  // G x n
  std::vector<double> wd(M), mom(M);
  std::vector<std::uint8_t> nest(M);
  bool any_wd = false, any_mom = false, any_nest = false;
  for (std::size_t m = 0; m < M; ++m) {
    wd[m] = at[m]->cfg.weight_decay, mom[m] = at[m]->cfg.momentum, nest[m] = at[m]->cfg.nesterov;
    any_wd |= wd[m] != 0, any_mom |= mom[m] != 0, any_nest |= at[m]->cfg.nesterov && mom[m] != 0;
  }
  const auto fopts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const auto wd_t = torch::tensor(wd, torch::kFloat64).to(fopts);
  const auto mom_t = torch::tensor(mom, torch::kFloat64).to(fopts);
  const auto nest_t = torch::tensor(std::vector<std::int64_t>(nest.begin(), nest.end())).to(device).to(torch::kBool);

  auto& params = net_->parameters();
  std::vector<torch::Tensor> momentum(params.size());
  std::vector<bool> active(M, true);
  std::size_t n_active = M;
  bool fast = autocast == at::kFloat;
  std::unique_ptr<Progress> progress;
  if (log)
    progress = std::make_unique<Progress>(
        *log, fmt::format("  fused training of {} members on {} labels each, epoch", M, n), shared.epochs, 10.0);
  for (std::int64_t epoch = 0; epoch < shared.epochs && n_active > 0; ++epoch) {
    std::vector<double> neg_lr(M);
    for (std::size_t m = 0; m < M; ++m) neg_lr[m] = active[m] ? -warmup_cosine(at[m]->cfg, epoch) : 0.0;
    const auto neg_lr_t = torch::tensor(neg_lr, torch::kFloat64).to(fopts);
    std::vector<std::vector<torch::Tensor>> batches;
    for (std::size_t g = 0; g < G; ++g) batches.push_back(epoch_batches(n, members_[stream_members_[g]].cfg, gens[g]));
    const auto n_batches = batches.front().size();
    // Features: each stream's epoch gathered once when that is small, else batch by batch.
    torch::Tensor global, epoch_x, epoch_y;
    bool per_batch = false;
    if (features) {
      std::vector<torch::Tensor> orders;
      for (auto& b : batches) orders.push_back(torch::cat(b));
      global = idx.gather(1, torch::stack(orders).to(device));  // G x (epoch's rows)
      per_batch = global.numel() * data_.images.size(1) * 4 > epoch_gather_bytes_;
      if (!per_batch) {
        epoch_x = data_.images.index_select(0, global.view({-1})).view({static_cast<std::int64_t>(G), global.size(1), -1});
        epoch_y = data_.labels.index_select(0, global.view({-1})).view(global.sizes());
      }
    }
    auto loss_sum = torch::zeros({static_cast<std::int64_t>(M)}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    std::int64_t offset = 0;
    for (std::size_t b = 0; b < n_batches; ++b) {
      torch::Tensor x, y;
      const auto bs = batches.front()[b].size(0);
      if (features && per_batch) {
        const auto rows = global.narrow(1, offset, bs).reshape({-1});
        x = data_.images.index_select(0, rows).view({static_cast<std::int64_t>(G), bs, -1});
        y = data_.labels.index_select(0, rows).view({static_cast<std::int64_t>(G), bs});
        offset += bs;
      } else if (features) {
        x = epoch_x.narrow(1, offset, bs);
        y = epoch_y.narrow(1, offset, bs);
        offset += bs;
      } else {
        std::vector<torch::Tensor> xs, ys;
        for (std::size_t g = 0; g < G; ++g) {
          const auto gi = idx[static_cast<std::int64_t>(g)].index_select(0, batches[g][b].to(device));
          auto xg = data_.images.index_select(0, gi);
          const auto& c = members_[stream_members_[g]].cfg;
          if (c.augment) xg = augment(xg, c.crop_padding, c.flip, gens[g]);
          xs.push_back(xg);
          ys.push_back(data_.labels.index_select(0, gi));
        }
        x = torch::stack(xs);
        y = torch::stack(ys);
      }
      auto xf = normalize(x, mean_, std_);
      torch::Tensor loss = fast ? net_->loss_and_gradients(xf, y) : torch::Tensor();
      if (!loss.defined()) {
        fast = false;
        for (auto& p : params) p.mutable_grad() = torch::Tensor();
        torch::Tensor logits;
        {
          AutocastScope ac(autocast, device);
          logits = net_->forward(xf, true, dropout_gens).to(torch::kFloat32);
        }
        const auto classes = logits.size(2);
        const auto ym = y.unsqueeze(1).expand({static_cast<std::int64_t>(G), kg, bs}).reshape({-1});
        loss = torch::nn::functional::cross_entropy(
                   logits.reshape({-1, classes}), ym,
                   torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                   .view({static_cast<std::int64_t>(M), bs})
                   .mean(1);
        loss.sum().backward();
      }
      {
        // torch::optim::SGD's step (dampening 0) with each member's own settings.
        torch::NoGradGuard ng;
        for (std::size_t i = 0; i < params.size(); ++i) {
          auto& p = params[i];
          auto g = p.grad();
          if (!g.defined()) continue;
          if (cpu_members(p, g, M)) {
            // One loop per member over its slice, with its own settings (quarry::sgd_update, as
            // train_model's fast path): a few small LibTorch calls per tensor were most of a
            // fused head's step.
            const bool first = any_mom && !momentum[i].defined();
            if (first) momentum[i] = torch::empty_like(p);
            const auto per = p.numel() / static_cast<std::int64_t>(M);
            float* pp = p.data_ptr<float>();
            const float* gp = g.data_ptr<float>();
            float* bp = any_mom ? momentum[i].data_ptr<float>() : nullptr;
            for (std::size_t m = 0; m < M; ++m) {
              const auto o = static_cast<std::int64_t>(m) * per;
              sgd_update(pp + o, gp + o, bp ? bp + o : nullptr, per, static_cast<float>(wd[m]),
                         static_cast<float>(mom[m]), nest[m] != 0, static_cast<float>(neg_lr[m]), first);
            }
            continue;
          }
          if (any_wd) g.addcmul_(p, per_member(wd_t, p));
          if (any_mom) {
            const auto mb = per_member(mom_t, p);
            if (!momentum[i].defined())
              momentum[i] = g.clone();
            else
              momentum[i].mul_(mb).add_(g);
            g = any_nest ? torch::where(per_member(nest_t, p), g.addcmul(momentum[i], mb), momentum[i]) : momentum[i];
          }
          p.addcmul_(g, per_member(neg_lr_t, p));
        }
      }
      loss_sum += loss.detach().to(torch::kFloat64);
    }
    const auto mean_loss = (loss_sum / static_cast<double>(n_batches)).cpu();
    for (std::size_t k = 0; k < members_.size(); ++k) {
      const auto m = static_cast<std::size_t>(slot_[k]);
      if (!active[m]) continue;
      auto& r = results_[k];
      r.epochs_run = epoch + 1;
      r.final_loss = mean_loss[static_cast<std::int64_t>(m)].item<double>();
      if (!std::isfinite(r.final_loss)) {
        // As train_model stops a diverged training: this member is frozen (zeroed, so its
        // non-finite values cannot slow the others down) and no longer updated.
        r.diverged = true;
        r.diverged_epoch = epoch;
        active[m] = false;
        --n_active;
        torch::NoGradGuard ng;
        for (std::size_t i = 0; i < params.size(); ++i) {
          params[i][static_cast<std::int64_t>(m)].zero_();
          if (momentum[i].defined()) momentum[i][static_cast<std::int64_t>(m)].zero_();
        }
        if (log) log->warn(fmt::format("  fused member {} diverged at epoch {} (non-finite loss)", k, epoch));
      }
    }
    if (progress) progress->step(epoch + 1, fmt::format("{} of {} members training", n_active, M));
  }
  const double share = (now_seconds() - t0) / static_cast<double>(M);
  for (auto& r : results_) r.seconds = share;
  return results_;
}

void FusedTraining::load_member(std::size_t k, Model& into) const {
  net_->export_member(slot_.at(k), into);
  into.train(false);
  if (k < results_.size() && !results_[k].diverged && into.fits_after_training()) {
    torch::NoGradGuard ng;
    const auto idx = torch::tensor(members_[k].indices, torch::kInt64).to(data_.images.device());
    into.after_training(normalize(data_.images.index_select(0, idx), mean_, std_), data_.labels.index_select(0, idx));
  }
}

}  // namespace quarry
