// Process-wide settings the quarry binary (and the training benchmark) apply at start-up.
// No LibTorch here: core/cli/main.cpp includes it.
#pragma once

namespace quarry {

/// Makes glibc's malloc keep freed memory for reuse (no per-block mmap, no trimming).
/// Training frees and reallocates the same activation sizes every step; by default glibc
/// serves each block over its mmap threshold (128 KB, growing to at most 32 MB) with a fresh
/// mmap and unmaps it on free, so every step page-faults its activations in again. The cost:
/// a process keeps its peak heap until it exits. QUARRY_MALLOC=system in the environment
/// leaves glibc's defaults. Returns whether the settings were applied.
bool keep_freed_memory();

}  // namespace quarry
