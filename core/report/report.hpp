// `quarry report`: one folder with a self-contained index.html, the figures (SVG, PNG) and the
// CSV behind every number. Including this header gives every part of the report too.
//
// The page shows learning curves (accuracy, and what each strategy costs: query seconds and peak
// memory per cycle), the area under the budget curve with bootstrap intervals, the pairwise
// penalty matrix, the study's Table 1 (DAL -> BO per strategy and setting, differences to random
// marked when significant), pool reuse with other models and the runs. See docs/reports.md.
// Accuracies are fractions in [0, 1] in memory and in the CSVs (as in the store);
// figures and tables show percent. Standard deviations are population ones (over
// seeds), as the study reports them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/report/aubc.hpp"
#include "core/report/curves.hpp"
#include "core/report/data.hpp"
#include "core/report/penalty.hpp"
#include "core/report/regimes.hpp"
#include "core/report/reuse_table.hpp"
#include "core/report/setting.hpp"
#include "core/report/significance.hpp"
#include "core/report/statistics.hpp"
#include "core/report/table1.hpp"

namespace quarry::report {

struct ReportOptions {
  std::vector<std::string> results = {"runs"};  ///< folders holding quarry.db; several are merged
  std::vector<std::string> runs;                 ///< run ids, unique id prefixes or study names; empty = all
  std::filesystem::path out;                     ///< output folder (created)
  std::string group = "auto";                    ///< strategy | hp | strategy+hp | auto
  std::vector<std::int64_t> sizes;               ///< Table 1 pool sizes; empty = where searches exist, else the last
  bool render_png = true;                        ///< render each SVG to PNG (rsvg-convert, else chromium)
  std::string band = "std";                      ///< learning-curve band: std | ci (95% t interval)
  std::uint64_t bootstrap_seed = kBootstrapSeed; ///< AUBC intervals: the same seed, the same bytes
};

/// Everything the page shows, computed from the loaded data.
struct ReportParts {
  std::vector<Curve> curves;                      ///< test accuracy
  std::vector<Curve> query_seconds, peak_memory;  ///< what a strategy costs, per cycle
  std::vector<Table1> tables;
  std::vector<ReuseRow> reuse;
  std::vector<AubcRow> aubc;
  PenaltyMatrix penalty;
  std::vector<RegimeRow> regimes;  ///< gain over random per HPO regime
};
ReportParts compute_parts(const ReportData& data, const ReportOptions& options);

struct ReportResult {
  std::vector<std::filesystem::path> files;  ///< everything written, index.html first
  std::vector<std::string> warnings;
  std::string png_renderer;  ///< "rsvg-convert", "chromium" or "" (none: SVG only)
};

/// Load, compute and write everything into `options.out`.
ReportResult write_report(const ReportOptions& options);

}  // namespace quarry::report
