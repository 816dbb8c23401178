// Helpers the sweep's status and its two executors share; not part of the sweep interface.
#pragma once

#include <signal.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "core/sweep/spec.hpp"

namespace quarry::sweep_internal {

/// The sweep's store: <results>/quarry.db.
std::filesystem::path store_file(const Sweep& s);

/// Rewrite <results>/csv once every cell has stopped: cells finishing together each export
/// the CSV files, and two such writers may interleave.
void export_csv(const Sweep& s);

/// `s` as one word for a shell script (dry-run commands, the sbatch script).
std::string shell_quote(const std::string& s);

/// A duration for progress lines: 42s, 3.5min, 1.2h.
std::string fmt_seconds(double s);

/// Indices of the cells whose status is not "finished"; `*skipped` counts the finished ones.
std::vector<std::size_t> unfinished(const std::vector<std::string>& statuses, std::size_t* skipped);

/// The signal (SIGINT or SIGTERM) an InterruptGuard caught; 0 while none came.
int interrupt_signal();

/// While alive, SIGINT and SIGTERM only set interrupt_signal(), so an executor can stop its
/// cells cleanly; the previous handlers come back when it is destroyed.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace quarry::sweep_internal
