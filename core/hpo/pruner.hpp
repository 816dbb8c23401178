// Multi-fidelity search: the rungs of asynchronous successive halving (ASHA, Li et al. 2020)
// and Hyperband (Li et al. 2018), with Optuna's promotion rule (its SuccessiveHalvingPruner
// and HyperbandPruner). Pure bookkeeping, torch-free: which epochs a trial is measured at,
// which bracket it belongs to, and whether a rung value lets it continue.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/pipeline/settings.hpp"

namespace quarry::hpo {

/// One measured rung of a trial: its budget in epochs and the mean validation accuracy there.
struct Rung {
  std::int64_t epoch = 0;
  double value = 0;
};

/// The rungs a trial reached so far (any state: the rungs of pruned, failed and running
/// trials compete as well, as in Optuna).
struct TrialRungs {
  int number = 0;
  std::vector<Rung> rungs;
};

struct PrunerOptions {
  std::string kind = "none";        ///< none | asha | hyperband
  std::int64_t max_epochs = 1;      ///< a trial's full training
  std::int64_t min_epochs = 0;      ///< 0: max_epochs / reduction_factor^3, at least 1
  std::int64_t reduction_factor = 3;
  std::int64_t brackets = 0;        ///< hyperband; 0: all that fit
};

/// The options of an [hpo] table for trials of `max_epochs` epochs.
PrunerOptions pruner_options(const HpoConfig& hpo, std::int64_t max_epochs);

class Pruner {
 public:
  /// Throws quarry::Error when the options leave no rung below max_epochs (or too many brackets).
  explicit Pruner(const PrunerOptions& options);

  bool active() const { return options_.kind != "none"; }
  const PrunerOptions& options() const { return options_; }
  /// The first rung's epochs (min_epochs resolved).
  std::int64_t min_epochs() const { return min_; }
  /// 1 for "none" and "asha".
  int brackets() const { return static_cast<int>(ladders_.size()); }
  /// Hyperband's bracket of a trial: a smooth weighted round robin over the brackets with
  /// Li et al.'s trial counts ceil(B / (s + 1) * eta^s) as weights (Optuna: a hash with the
  /// same weights), so it depends on the trial number only. 0 for "none" and "asha".
  int bracket_of(int trial_number) const;
  /// The epochs a trial of `bracket` is measured at, ascending; the last is max_epochs.
  /// Bracket s starts at min_epochs * eta^s. "none": {max_epochs}.
  const std::vector<std::int64_t>& rungs(int bracket) const;
  /// Whether trial `number`, measured `value` at the rung `epoch` of its bracket (not the
  /// last), goes on to the next rung. Its competitors are the values at `epoch` of the other
  /// trials of its bracket in `history` and its own; with n of them it goes on when its value
  /// is among the best max(1, floor(n / eta)) (Optuna's rule: the first eta - 1 trials of a
  /// rung go on only if they lead it). A NaN value never goes on.
  bool promotes(int number, std::int64_t epoch, double value, const std::vector<TrialRungs>& history) const;

 private:
  PrunerOptions options_;
  std::int64_t min_ = 0;
  std::vector<std::vector<std::int64_t>> ladders_;
  std::vector<std::int64_t> weights_;  ///< hyperband: trials per bracket
};

/// "7:61.2 21:70.4" (epoch:percent), for tables and logs.
std::string render_rungs(const std::vector<Rung>& rungs);
/// [[7, 0.612], [21, 0.704]]: as the store keeps them (TrialRecord::rungs); "" for none.
std::string rungs_json(const std::vector<Rung>& rungs);
/// Reads rungs_json's output ("" and null: none); throws quarry::Error on anything else.
std::vector<Rung> rungs_from_json(const std::string& json);

}  // namespace quarry::hpo
