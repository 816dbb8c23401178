// The per-seed division of a dataset's train split into the active-learning pool and a
// held-out validation set. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

namespace quarry {

/// The train split divided into the pool and a held-out validation set, per seed.
struct PoolSplit {
  std::vector<std::int64_t> pool;        ///< train-split indices forming the pool (pool index -> train index)
  std::vector<std::int64_t> validation;  ///< train-split indices held out
};
/// Deterministic for (n, fraction, seed): round(fraction * n) images held out.
/// pool_subset > 0 keeps a seeded random subset of the pool of that size.
PoolSplit split_pool(std::int64_t n, double validation_fraction, std::uint64_t seed, std::int64_t pool_subset = 0);

}  // namespace quarry
