// The pool-based active-learning loop: train -> evaluate -> query -> record, per cycle.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"

namespace quarry {

class PluginHost;
struct Experiment;

/// Called after each cycle's training with the current labeled pool; may return a
/// new training setting for the following cycles (the [hpo] stage hooks in here).
using CycleHook = std::function<std::optional<TrainConfig>(Experiment& e, const std::string& run_id,
                                                          std::int64_t cycle, const std::vector<std::int64_t>& labeled,
                                                          const TrainConfig& current)>;

/// Called once when a run resumes, with the setting restored from its last committed
/// cycle (only lr and weight_decay are stored per cycle); returns the setting the run
/// continues with (the [hpo] stage puts back the tuned one).
using ResumeHook = std::function<TrainConfig(const std::string& run_id, const TrainConfig& restored)>;

/// Called once when a new run starts (also a run stopped before its first committed cycle),
/// with its initial labeled pool and the pipeline's [train]; returns the setting cycle 0
/// trains with (the HPO regime hooks in here: core/hpo/regime.hpp).
using StartHook = std::function<TrainConfig(Experiment& e, const std::string& run_id,
                                            const std::vector<std::int64_t>& labeled, const TrainConfig& train)>;

struct RunOutcome {
  std::string run_id;
  std::vector<CycleRecord> cycles;
};

/// Run one active-learning run: strategy `strategy_index` of the pipeline, with
/// `seed`. With `run_id` naming a run already in the store, continue it from its
/// last committed cycle; with a new `run_id`, start a run of that id; empty: a
/// fresh id. The hook runs after each cycle's query, before the cycle is
/// committed (so a crash inside it loses only that cycle); `on_start` before cycle 0 of a
/// run with no committed cycle, `on_resume` when continuing after one. Throws Error on a bad
/// plugin output or bad input; the run is then marked failed in the store.
RunOutcome run_active_learning(const Pipeline& p, std::size_t strategy_index, std::int64_t seed,
                               const PluginHost& host, Store& store, const std::string& run_id = "",
                               const CycleHook& hook = {}, const ResumeHook& on_resume = {},
                               const StartHook& on_start = {});

/// Cycles a run with `labeled` labels still trains until it reaches `budget` (this one included).
std::int64_t cycles_to_budget(std::int64_t budget, std::size_t labeled, std::int64_t query_size);

}  // namespace quarry
