// HPO as an experimental factor: each strategy's gain over random under each HPO regime
// (fixed [train], hpo.at_initial, hpo.every, hpo.from_run), random tuned the same way with
// the same budget, paired by seed. See docs/reports.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

/// A run's HPO regime from its stored pipeline's flattened values (setting_values):
/// "fixed", "at_initial", "every N", "at_initial + every N", "from RUN" (+ " + every N").
std::string regime_of(const std::map<std::string, std::string>& values);

/// Trials the searches that set a run's DAL training spent: hpo.trials per search, one search
/// with hpo.at_initial and one per committed hpo.every cycle; 0 for fixed and from_run (whose
/// setting another run paid for). hpo.sizes searches (tuning a finished pool) are not counted.
std::int64_t regime_trials(const std::map<std::string, std::string>& values, const std::vector<CycleRecord>& cycles);

/// One strategy (not random) under one regime of one (dataset, model, other setting).
struct RegimeRow {
  std::string dataset, model;
  std::string setting;  ///< the runs' setting label without its hpo.* keys ("" when nothing else varies)
  std::string regime;
  std::string strategy;
  MeanStd trials;        ///< regime_trials per run (strategy's and random's runs)
  std::size_t pairs = 0; ///< seeds with a finished-range run of both the strategy and random
  MeanStd final_gain;    ///< last-cycle test accuracy minus random's, same seed (fraction)
  MeanStd aubc_gain;     ///< AUBC minus random's, same seed (fraction)
  std::int64_t to = 0;   ///< the labeled count both end at
};

/// Rows per (dataset, model), setting, regime (fixed, at_initial, every, from_run), strategy;
/// empty when no al run has a strategy and random under one regime, or every run is "fixed".
std::vector<RegimeRow> regime_table(const ReportData& data);

std::string regimes_html(const std::vector<RegimeRow>& rows);
std::string regimes_markdown(const std::vector<RegimeRow>& rows);
std::string regimes_csv(const std::vector<RegimeRow>& rows);
/// Per (dataset, model, setting): AUBC gain over random (pp, ± std) per regime, a bar per strategy.
struct RegimeFigure {
  std::string dataset, model, setting, svg;
};
std::vector<RegimeFigure> regimes_svg(const std::vector<RegimeRow>& rows);

}  // namespace quarry::report
