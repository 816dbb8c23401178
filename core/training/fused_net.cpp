#include "core/training/fused_net.hpp"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "core/training/fused_models.hpp"
#include "quarry/error.hpp"
#include "quarry/random.hpp"

namespace quarry {

namespace {

/// The fused net against the plugin's own forward on a probe batch, in eval and in training
/// mode (dropout masks and batch-norm running statistics included); both are left as they were.
std::string probe_mismatch(FusedNet& net, Model& model, const torch::Tensor& probe) {
  torch::NoGradGuard ng;
  const bool was_training = model.is_training();
  std::vector<torch::Tensor> model_buffers, net_buffers;
  for (auto& b : model.buffers()) model_buffers.push_back(b.clone());
  for (auto& b : net.buffers()) net_buffers.push_back(b.clone());
  std::string why;
  const std::uint64_t seed = 20211;
  for (bool training : {false, true}) {
    model.train(training);
    torch::Tensor ref;
    {
      ModelRandomScope scope(seed);
      ref = model.forward(probe).logits;
    }
    std::vector<at::Generator> gens;
    for (std::int64_t m = 0; m < net.members(); ++m) gens.push_back(dropout_generator(probe.device(), seed));
    auto sizes = probe.sizes().vec();
    sizes.insert(sizes.begin(), net.streams());
    auto out = net.forward(probe.unsqueeze(0).expand(sizes).contiguous(), training, gens)[0];
    if (!ref.defined() || ref.sizes() != out.sizes() || !torch::allclose(out, ref, 1e-4, 1e-5)) {
      why = fmt::format("its fused forward differs from the plugin's on a probe batch ({} mode)",
                        training ? "training" : "eval");
      break;
    }
  }
  if (why.empty()) {  // the running statistics the training-mode step left behind
    auto named = model.named_buffers();
    for (std::size_t i = 0; i < net.buffer_names().size(); ++i) {
      const auto* b = named.find(net.buffer_names()[i]);
      if (!b || !torch::allclose(b->to(torch::kFloat64), net.buffers()[i][0].to(torch::kFloat64), 1e-4, 1e-6)) {
        why = "its fused batch norm's running statistics differ from the plugin's ('" + net.buffer_names()[i] + "')";
        break;
      }
    }
  }
  model.train(was_training);
  std::size_t i = 0;
  for (auto& b : model.buffers()) b.copy_(model_buffers[i++]);
  i = 0;
  for (auto& b : net.buffers()) b.copy_(net_buffers[i++]);
  return why;
}

}  // namespace

torch::Tensor FusedNet::stack_parameter(const std::vector<Model*>& models, const std::string& name, bool buffer) {
  std::vector<torch::Tensor> parts;
  for (auto* model : models) {
    auto all = buffer ? model->named_buffers() : model->named_parameters();
    const auto* t = all.find(name);
    if (!t) throw Error("it has no " + std::string(buffer ? "buffer" : "parameter") + " '" + name + "'");
    if (!parts.empty() && t->sizes() != parts.front().sizes()) throw Error("members' '" + name + "' differ in shape");
    parts.push_back(t->detach());
  }
  torch::NoGradGuard ng;
  auto stacked = torch::stack(parts).contiguous();
  if (buffer) {
    buffer_index_[name] = buffers_.size();
    buffer_names_.push_back(name);
    buffers_.push_back(stacked);
  } else {
    stacked.set_requires_grad(true);
    param_index_[name] = params_.size();
    param_names_.push_back(name);
    params_.push_back(stacked);
  }
  return stacked;
}

void FusedNet::stack_batch_norm(const std::vector<Model*>& models, const std::string& prefix) {
  stack_parameter(models, prefix + ".weight", false);
  stack_parameter(models, prefix + ".bias", false);
  for (const char* b : {".running_mean", ".running_var", ".num_batches_tracked"}) stack_parameter(models, prefix + b, true);
}

const torch::Tensor& FusedNet::parameter(const std::string& name) const { return params_[param_index_.at(name)]; }

torch::Tensor FusedNet::stream_images(const torch::Tensor& x) const {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2), x.size(3), x.size(4)});
}

torch::Tensor FusedNet::conv(const torch::Tensor& h, const std::string& weight, std::int64_t stride,
                             std::int64_t padding, bool first) const {
  const auto& w = parameter(weight);
  const auto flat = w.view({w.size(0) * w.size(1), w.size(2), w.size(3), w.size(4)});
  return torch::conv2d(h, flat, {}, stride, padding, 1, first ? streams_ : members_);
}

