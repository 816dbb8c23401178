// Mean and population standard deviation: the one place Quarry computes them (report
// tables and curves, and the learning-curve summary `quarry run` prints).
#pragma once

#include <cstddef>
#include <vector>

namespace quarry::report {

/// Population, not sample, standard deviation: over seeds, as the study reports them.
struct MeanStd {
  double mean = 0, std = 0;  ///< population standard deviation
  std::size_t n = 0;         ///< 0: no values (shown as "-")
};
MeanStd mean_std(const std::vector<double>& values);

}  // namespace quarry::report
