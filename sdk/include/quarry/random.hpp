// Random draws inside a model's forward pass (dropout and the like). LibTorch's default
// generator is one per process, shared by every thread, so trials trained in parallel
// threads would draw from it in whatever order the threads run. The host gives each
// training its own generator instead (a ModelRandomScope on the training thread); models
// draw through quarry::dropout and so are reproducible however trials are scheduled.
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace quarry {

/// While alive, quarry::dropout and model_generator() on this thread draw from generators of
/// their own, seeded with `seed` (one per device). Scopes nest; the previous one comes back.
class ModelRandomScope {
 public:
  explicit ModelRandomScope(std::uint64_t seed);
  ~ModelRandomScope();
  ModelRandomScope(const ModelRandomScope&) = delete;
  ModelRandomScope& operator=(const ModelRandomScope&) = delete;

 private:
  void* previous_;
};

/// The generator for `device` of this thread's active scope; LibTorch's default generator
/// for that device when no scope is active.
at::Generator model_generator(const torch::Device& device);

/// While alive, quarry::dropout on this thread drops as in training even when the model is in
/// eval mode: Monte-Carlo dropout (Gal & Ghahramani 2016), with batch norm and everything else
/// still in eval mode. The host opens one around QueryContext::predict_samples. Scopes nest.
class MonteCarloScope {
 public:
  MonteCarloScope();
  ~MonteCarloScope();
  MonteCarloScope(const MonteCarloScope&) = delete;
  MonteCarloScope& operator=(const MonteCarloScope&) = delete;

 private:
  bool previous_;
};

/// Inverted dropout (as torch::dropout): in training, or inside a MonteCarloScope, each element
/// is zeroed with probability `p` and the rest scaled by 1 / (1 - p), drawing from
/// model_generator(x.device()).
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

}  // namespace quarry
