// The validation splits every trial of a search trains and validates on. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "core/pipeline/settings.hpp"

namespace quarry {

/// One validation split of a labeled pool, as positions 0..n-1 into that pool.
struct ValidationSplit {
  std::vector<std::int64_t> train;       ///< ascending
  std::vector<std::int64_t> validation;  ///< ascending
};

/// The splits every trial of a search trains and validates on. hpo.folds >= 2:
/// K-fold (the validations partition the pool, sizes differ by at most one);
/// otherwise hpo.splits independent random splits holding out
/// round(split_fraction * n) images each (at least one). Split k is drawn from
/// mix_seed(seed, kSeedHpoSplit, k), so the splits depend only on (n, hpo, seed).
std::vector<ValidationSplit> validation_splits(std::int64_t pool_size, const HpoConfig& hpo, std::uint64_t seed);

}  // namespace quarry
