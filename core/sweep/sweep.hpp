// Sweeps: a grid of runs over one base pipeline, run locally or on Slurm.
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
#include <iosfwd>
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

/// The run status of each cell in the sweep's store: finished | running | failed | "" (not started).
std::vector<std::string> cell_statuses(const Sweep& sweep);

struct SweepSummary {
  std::size_t finished = 0;  ///< cells run to the end by this invocation
  std::size_t failed = 0;
  std::size_t interrupted = 0;  ///< stopped by Ctrl-C/SIGTERM to the sweep; they resume next time
  std::size_t skipped = 0;      ///< cells already finished before it
  std::size_t total = 0;
  int exit_code() const { return failed > 0 || interrupted > 0 || finished + skipped < total ? 1 : 0; }
};

struct LocalOptions {
  std::string quarry_exe;  ///< the quarry executable (default: /proc/self/exe)
  std::int64_t jobs = 0;   ///< cells at once (0: one per GPU when cells use CUDA, else one per core)
  std::vector<std::string> plugin_paths;  ///< passed on as --plugin-path
  bool dry_run = false;    ///< print the plan and commands, run nothing
};

/// Run every unfinished cell in child processes, `jobs` at a time; progress and
/// the summary go to `out`. Each child's output goes to <results>/sweep-logs/<id>.log.
SweepSummary run_sweep_local(const Sweep& sweep, const LocalOptions& opts, std::ostream& out);

struct SlurmOptions {
  std::string quarry_exe;  ///< the quarry executable the tasks run (default: /proc/self/exe)
  std::string partition, time;
  std::int64_t gpus = -1;           ///< -1: the sweep file's [slurm] gpus
  std::int64_t cpus_per_task = -1;  ///< -1: the sweep file's [slurm] cpus_per_task
  std::int64_t jobs = 0;            ///< > 0: at most this many tasks at once (--array=...%N)
  std::vector<std::string> plugin_paths;
  bool dry_run = false;  ///< write and print the script, do not submit
  bool wait = false;     ///< poll squeue until the array is done, then summarise
  double poll_seconds = 5;
  std::string workdir;   ///< the tasks' working directory (default: the current one)
};

/// The job-array script for the cells `pending` (indices into sweep.cells).
std::string slurm_script(const Sweep& sweep, const SlurmOptions& opts, const std::vector<std::size_t>& pending);

/// Write <results>/slurm/<name>.sbatch for the unfinished cells, submit it with
/// `sbatch --parsable`, print the job id; with `wait`, poll until it is done.
SweepSummary run_sweep_slurm(const Sweep& sweep, const SlurmOptions& opts, std::ostream& out);

/// One cell in this process (what each Slurm task runs): `quarry run` with the
/// cell's run id, so a finished cell is skipped and an interrupted one resumed.
/// run.threads follows SLURM_CPUS_PER_TASK when Slurm sets it.
int run_sweep_cell(const Sweep& sweep, std::size_t index, const std::vector<std::string>& plugin_paths);

/// A table of every cell (status, labels, last test accuracy) from the store.
std::string sweep_table(const Sweep& sweep);

}  // namespace quarry
