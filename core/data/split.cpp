#include "core/data/split.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/data/seeds.hpp"

namespace quarry {

PoolSplit split_pool(std::int64_t n, double validation_fraction, std::uint64_t seed, std::int64_t pool_subset) {
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(mix_seed(seed, kSeedSplit));
  const auto n_val = static_cast<std::int64_t>(std::llround(validation_fraction * static_cast<double>(n)));
  auto shuffled = sample_without_replacement(all, n, rng);
  PoolSplit s;
  s.validation.assign(shuffled.begin(), shuffled.begin() + n_val);
  s.pool.assign(shuffled.begin() + n_val, shuffled.end());
  std::sort(s.validation.begin(), s.validation.end());
  std::sort(s.pool.begin(), s.pool.end());
  if (pool_subset > 0 && pool_subset < static_cast<std::int64_t>(s.pool.size())) {
    std::mt19937_64 sub_rng(mix_seed(seed, kSeedPoolSubset));
    s.pool = sample_without_replacement(s.pool, pool_subset, sub_rng);
    std::sort(s.pool.begin(), s.pool.end());
  }
  return s;
}

}  // namespace quarry
