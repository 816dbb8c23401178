// hpo.from_run inside a sweep: a cell that trains with the tuned setting of another cell.
//
// In a cell's hpo.from_run value, "{seed}" becomes the cell's seed and "{sweep}" the sweep's
// name, so one [[grid.hp]] entry can name the same-seed cell of another regime, e.g.
//   "hpo.from_run" = "{sweep}-random-at_initial-s{seed}"
// A cell whose from_run (without @SIZE) is another cell's run id, in the sweep's own store
// (no hpo.from_store of its own), runs after that cell (SweepCell::after). See docs/hpo.md.
#pragma once

#include "core/sweep/spec.hpp"

namespace quarry {

/// Expand the placeholders in every cell's hpo.from_run and link each cell to the cells it
/// waits for; a cell naming itself, or cells waiting for each other, are an Error.
void link_transfers(Sweep& sweep);

}  // namespace quarry
