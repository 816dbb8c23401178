// The sweep file: a grid of runs over one base pipeline, expanded into cells.
//
// A sweep file (TOML) names a base pipeline, a results folder shared by every
// cell, and the axes of a grid: strategies, seeds, named hyper-parameter
// settings ([[grid.hp]]) and any further `--set` keys ([grid.set]). Each cell of
// the cartesian product is one `quarry run BASE --strategy S --seed N --run-id ID
// --set ...`; its run id is deterministic, so a finished cell is skipped and an
// interrupted one resumed when the sweep runs again. See docs/sweeps.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quarry {

class ComponentCatalog;

/// One cell of a sweep: one active-learning run.
struct SweepCell {
  std::size_t index = 0;          ///< position in the expansion (the Slurm array task id)
  std::string id;                 ///< run id: <sweep>-<strategy>[-<hp>][-<set values>]-s<seed>
  std::string strategy;
  std::int64_t seed = 0;
  std::string hp;                 ///< [[grid.hp]] name, empty without one
  std::vector<std::string> sets;  ///< every --set override of this cell (results, seed, hp, axes)
  std::string device;             ///< the cell's resolved [run].device
  /// Cells this one waits for: those whose run its hpo.from_run names (transfer.hpp).
  std::vector<std::size_t> after;
};

/// [slurm] defaults of a sweep file; the command line overrides each.
struct SlurmSettings {
  std::string partition;
  std::string time;                ///< HH:MM:SS, D-HH:MM:SS, ...
  std::int64_t gpus = 0;           ///< --gres=gpu:N per task
  std::int64_t cpus_per_task = 0;  ///< 0 = Slurm's default
  std::vector<std::string> extra;  ///< further "#SBATCH ..." options, e.g. "--account=abc"
};

struct Sweep {
  std::string file;     ///< the sweep file, absolute
  std::string name;
  std::string base;     ///< base pipeline, absolute
  std::string results;  ///< results folder shared by every cell, absolute
  SlurmSettings slurm;
  std::vector<SweepCell> cells;
};

/// Parse, expand and validate a sweep: every error names file:line:column and
/// the key; every cell's pipeline is validated (load_pipeline with its
/// overrides) so a bad grid fails before anything runs. `host` may be null
/// (component tables are then only checked for a name).
Sweep load_sweep(const std::string& path, const ComponentCatalog* host);
Sweep parse_sweep(const std::string& text, const std::string& file, const ComponentCatalog* host);

/// The arguments (after the executable) of the `quarry run` that runs `cell`;
/// `threads` > 0 adds run.threads unless the cell sets it itself.
std::vector<std::string> cell_arguments(const Sweep& sweep, const SweepCell& cell, std::int64_t threads,
                                        const std::vector<std::string>& plugin_paths);

}  // namespace quarry
