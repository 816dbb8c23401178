// The local executor: a sweep's cells as child processes on this machine.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/sweep/spec.hpp"
#include "core/sweep/status.hpp"

namespace quarry {

struct LocalOptions {
  std::string quarry_exe;  ///< the quarry executable (default: /proc/self/exe)
  std::int64_t jobs = 0;   ///< cells at once (0: one per GPU when cells use CUDA, else one per core)
  std::vector<std::string> plugin_paths;  ///< passed on as --plugin-path
  bool dry_run = false;    ///< print the plan and commands, run nothing
};

/// Run every unfinished cell in child processes, `jobs` at a time; progress and
/// the summary go to `out`. Each child's output goes to <results>/sweep-logs/<id>.log.
SweepSummary run_sweep_local(const Sweep& sweep, const LocalOptions& opts, std::ostream& out);

}  // namespace quarry
