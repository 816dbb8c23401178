// Where a sweep stands, read from its store: each cell's run status, a table of every
// cell, and the tally an executor returns.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/sweep/spec.hpp"

namespace quarry {

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

/// A table of every cell (status, labels, last test accuracy) from the store.
std::string sweep_table(const Sweep& sweep);

}  // namespace quarry
