#include "core/hpo/splits.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "core/data/seeds.hpp"
#include "quarry/error.hpp"

namespace quarry {

std::vector<ValidationSplit> validation_splits(std::int64_t n, const HpoConfig& hpo, std::uint64_t seed) {
  if (n < 2) throw Error("hyper-parameter search: a pool of " + std::to_string(n) + " labels cannot be split for validation");
  if (hpo.folds == 1 || hpo.folds < 0)
    throw Error(fmt::format("hpo.folds = {}: K-fold needs folds >= 2 (0 = random splits, hpo.splits of them)", hpo.folds));
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::vector<std::vector<std::int64_t>> validations;
  if (hpo.folds >= 2) {
    if (hpo.folds > n)
      throw Error(fmt::format("hpo.folds = {}: more folds than the {} labels of the pool", hpo.folds, n));
    std::mt19937_64 rng(mix_seed(seed, kSeedHpoSplit, 0));
    const auto order = sample_without_replacement(all, n, rng);
    for (std::int64_t k = 0; k < hpo.folds; ++k)
      validations.emplace_back(order.begin() + k * n / hpo.folds, order.begin() + (k + 1) * n / hpo.folds);
  } else {
    const auto m = std::clamp<std::int64_t>(std::llround(hpo.split_fraction * static_cast<double>(n)), 1, n - 1);
    for (std::int64_t k = 0; k < hpo.splits; ++k) {
      std::mt19937_64 rng(mix_seed(seed, kSeedHpoSplit, static_cast<std::uint64_t>(k)));
      validations.push_back(sample_without_replacement(all, m, rng));
    }
  }
  std::vector<ValidationSplit> out;
  for (auto& v : validations) {
    std::sort(v.begin(), v.end());
    ValidationSplit s;
    std::set_difference(all.begin(), all.end(), v.begin(), v.end(), std::back_inserter(s.train));
    s.validation = std::move(v);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace quarry
