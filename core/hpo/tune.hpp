// Hyper-parameter optimisation on a labeled pool (PROTOCOL.md, "Bayesian
// optimisation on a finished labeled pool"): validation splits of the pool, a
// stored and resumable search over [train] keys, the retraining on the whole
// pool with the best setting, and the `quarry tune` command.
//
// Unlike the rest of core/hpo/ this part needs LibTorch: it trains models.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/al/loop.hpp"
#include "core/cli/commands.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/hpo/sampler.hpp"
#include "core/store/store.hpp"

namespace quarry {

class PluginHost;

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

/// The search space of hpo.space (the protocol's lr/weight_decay space when empty).
hpo::SearchSpace search_space_of(const HpoConfig& hpo);
/// `base` with the keys of `a` set. nesterov/augment are categorical "true"/"false".
TrainConfig apply_assignment(const hpo::SearchSpace& space, const hpo::Assignment& a, TrainConfig base);
/// The point of `space` that `cfg` is (clamped into the bounds); nullopt when a
/// categorical value of `cfg` is not among the choices.
std::optional<hpo::Assignment> assignment_of(const hpo::SearchSpace& space, const TrainConfig& cfg);
/// {"lr": 0.01, "weight_decay": 0.0005, "nesterov": "true"}: numbers as numbers, choices as text.
std::string params_json(const hpo::SearchSpace& space, const hpo::Assignment& a);
/// Reads params_json's output back; throws quarry::Error when a dimension is missing or out of range.
hpo::Assignment assignment_from_json(const hpo::SearchSpace& space, const std::string& json);

/// What the caller of run_search may observe or inject (tests stop a search with it).
struct SearchHooks {
  /// Called with the trial number after the trial is stored as "running", before it trains.
  std::function<void(int trial_number)> before_trial;
};

struct SearchOutcome {
  std::vector<TrialRecord> trials;  ///< every trial of the search, by number
  int best = -1;                    ///< index into trials of the best complete trial
  TrainConfig best_config;          ///< `base` with the best trial's setting
  SearchResult result;              ///< as stored
  bool reused = false;              ///< the search had already finished: nothing was trained
};

/// Tune `base` (a run's training setting) on `labeled` (pool indices into e.data.pool).
/// Trials are stored under `search_id`; the trials already stored there are kept
/// (complete and failed ones are not redone, "running" ones are), so calling it
/// again after a crash resumes the search. Then retrains on the whole pool with the
/// best setting, evaluates on the test set and stores the SearchResult (run_id,
/// pool size = labeled.size()). Does not touch e.model: trials and the retraining
/// use models of their own, from e.initial.
SearchOutcome run_search(const Pipeline& p, Experiment& e, const std::vector<std::int64_t>& labeled,
                         const TrainConfig& base, std::int64_t seed, const PluginHost& host, Store& store,
                         const std::string& search_id, const std::string& run_id, Logger& log,
                         const SearchHooks& hooks = {});

/// The trials of a search as a table, best marked with '*'.
std::string trials_table(const std::vector<TrialRecord>& trials, int best = -1);

/// The [hpo] stage of an active-learning run, as the loop's CycleHook: a search when a
/// cycle's labeled count is in hpo.sizes, and every hpo.every cycles one whose best
/// setting the following cycles train with.
CycleHook hpo_stage(const Pipeline& p, std::int64_t seed, const PluginHost& host, Store& store);
/// The setting a resumed run with hpo.every > 0 continues with: `restored` with the
/// best setting of the latest search of an `every` cycle among the committed cycles.
TrainConfig tuned_setting_for_resume(const Pipeline& p, const Store& store, const std::string& run_id,
                                     const TrainConfig& restored);

struct TuneRequest {
  std::string pipeline;           ///< pipeline file (empty with resume)
  std::vector<std::string> sets;  ///< --set overrides
  std::string pool;               ///< RUN or RUN@SIZE
  std::string pool_file;          ///< a pool JSON file (quarry pool export)
  std::string results;            ///< results folder; empty: the pipeline's (or "runs" with resume)
  std::string resume;             ///< tune run to continue
};
/// `quarry tune`: creates a run of kind "tune", searches, retrains, prints the trials.
/// Returns the process exit code; `run_id_out` (optional) receives the tune run's id.
int cmd_tune(const TuneRequest& r, const GlobalOptions& g, std::string* run_id_out = nullptr);

}  // namespace quarry
