// The [hpo] stage inside an active-learning run: searches at hpo.sizes, and every
// hpo.every cycles one whose best setting the following cycles train with.
#pragma once

#include <cstdint>
#include <string>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"

namespace quarry {

class PluginHost;

/// The [hpo] stage of an active-learning run, as the loop's CycleHook: a search when a
/// cycle's labeled count is in hpo.sizes, and every hpo.every cycles one whose best
/// setting the following cycles train with.
CycleHook hpo_stage(const Pipeline& p, std::int64_t seed, const PluginHost& host, Store& store);
/// The setting a resumed run with hpo.every > 0 continues with: `restored` with the
/// best setting of the latest search of an `every` cycle among the committed cycles.
TrainConfig tuned_setting_for_resume(const Pipeline& p, const Store& store, const std::string& run_id,
                                     const TrainConfig& restored);

}  // namespace quarry
