// The pool-based active-learning loop: train -> evaluate -> query -> label, per cycle.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/store/store.hpp"

namespace quarry {

class PluginHost;

/// Called after each cycle's training with the current labeled pool; may return a
/// new training setting for the following cycles (the [hpo] stage hooks in here).
using CycleHook = std::function<std::optional<TrainConfig>(Experiment& e, const std::string& run_id,
                                                          std::int64_t cycle, const std::vector<std::int64_t>& labeled,
                                                          const TrainConfig& current)>;

/// Called once when a run resumes, with the setting restored from its last committed
/// cycle (only lr and weight_decay are stored per cycle); returns the setting the run
/// continues with (the [hpo] stage puts back the tuned one).
using ResumeHook = std::function<TrainConfig(const std::string& run_id, const TrainConfig& restored)>;

struct RunOutcome {
  std::string run_id;
  std::vector<CycleRecord> cycles;
};

/// Run one active-learning run: strategy `strategy_index` of the pipeline, with
/// `seed`. With `run_id` naming a run already in the store, continue it from its
/// last committed cycle; with a new `run_id`, start a run of that id; empty: a
/// fresh id. The hook runs after each cycle's query, before the cycle is
/// committed (so a crash inside it loses only that cycle). Throws Error on a bad
/// plugin output or bad input; the run is then marked failed in the store.
RunOutcome run_active_learning(const Pipeline& p, std::size_t strategy_index, std::int64_t seed,
                               const PluginHost& host, Store& store, const std::string& run_id = "",
                               const CycleHook& hook = {}, const ResumeHook& on_resume = {});

/// Check a strategy's answer; returns what is wrong, or nullopt.
std::optional<std::string> check_query(const std::vector<std::int64_t>& picked, std::int64_t expected,
                                       std::int64_t pool_size, const std::vector<char>& is_labeled);

/// A pool file (quarry pool export): train-split indices with the cycle each was acquired in.
struct PoolFile {
  std::string source_run, dataset;
  std::int64_t seed = 0;
  std::vector<std::int64_t> train_indices;
  std::vector<std::int64_t> cycles;
};
PoolFile read_pool_file(const std::string& path);
void write_pool_file(const std::string& path, const PoolFile& pool);
/// The pool of `run_id` at `size` labels (0 = all), in acquisition order.
PoolFile pool_of_run(const Store& store, const std::string& run_id, std::int64_t size);
/// Map a pool file's train indices onto pool indices of a split; an image held out for
/// validation (or outside the pool subset) is an error naming the file.
std::vector<std::int64_t> pool_indices_for(const PoolFile& pool, const PoolSplit& split, const std::string& file);

/// "<study>-<strategy>-s<seed>-<6 hex>"
std::string new_run_id(const std::string& study, const std::string& what, std::int64_t seed);

}  // namespace quarry
