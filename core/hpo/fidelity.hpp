// A trial under a pruner (hpo.pruner): scored rung by rung, each rung a full warm-up + cosine
// schedule of the rung's epochs (docs/hpo.md, "Multi-fidelity search", says why not the prefix
// of the full-length curve), until the pruner stops it or it reaches the full training.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/hpo/objective.hpp"
#include "core/hpo/pruner.hpp"

namespace quarry {

/// `cfg` as the full schedule of a rung of `epochs` epochs: the warm-up scaled with it
/// (round(warmup_epochs * epochs / cfg.epochs)); `cfg` itself at epochs == cfg.epochs.
TrainConfig rung_config(const TrainConfig& cfg, std::int64_t epochs);

struct RungedTrial {
  TrialScore score;          ///< the full training's when complete; the last rung's when pruned
  bool pruned = false;
  std::int64_t stop_epoch = 0;      ///< pruned: the epochs of its last rung
  std::vector<hpo::Rung> rungs;     ///< every rung measured, reused ones included
  std::int64_t epochs_trained = 0;  ///< training epochs this call ran, over all splits
};

/// Score a trial at the epochs of `ladder` (ascending, the last = cfg.epochs) with score_trial.
/// `reuse`: rungs measured before (a resumed trial), taken as they are and not trained again.
/// After each rung, `measured(rungs)` (rungs so far) says whether the trial goes on; it is not
/// asked after the last. `before_rung(epochs)` runs before a rung trains.
RungedTrial score_by_rungs(Model& model, const Experiment& e, const TrainConfig& cfg,
                           const std::vector<std::int64_t>& labeled, const std::vector<ValidationSplit>& splits,
                           std::uint64_t seed, const std::vector<std::int64_t>& ladder, std::vector<hpo::Rung> reuse,
                           const std::function<bool(const std::vector<hpo::Rung>&)>& measured,
                           const std::function<void(std::int64_t)>& before_rung = {});

}  // namespace quarry
