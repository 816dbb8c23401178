// mean_std: mean and population standard deviation of a list of values.
#include "core/report/statistics.hpp"

#include <cmath>

namespace quarry::report {

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  m.n = values.size();
  if (values.empty()) return m;
  for (double v : values) m.mean += v;
  m.mean /= static_cast<double>(values.size());
  double sq = 0;
  for (double v : values) sq += (v - m.mean) * (v - m.mean);
  m.std = std::sqrt(sq / static_cast<double>(values.size()));
  return m;
}

}  // namespace quarry::report
