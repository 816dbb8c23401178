// The objective a trial is scored by: mean validation accuracy over the search's splits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/hpo/splits.hpp"
#include "core/pipeline/settings.hpp"
#include "quarry/model.hpp"

namespace quarry {

struct Experiment;

struct TrialScore {
  bool failed = false;  ///< diverged, or a non-finite validation accuracy
  std::string why;
  double accuracy = 0, nll = 0;  ///< means over the splits
};

/// Train `model` on each split's train part of `labeled` (pool indices), each from the seed's
/// initial weights, and validate on its validation part. Every trial trains with the same draws
/// (common random numbers), so trials differ only in their setting. Validation images are
/// evaluated as they are (no augmentation); the reference augmented them.
TrialScore score_trial(Model& model, const Experiment& e, const TrainConfig& cfg,
                       const std::vector<std::int64_t>& labeled, const std::vector<ValidationSplit>& splits,
                       std::uint64_t seed);

}  // namespace quarry
