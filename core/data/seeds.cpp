#include "core/data/seeds.hpp"

#include <algorithm>
#include <limits>

namespace quarry {

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
  auto splitmix = [](std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(splitmix(seed) ^ purpose) ^ index);
}

std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  // Rejection sampling on the top bits: unbiased and the same on every platform.
  if (n <= 1) return 0;
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

std::vector<std::int64_t> sample_without_replacement(std::vector<std::int64_t> from, std::int64_t k,
                                                     std::mt19937_64& rng) {
  const auto n = static_cast<std::int64_t>(from.size());
  k = std::min(k, n);
  for (std::int64_t i = 0; i < k; ++i) {
    const auto j = i + static_cast<std::int64_t>(uniform_index(rng, static_cast<std::uint64_t>(n - i)));
    std::swap(from[i], from[j]);
  }
  from.resize(k);
  return from;
}

}  // namespace quarry
