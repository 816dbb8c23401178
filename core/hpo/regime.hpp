// The HPO regime of an active-learning run (docs/hpo.md, "HPO as an experimental factor"):
// the setting its cycles train with, from cycle 0 on, is the pipeline's [train] (fixed), the
// best of a search on the initial labeled pool (hpo.at_initial), or the tuned setting of
// another run (hpo.from_run); with hpo.every = N it is also re-tuned during DAL (stage.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/al/loop.hpp"
#include "core/hpo/search.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"

namespace quarry {

class PluginHost;

/// The loop's hooks for a pipeline's [hpo]: the stage after each cycle (hpo.sizes,
/// hpo.every), the regime's setting for cycle 0, and the setting a resumed run continues with.
struct HpoHooks {
  CycleHook cycle;
  ResumeHook resume;
  StartHook start;
};
/// `search` reaches the search on the initial pool (tests stop it with before_trial).
/// `p`, `host` and `store` must outlive the hooks.
HpoHooks hpo_hooks(const Pipeline& p, std::int64_t seed, const PluginHost& host, Store& store,
                   const SearchHooks& search = {});

/// Id of the search a run makes on a pool of `size` labels (also the hpo.at_initial one): "<run>/<size>".
std::string search_id_of(const std::string& run_id, std::int64_t size);

/// The setting of hpo.from_run, read from its store.
struct TransferredSetting {
  std::string store;    ///< the store file it was read from
  RunRecord run;        ///< the run it comes from
  SearchResult search;  ///< that run's finished search whose best setting it is
  TrainConfig train;    ///< `base` with that setting
};
/// hpo.from_run = "RUN" (the search on its largest pool: its latest tuned setting) or
/// "RUN@SIZE", in hpo.from_store (a results folder or a quarry.db; default: p's store,
/// <run.results>/quarry.db). A missing store, run or finished search is an Error naming
/// the key and where it was written (file:line:column).
TransferredSetting transferred_setting(const Pipeline& p, const TrainConfig& base);

/// The setting cycle 0 of a new run trains with: `train` (fixed), the best of a search on
/// `labeled` stored as search_id_of(run, labeled.size()) (at_initial; a stopped search
/// resumes from its stored trials), or transferred_setting's (from_run; what was read is
/// kept in <results>/<run>/transferred.json, so a resume continues with the same setting).
TrainConfig regime_start_setting(const Pipeline& p, Experiment& e, const std::vector<std::int64_t>& labeled,
                                 const TrainConfig& train, std::int64_t seed, const PluginHost& host, Store& store,
                                 const std::string& run_id, const SearchHooks& search = {});

/// The setting a resumed run (at least one committed cycle) continues with: `restored` with the
/// regime's starting setting, then the latest hpo.every search's (tuned_setting_for_resume).
TrainConfig regime_resume_setting(const Pipeline& p, const Store& store, const std::string& run_id,
                                  const TrainConfig& restored);

}  // namespace quarry
