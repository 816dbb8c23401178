// Every difference between the LibTorch versions Quarry supports (Debian's 1.13
// and PyPI's 2.x) lives here, so the rest of the code is version-free.
#pragma once

#include <torch/version.h>
#include <ATen/autocast_mode.h>

namespace quarry::compat {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define QUARRY_AUTOCAST_PER_DEVICE 1
#endif

/// Enable or disable autocast for CUDA ops on this thread, to `dtype` (float16 or bfloat16).
inline void set_cuda_autocast(bool enabled, at::ScalarType dtype = at::kBFloat16) {
#ifdef QUARRY_AUTOCAST_PER_DEVICE
  if (enabled) at::autocast::set_autocast_dtype(at::kCUDA, dtype);
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  if (enabled) at::autocast::set_autocast_gpu_dtype(dtype);
  at::autocast::set_enabled(enabled);
#endif
}

inline void clear_autocast_cache() { at::autocast::clear_cache(); }

}  // namespace quarry::compat
