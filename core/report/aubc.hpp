// Area under the budget curve (AUBC): one number per run for its whole learning curve, the
// mean test accuracy over the labeled range (trapezoidal rule, divided by the range, so in
// [0, 1]); per strategy and setting its mean over seeds with a 95% bootstrap interval.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/significance.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

/// (labeled, accuracy) points in increasing labeled order; at least one. A single point (or a
/// zero-width range) is its accuracy. Throws quarry::Error on an empty or unsorted curve.
double aubc(const std::vector<std::pair<double, double>>& curve);

/// One strategy under one setting of one (dataset, model).
struct AubcRow {
  std::string dataset, model, hp, strategy;
  std::int64_t from = 0, to = 0;  ///< the labeled range of the setting (every strategy's runs)
  std::vector<std::pair<const RunData*, double>> runs;  ///< AUBC of each run that covers the range
  std::size_t left_out = 0;       ///< runs whose cycles do not cover the range (unfinished)
  MeanStd stat;                   ///< over `runs`
  Interval ci;                    ///< bootstrap_mean_interval of `runs`
};

/// Rows per (dataset, model), setting (hp order), strategy (the study's order). The range of a
/// setting is from its smallest to its largest labeled size over all its al runs.
std::vector<AubcRow> aubc_table(const ReportData& data, std::uint64_t seed = kBootstrapSeed);

/// Per (dataset, model): strategies as rows, settings as columns, "mean [lo, hi]" in %.
std::string aubc_html(const std::vector<AubcRow>& rows);
std::string aubc_markdown(const std::vector<AubcRow>& rows);

}  // namespace quarry::report
