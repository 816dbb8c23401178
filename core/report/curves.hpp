// Learning curves: test accuracy (or a cycle's query seconds or peak memory: what a strategy
// costs) against labeled images per strategy and/or setting, over seeds, and the SVG figure
// of one (dataset, model), with values on hover.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/significance.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

/// What a curve shows per cycle. query_seconds: the query after the cycle's training (the
/// last cycle, which queries nothing, has no point); peak_rss_mb: the process's peak resident
/// memory during the cycle (training, evaluation and query).
enum class CurveMetric { test_accuracy, query_seconds, peak_rss_mb };
const char* metric_name(CurveMetric m);  ///< "test_accuracy", "query_seconds", "peak_rss_mb"

struct CurvePoint {
  std::int64_t labeled = 0;
  MeanStd stat;
  Interval ci;  ///< 95% t interval of the mean over seeds (t_interval)
  std::vector<std::pair<const RunData*, double>> values;  ///< per run (seed), in run order
};

struct Curve {
  std::string dataset, model;
  std::string group;            ///< legend label: strategy, hp, or "strategy, hp"
  std::string strategy, hp;     ///< hp empty when grouped by strategy only (and strategy when by hp)
  std::size_t colour = 0, dash = 0;  ///< indices into svg::palette() / svg::dash_patterns()
  bool unfinished = false;      ///< some run behind it has not finished
  CurveMetric metric = CurveMetric::test_accuracy;
  std::vector<CurvePoint> points;
};

/// Learning curves of the selected al runs, one per group per (dataset, model).
/// `group`: strategy | hp | strategy+hp | auto (strategy+hp when a (dataset, model) has several
/// hp settings, else strategy).
std::vector<Curve> learning_curves(const ReportData& data, const std::string& group,
                                   CurveMetric metric = CurveMetric::test_accuracy);

/// The figure for one (dataset, model) and metric: all `curves` must share them.
/// `band`: "std" (± 1 population std over seeds) or "ci" (95% t interval of the mean).
std::string curves_svg(const std::vector<Curve>& curves, const std::string& band = "std");

}  // namespace quarry::report
