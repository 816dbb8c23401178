// The Slurm executor: a sweep's cells as one job array, and the single cell each task runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/sweep/spec.hpp"
#include "core/sweep/status.hpp"

namespace quarry {

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

}  // namespace quarry
