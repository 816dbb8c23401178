// One step of torch::optim::SGD's update (dampening 0) on plain float32 arrays, op for op as
// LibTorch computes it: weight decay, momentum, Nesterov, the step, one loop per case so the
// compiler vectorises each. The trainer's fast path (trainer.cpp) and the fused trainer
// (fused_trainer.cpp, one call per member) share it, so a fused member's update is the same
// arithmetic as its unfused training's. No torch here: callers pass the tensors' data.
#pragma once

#include <cstdint>

namespace quarry {

/// p[j] -= lr * (update from g[j]) for j < n. `buf`: the momentum buffer (n floats), written
/// from scratch when `first`; unused when mom == 0 (may be null then). The gradient is not
/// written back.
inline void sgd_update(float* p, const float* g, float* buf, std::int64_t n, float wd, float mom, bool nesterov,
                       float minus_lr, bool first) {
  if (mom == 0) {
    for (std::int64_t j = 0; j < n; ++j) p[j] += minus_lr * (g[j] + wd * p[j]);
    return;
  }
  if (first)
    for (std::int64_t j = 0; j < n; ++j) buf[j] = g[j] + wd * p[j];
  else
    for (std::int64_t j = 0; j < n; ++j) buf[j] = buf[j] * mom + (g[j] + wd * p[j]);
  if (nesterov)
    for (std::int64_t j = 0; j < n; ++j) p[j] += minus_lr * ((g[j] + wd * p[j]) + mom * buf[j]);
  else
    for (std::int64_t j = 0; j < n; ++j) p[j] += minus_lr * buf[j];
}

}  // namespace quarry
