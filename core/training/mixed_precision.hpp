// Mixed precision on CUDA: autocast to bfloat16 (the default: float32's range, so no loss
// scaling is needed; Ampere and newer) or to float16 together with dynamic loss scaling
// (GradScaler), since float16's small range lets small gradients underflow to 0.
// On the CPU both are off: training runs in float32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/pipeline/settings.hpp"

namespace torch::optim {
class Optimizer;
}

namespace quarry {

/// train.mixed_precision + train.precision -> the autocast dtype; float32 = off.
at::ScalarType autocast_dtype(bool mixed_precision, const std::string& precision);
inline at::ScalarType autocast_dtype(const TrainConfig& cfg) { return autocast_dtype(cfg.mixed_precision, cfg.precision); }

/// Autocast for the scope, when `dtype` is a half type and `device` is CUDA.
class AutocastScope {
 public:
  AutocastScope(at::ScalarType dtype, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
};

/// Dynamic loss scaling as PyTorch's torch.amp.GradScaler does it: the loss is multiplied by
/// `scale` before backward; before the optimiser step the gradients are divided by it and
/// checked; a step with an inf/NaN gradient is skipped and the scale multiplied by
/// `backoff_factor`; after `growth_interval` finite steps in a row it grows by `growth_factor`.
class GradScaler {
 public:
  struct Options {
    double init_scale = 65536.0;  ///< 2^16, PyTorch's default
    double growth_factor = 2.0;
    double backoff_factor = 0.5;
    std::int64_t growth_interval = 2000;
  };
  /// Disabled: scale() returns the loss unchanged and step() always steps.
  explicit GradScaler(bool enabled, Options options);
  explicit GradScaler(bool enabled) : GradScaler(enabled, Options{}) {}

  bool enabled() const { return enabled_; }
  double scale_value() const { return scale_; }
  std::int64_t skipped_steps() const { return skipped_; }

  /// loss x scale (float32).
  torch::Tensor scale(const torch::Tensor& loss) const;
  /// Unscale every gradient of `params` in place; true when they are all finite.
  bool unscale(const std::vector<torch::Tensor>& params) const;
  /// Unscale, step `optimizer` unless a gradient is inf/NaN, then update the scale.
  /// Returns whether the step was taken.
  bool step(torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& params);
  /// The scale after a step that found (or did not find) an inf/NaN gradient.
  void update(bool found_inf);

 private:
  bool enabled_;
  Options options_;
  double scale_;
  std::int64_t growth_tracker_ = 0;
  std::int64_t skipped_ = 0;
};

}  // namespace quarry
