// Where an active-learning run stands between cycles: the labeled pool, the next cycle and
// the setting it trains with; drawn fresh for a new run, read back from the store for a
// resumed one. And the per-cycle model checkpoints of train.init = "continue".
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"

namespace torch::nn {
class Module;
}

namespace quarry {

struct Experiment;

struct RunState {
  std::vector<std::int64_t> labeled;        ///< pool indices, in acquisition order
  std::vector<char> is_labeled;             ///< per pool index
  std::vector<Acquisition> initial_record;  ///< a new run's initial pool, committed with cycle 0
  std::vector<CycleRecord> cycles;          ///< cycles committed before this process
  std::int64_t next_cycle = 0;
  TrainConfig train;                        ///< the setting the next cycle trains with
  bool finished = false;                    ///< the stored run had already reached its last cycle
  void label(const std::vector<std::int64_t>& picked);
};

/// The initial labeled pool of `seed`: al.initial_pool's file, else al.initial random
/// (class-balanced: round-robin over classes in a random order) pool indices.
std::vector<std::int64_t> initial_pool(const Pipeline& p, const Experiment& e, std::int64_t seed);

/// A new run: the initial pool, cycle 0, the pipeline's [train].
RunState initial_state(const Pipeline& p, const Experiment& e, std::int64_t seed);

/// A stored run after its last committed cycle (no cycles: an empty state): its labeled pool, that cycle's lr and
/// weight_decay (what the store keeps per cycle) on top of the pipeline's [train]; with
/// train.init = "continue", e.model gets the last cycle's checkpoint from `run_dir`.
RunState resumed_state(const Pipeline& p, Experiment& e, const Store& store, const std::string& run_id,
                       const std::filesystem::path& run_dir);

/// <run_dir>/checkpoint-<cycle>.pt
std::filesystem::path checkpoint_file(const std::filesystem::path& run_dir, std::int64_t cycle);
/// Remove every checkpoint in `run_dir` but cycle `keep`'s (a kill between a commit and the
/// clean-up would otherwise leave an older one behind for good).
void remove_checkpoints_except(const std::filesystem::path& run_dir, std::int64_t keep);
/// Written to a temporary name and renamed: a crash never leaves half a checkpoint.
void save_checkpoint(torch::nn::Module& model, const std::filesystem::path& file);

}  // namespace quarry
