// Seeds and draws that are the same on every platform: everything random in a run is
// drawn from a generator seeded by mix_seed(run seed, purpose, index). Torch-free.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace quarry {

/// splitmix64-style mixing: a seed for each purpose, so draws do not depend on order.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index = 0);
enum SeedPurpose : std::uint64_t {
  kSeedSplit = 1, kSeedInit = 2, kSeedInitial = 3, kSeedTrain = 4, kSeedCandidates = 5, kSeedQuery = 6,
  kSeedHpoSplit = 7, kSeedHpoSampler = 8, kSeedPoolSubset = 9,
};

/// A uniform integer in [0, n) with a fixed formula (identical across standard libraries).
std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n);
/// k distinct elements of `from`, by partial Fisher-Yates with uniform_index; order = draw order.
std::vector<std::int64_t> sample_without_replacement(std::vector<std::int64_t> from, std::int64_t k,
                                                     std::mt19937_64& rng);

}  // namespace quarry
