// A stored, resumable hyper-parameter search on a labeled pool (PROTOCOL.md, "Bayesian
// optimisation on a finished labeled pool"), trials run serially or in parallel, then the
// retraining on the whole pool with the best setting.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/hpo/sampler.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "quarry/logger.hpp"

namespace quarry {

class PluginHost;
struct Experiment;

/// What the caller of run_search may observe or inject (tests stop a search with it).
struct SearchHooks {
  /// Called with the trial number after the trial is stored as "running", before it trains.
  std::function<void(int trial_number)> before_trial;
  /// With a pruner: called before a rung of `epochs` epochs trains (not for rungs reused on resume).
  std::function<void(int trial_number, std::int64_t epochs)> before_rung;
};

struct SearchOutcome {
  std::vector<TrialRecord> trials;  ///< every trial of the search, by number
  int best = -1;                    ///< index into trials of the best complete trial
  TrainConfig best_config;          ///< `base` with the best trial's setting
  SearchResult result;              ///< as stored
  bool reused = false;              ///< the search had already finished: nothing was trained
  /// The retraining on the whole pool with the best setting (empty when `reused`): a caller
  /// that wants that model's metrics uses these instead of training it again.
  std::optional<TrainEval> retrained;
  /// Training epochs this call spent on trials, over all validation splits (not the retraining).
  std::int64_t epochs_trained = 0;
};

/// Tune `base` (a run's training setting) on `labeled` (pool indices into e.data.pool).
/// Trials are stored under `search_id`; the trials already stored there are kept
/// (complete and failed ones are not redone, "running" ones are), so calling it
/// again after a crash resumes the search. With hpo.pruner, trials are measured at rungs
/// (core/hpo/fidelity.hpp) and poor ones stored as "pruned"; a resumed trial keeps the
/// rungs it had stored. Then retrains on the whole pool with the
/// best setting, evaluates on the test set and stores the SearchResult (run_id,
/// pool size = labeled.size()). Does not touch e.model: trials and the retraining
/// use models of their own, from e.initial.
SearchOutcome run_search(const Pipeline& p, Experiment& e, const std::vector<std::int64_t>& labeled,
                         const TrainConfig& base, std::int64_t seed, const PluginHost& host, Store& store,
                         const std::string& search_id, const std::string& run_id, Logger& log,
                         const SearchHooks& hooks = {});

/// The stored result of search `search` of run `run_id`, if it finished.
std::optional<SearchResult> stored_search_result(const Store& store, const std::string& run_id,
                                                const std::string& search);

/// The trials of a search as a table, best marked with '*'.
std::string trials_table(const std::vector<TrialRecord>& trials, int best = -1);

}  // namespace quarry
