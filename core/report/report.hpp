// `quarry report`: one folder with a self-contained index.html, the figures (SVG, PNG) and the
// CSV behind every number. Including this header gives every part of the report too.
//
// The page shows learning curves, the study's Table 1 (DAL -> BO per strategy and hyper-parameter
// setting), pool reuse with other models and the runs. See docs/reports.md.
// Accuracies are fractions in [0, 1] in memory and in the CSVs (as in the store);
// figures and tables show percent. Standard deviations are population ones (over
// seeds), as the study reports them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/report/curves.hpp"
#include "core/report/data.hpp"
#include "core/report/reuse_table.hpp"
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
};

struct ReportResult {
  std::vector<std::filesystem::path> files;  ///< everything written, index.html first
  std::vector<std::string> warnings;
  std::string png_renderer;  ///< "rsvg-convert", "chromium" or "" (none: SVG only)
};

/// Load, compute and write everything into `options.out`.
ReportResult write_report(const ReportOptions& options);

}  // namespace quarry::report
