// Pool reuse: train another architecture (or the same one with other
// hyper-parameters, or with a hyper-parameter search) on pools that earlier runs
// collected. Each result is a run of kind "reuse" linked to its source run and size.
#pragma once

#include <string>
#include <vector>

#include "core/store/store.hpp"
#include "quarry/logger.hpp"

namespace quarry {

class PluginHost;

struct ReuseRequest {
  std::string pipeline;            ///< the target: its [model], [train], [dataset] (and [hpo] with tune)
  std::vector<std::string> sets;   ///< --set overrides
  std::vector<std::string> pools;  ///< RUN[@SIZE], repeatable
  std::vector<std::string> pool_files;
  bool tune = false;               ///< search the hyper-parameters on each pool first
  std::string results;             ///< store folder (default: the pipeline's [run] results)
};

/// One reuse run per pool; returns their run ids (and, in `results_out`, the store folder used).
std::vector<std::string> reuse_pools(const ReuseRequest& r, const PluginHost& host, Logger& log,
                                     std::string* results_out = nullptr);

}  // namespace quarry
