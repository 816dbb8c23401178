// Scoring several trials of a search at once: hpo.fuse = K trains K trials, on every
// validation split, as one fused model (core/training/fused_trainer.hpp) and scores each as
// score_trial would; architectures or settings that cannot be fused are trained one by one.
#pragma once

#include <cstdint>
#include <vector>

#include "core/hpo/objective.hpp"
#include "core/hpo/splits.hpp"
#include "core/pipeline/pipeline.hpp"
#include "quarry/logger.hpp"
#include "quarry/model.hpp"

namespace quarry {

struct Experiment;

/// score_trial(model, e, cfgs[t], labeled, splits, seed) for every t: with more than one
/// setting, their trainings on all splits are fused (p.model names the architecture), and a
/// line on `log` says why when they cannot be. `model` is a scratch model of the pipeline's
/// architecture; it is left holding some trial's trained weights.
std::vector<TrialScore> score_trials(const Pipeline& p, Model& model, const Experiment& e,
                                     const std::vector<TrainConfig>& cfgs, const std::vector<std::int64_t>& labeled,
                                     const std::vector<ValidationSplit>& splits, std::uint64_t seed, Logger& log);

}  // namespace quarry