torch::Tensor FusedNet::batch_norm(const torch::Tensor& h, const std::string& prefix, bool training) {
  if (training) buffers_[buffer_index_.at(prefix + ".num_batches_tracked")].add_(1);
  return torch::batch_norm(h, parameter(prefix + ".weight").view({-1}), parameter(prefix + ".bias").view({-1}),
                           buffers_[buffer_index_.at(prefix + ".running_mean")].view({-1}),
                           buffers_[buffer_index_.at(prefix + ".running_var")].view({-1}), training, 0.1, 1e-5,
                           at::globalContext().userEnabledCuDNN());
}

torch::Tensor FusedNet::pool_members(const torch::Tensor& h) const {
  return h.mean({2, 3}).view({h.size(0), members_, h.size(1) / members_}).transpose(0, 1);
}

torch::Tensor FusedNet::linear(const torch::Tensor& x, const std::string& prefix) const {
  return torch::baddbmm(parameter(prefix + ".bias").unsqueeze(1), x, parameter(prefix + ".weight").transpose(1, 2));
}

torch::Tensor FusedNet::linear_streams(const torch::Tensor& x, const std::string& prefix) const {
  const auto& w = parameter(prefix + ".weight");
  const auto out = w.size(1), in = w.size(2), kg = members_ / streams_, b = x.size(1);
  auto z = torch::baddbmm(parameter(prefix + ".bias").view({streams_, 1, kg * out}), x,
                          w.view({streams_, kg * out, in}).transpose(1, 2));
  if (kg == 1) return z;
  return z.view({streams_, b, kg, out}).permute({0, 2, 1, 3}).reshape({members_, b, out});
}

torch::Tensor FusedNet::dropout(const torch::Tensor& h, double p, bool training, std::vector<at::Generator>& gens) const {
  if (!training || p == 0) return h;
  std::vector<torch::Tensor> masks;
  const bool images = h.dim() == 4;
  auto shape = h.sizes().vec();
  if (images) shape[1] /= members_;
  else shape.erase(shape.begin());
  for (std::int64_t m = 0; m < members_; ++m)
    masks.push_back(torch::empty(shape, h.options()).bernoulli_(1.0 - p, gens[static_cast<std::size_t>(m)]));
  auto keep = images ? torch::stack(masks, 1).view(h.sizes()) : torch::stack(masks);
  return h * keep.div_(1.0 - p);
}

void FusedNet::export_member(std::int64_t m, Model& into) const {
  torch::NoGradGuard ng;
  auto params = into.named_parameters();
  for (std::size_t i = 0; i < param_names_.size(); ++i) params[param_names_[i]].copy_(params_[i][m]);
  auto buffers = into.named_buffers();
  for (std::size_t i = 0; i < buffer_names_.size(); ++i) buffers[buffer_names_[i]].copy_(buffers_[i][m]);
}

at::Generator dropout_generator(const torch::Device& device, std::uint64_t seed) {
  // As quarry::model_generator makes a scope's generator: the device's default, cloned, reseeded.
  at::Generator global = at::globalContext().defaultGenerator(device);
  at::Generator g;
  {
    std::lock_guard<std::mutex> lock(global.mutex());
    g = global.clone();
  }
  g.set_current_seed(seed);
  return g;
}

std::unique_ptr<FusedNet> make_fused_net(const std::string& name, const Params& params,
                                         const std::vector<Model*>& models, std::int64_t streams, std::string& why) {
  why.clear();
  if (models.empty() || streams < 1 || static_cast<std::int64_t>(models.size()) % streams != 0)
    throw Error("internal: make_fused_net needs members in equal streams");
  std::unique_ptr<FusedNet> net;
  try {
    net = make_fused_architecture(name, params, models, streams);
  } catch (const Error& e) {
    why = "model '" + name + "' is not the in-tree " + name + ": " + e.what();
    return nullptr;
  }
  if (!net) {
    why = fmt::format("no fused equivalent of model '{}' (fused: {})", name, fused_model_names());
    return nullptr;
  }
  const auto named = models.front()->named_parameters();
  if (named.size() != net->parameters().size()) {
    why = fmt::format("model '{}' is not the in-tree {}: it has {} parameters, the fused one {}", name, name,
                      named.size(), net->parameters().size());
    return nullptr;
  }
  // A probe the size of the input (features: D; images: C x 8 x 8, any size works with the
  // global pools), on the members' device.
  const auto& first = net->parameters().front();
  auto gen = at::detail::createCPUGenerator(7);
  auto probe = first.dim() == 3 ? torch::randn({3, first.size(2)}, gen) : torch::randn({3, first.size(2), 8, 8}, gen);
  why = probe_mismatch(*net, *models.front(), probe.to(first.device()));
  if (!why.empty()) return nullptr;
  return net;
}

}  // namespace quarry
