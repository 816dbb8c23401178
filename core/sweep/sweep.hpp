// Sweeps: a grid of runs over one base pipeline, run locally or on Slurm (docs/sweeps.md).
// One header for all of it: the sweep file, its status, and the two executors.
#pragma once

#include "core/sweep/local.hpp"
#include "core/sweep/slurm.hpp"
#include "core/sweep/spec.hpp"
#include "core/sweep/status.hpp"
