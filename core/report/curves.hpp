// Learning curves: test accuracy against labeled images per strategy and/or setting, over
// seeds, and the SVG figure of one (dataset, model).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

struct CurvePoint {
  std::int64_t labeled = 0;
  MeanStd stat;
  std::vector<std::pair<const RunData*, double>> values;  ///< per run (seed), in run order
};

struct Curve {
  std::string dataset, model;
  std::string group;            ///< legend label: strategy, hp, or "strategy, hp"
  std::string strategy, hp;     ///< hp empty when grouped by strategy only (and strategy when by hp)
  std::size_t colour = 0, dash = 0;  ///< indices into svg::palette() / svg::dash_patterns()
  bool unfinished = false;      ///< some run behind it has not finished
  std::vector<CurvePoint> points;
};

/// Learning curves of the selected al runs, one per group per (dataset, model).
/// `group`: strategy | hp | strategy+hp | auto (strategy+hp when a (dataset, model) has several
/// hp settings, else strategy).
std::vector<Curve> learning_curves(const ReportData& data, const std::string& group);

/// The figure for one (dataset, model): all `curves` must share them.
std::string curves_svg(const std::vector<Curve>& curves);

}  // namespace quarry::report
