#include "core/util/allocator.hpp"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace quarry {

bool keep_freed_memory() {
  const char* choice = std::getenv("QUARRY_MALLOC");
  if (choice && std::strcmp(choice, "system") == 0) return false;
#if defined(__GLIBC__)
  // ResNet-18 at batch 128 on CPU, without this: 3.4x the page faults of the same loop in
  // Python, and ~20% of the step time in the kernel (docs/training.md).
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1;
#else
  return false;
#endif
}

}  // namespace quarry
