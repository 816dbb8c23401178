// `quarry tune`'s work: a run of kind "tune" that searches the hyper-parameters on a
// labeled pool (a stored run's, or a pool file), retrains with the best setting, and
// resumes after a crash from its stored trials.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/hpo/search.hpp"

namespace quarry {

class PluginHost;

struct TuneRequest {
  std::string pipeline;           ///< pipeline file (empty with resume)
  std::vector<std::string> sets;  ///< --set overrides
  std::string pool;               ///< RUN or RUN@SIZE
  std::string pool_file;          ///< a pool JSON file (quarry pool export)
  std::string results;            ///< results folder; empty: the pipeline's (or "runs" with resume)
  std::string resume;             ///< tune run to continue
};

struct TuneOutcome {
  RunRecord run;         ///< the tune run (run.source_run: where the pool came from)
  std::string results;   ///< the results folder holding its store
  std::int64_t size = 0;  ///< labels in the pool
  SearchOutcome search;
};

/// Create (or, with r.resume, continue) a tune run, search, retrain. `host` has the
/// default plugins loaded; the stored pipeline's plugin_paths are added on resume.
/// Throws quarry::Error; the run is then marked failed and can be resumed.
TuneOutcome tune_pool(const TuneRequest& r, PluginHost& host);

}  // namespace quarry
