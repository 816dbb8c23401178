#include "core/training/mixed_precision.hpp"

#include <torch/torch.h>

#include "core/training/torch_compat.hpp"
#include "quarry/error.hpp"

namespace quarry {

at::ScalarType autocast_dtype(bool mixed_precision, const std::string& precision) {
  if (!mixed_precision) return at::kFloat;
  if (precision == "bfloat16") return at::kBFloat16;
  if (precision == "float16") return at::kHalf;
  throw Error("train.precision: expected bfloat16 or float16, got \"" + precision + "\"");
}

AutocastScope::AutocastScope(at::ScalarType dtype, const torch::Device& device)
    : on_(dtype != at::kFloat && device.is_cuda()) {
  if (on_) compat::set_cuda_autocast(true, dtype);
}

AutocastScope::~AutocastScope() {
  if (on_) {
    compat::set_cuda_autocast(false);
    compat::clear_autocast_cache();
  }
}

GradScaler::GradScaler(bool enabled, Options options)
    : enabled_(enabled), options_(options), scale_(options.init_scale) {}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const {
  if (!enabled_) return loss;
  return loss.to(torch::kFloat32) * scale_;
}

bool GradScaler::unscale(const std::vector<torch::Tensor>& params) const {
  torch::NoGradGuard ng;
  bool finite = true;
  const double inv = 1.0 / scale_;
  for (const auto& p : params) {
    auto g = p.grad();
    if (!g.defined()) continue;
    g.mul_(inv);
    // One reduction per tensor; a host sync per step is what GradScaler pays too.
    if (finite && !torch::isfinite(g).all().item<bool>()) finite = false;
  }
  return finite;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& params) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  const bool finite = unscale(params);
  if (finite) optimizer.step();
  else ++skipped_;
  update(!finite);
  return finite;
}

void GradScaler::update(bool found_inf) {
  if (!enabled_) return;
  if (found_inf) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  if (++growth_tracker_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
}

}  // namespace quarry
