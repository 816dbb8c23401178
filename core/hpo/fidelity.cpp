#include "core/hpo/fidelity.hpp"

#include <cmath>

#include "quarry/error.hpp"

namespace quarry {

TrainConfig rung_config(const TrainConfig& cfg, std::int64_t epochs) {
  if (epochs == cfg.epochs) return cfg;
  TrainConfig c = cfg;
  c.epochs = epochs;
  c.warmup_epochs = static_cast<std::int64_t>(
      std::llround(static_cast<double>(cfg.warmup_epochs) * static_cast<double>(epochs) / static_cast<double>(cfg.epochs)));
  return c;
}

RungedTrial score_by_rungs(Model& model, const Experiment& e, const TrainConfig& cfg,
                           const std::vector<std::int64_t>& labeled, const std::vector<ValidationSplit>& splits,
                           std::uint64_t seed, const std::vector<std::int64_t>& ladder, std::vector<hpo::Rung> reuse,
                           const std::function<bool(const std::vector<hpo::Rung>&)>& measured,
                           const std::function<void(std::int64_t)>& before_rung) {
  if (ladder.empty() || ladder.back() != cfg.epochs) throw Error("score_by_rungs: the last rung must be the full training");
  RungedTrial t;
  for (std::size_t k = 0; k < ladder.size(); ++k) {
    const bool last = k + 1 == ladder.size();
    const auto epochs = ladder[k];
    // The last rung is the trial's objective and needs its NLL: always trained, never reused.
    if (!last && k < reuse.size() && reuse[k].epoch == epochs && std::isfinite(reuse[k].value)) {
      t.score = TrialScore{};
      t.score.accuracy = reuse[k].value;
      t.rungs.push_back(reuse[k]);
    } else {
      if (before_rung) before_rung(epochs);
      reuse.clear();  // a rung trained anew: the ones after it are measured anew too
      t.score = score_trial(model, e, rung_config(cfg, epochs), labeled, splits, seed);
      t.epochs_trained += epochs * static_cast<std::int64_t>(splits.size());
      if (t.score.failed) return t;
      t.rungs.push_back({epochs, t.score.accuracy});
    }
    if (last) return t;
    if (!measured(t.rungs)) {
      t.pruned = true;
      t.stop_epoch = epochs;
      return t;
    }
  }
  return t;
}

}  // namespace quarry
