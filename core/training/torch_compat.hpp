// Every difference between the LibTorch versions Quarry supports (Debian's 1.13
// and PyPI's 2.x) lives here, so the rest of the code is version-free.
#pragma once

#include <torch/version.h>
#include <ATen/autocast_mode.h>

namespace quarry::compat {

/// Enable or disable float16 autocast for CUDA ops on this thread.
inline void set_cuda_autocast(bool enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
#else
  at::autocast::set_enabled(enabled);
#endif
}

inline void clear_autocast_cache() { at::autocast::clear_cache(); }

}  // namespace quarry::compat
