// A study: the active-learning runs of one pipeline, one per (strategy entry, seed), each
// with the pipeline's [hpo] stage; or one stored run continued. What `quarry run` and each
// sweep cell do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "quarry/logger.hpp"

namespace quarry {

class PluginHost;

struct RunRequest {
  std::string pipeline;                 ///< pipeline file (empty with resume)
  std::vector<std::string> sets;        ///< --set overrides
  std::string resume;                   ///< run id to continue
  std::string results = "runs";         ///< results folder (with resume)
  std::vector<std::string> strategies;  ///< only these strategies
  std::vector<std::int64_t> seeds;      ///< only these seeds
  std::string run_id;                   ///< fixed id for a single (strategy, seed): skip if finished, resume if not
};

struct StudyOutcome {
  Pipeline pipeline;                  ///< as run (with resume: the stored one)
  std::vector<std::string> run_ids;   ///< the runs run or continued, in order
  bool already_finished = false;      ///< --run-id named a finished run: nothing ran
};

/// One active-learning run, with the [hpo] stage and regime (core/hpo/regime.hpp) hooked in
/// when the pipeline has an [hpo] section.
RunOutcome run_with_hpo_stage(const Pipeline& p, std::size_t strategy, std::int64_t seed, const PluginHost& host,
                              Store& store, const std::string& run_id = "");

/// Run what `r` asks for. `host` has the command line's plugins; a resumed run's stored
/// plugin_paths are loaded into it. Exports the store's CSV next to it. Throws quarry::Error.
StudyOutcome run_study(const RunRequest& r, PluginHost& host, Logger& log);

}  // namespace quarry
