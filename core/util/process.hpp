// Child processes: the one place Quarry forks and executes another program (sweep cells,
// sbatch/squeue/scancel, rsvg-convert and chromium for reports). No shell is involved,
// so arguments need no quoting.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quarry {

/// Where a child's standard output and error go.
struct ChildIo {
  std::filesystem::path output;   ///< stdout to this file (empty: /dev/null)
  bool append = false;            ///< append to `output` instead of truncating it
  bool stderr_to_output = false;  ///< stderr with stdout; otherwise /dev/null
};

struct SpawnOptions {
  ChildIo io;
  std::map<std::string, std::string> env;  ///< set (or replace) these in the child's environment
  bool own_process_group = false;          ///< the child leads a new group (kill_group ends its helpers too)
};

/// Start `argv` (argv[0] is looked up on PATH when it has no '/'); stdin is /dev/null.
/// Throws quarry::Error when the output file cannot be opened or fork fails; a program
/// that cannot be executed exits with status 127.
pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options = {});

/// Exit status of a finished child: its exit code, or 128 + signal when a signal ended it.
int exit_status(int wait_status);

/// Wait for `pid` at most `timeout_s` seconds (< 0: no limit); nullopt when it is still
/// running then. Returns exit_status().
std::optional<int> wait_process(pid_t pid, double timeout_s = -1);

struct ProgramResult {
  int status = -1;         ///< exit_status(); -1 when it could not start or timed out
  bool timed_out = false;  ///< killed (with its process group) after the timeout
  std::string output;      ///< stdout and stderr together, when captured
};

/// Run `argv` to its end, at most `timeout_s` seconds (its whole process group is
/// killed then). `capture`: stdout and stderr together into result.output; otherwise
/// stdout to `io.output` (or /dev/null) as ChildIo says.
ProgramResult run_program(const std::vector<std::string>& argv, double timeout_s, bool capture,
                          const ChildIo& io = {});

/// The first executable called `name` on PATH (or `name` itself when it has a '/').
std::optional<std::filesystem::path> find_executable(const std::string& name);

/// This process's executable (/proc/self/exe).
std::string self_executable();

/// Cores this process may run on (its CPU affinity).
std::int64_t usable_cores();

}  // namespace quarry
