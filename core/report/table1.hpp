// Table 1 of the study: DAL -> BO test accuracy per strategy (rows) and hyper-parameter
// setting (columns) at a pool size, with the per-column ranking marks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/significance.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

enum class Mark { none, best, second, third, worst };
const char* mark_name(Mark m);

/// Seeds a table needs before it marks differences to random as significant.
inline constexpr std::size_t kMinSeedsForMarks = 3;

struct Table1Cell {
  MeanStd dal, bo;
  Mark dal_mark = Mark::none, bo_mark = Mark::none;
  bool unfinished = false;  ///< some al run of this strategy and setting has not finished
  /// Difference of means to the random row of the same column (none for random itself, or
  /// without a random value), and the paired t-test over the seeds both have.
  std::optional<double> dal_vs_random, bo_vs_random;
  TTest dal_test, bo_test;
  bool dal_significant = false, bo_significant = false;  ///< p < 0.05 with >= kMinSeedsForMarks pairs
};

/// Table 1 at one pool size for one (dataset, model): rows = strategies, columns = hp settings.
struct Table1 {
  std::string dataset, model;
  std::int64_t size = 0;
  std::vector<std::string> strategies, hps;
  std::vector<Table1Cell> cells;  ///< row-major: strategies x hps
  std::size_t seeds = 0;          ///< distinct seeds among its al runs
  bool marks_significance() const { return seeds >= kMinSeedsForMarks; }
  const Table1Cell& cell(std::size_t s, std::size_t h) const { return cells[s * hps.size() + h]; }
};

/// One table per (dataset, model) and size. Marks rank strategies within a column, separately
/// for DAL and BO: best, second, third, and worst (the lowest; with fewer than four strategies the
/// lowest is "worst" rather than second or third). Means equal as shown (0.01 %) share a mark.
/// Each cell also carries its difference to random, marked significant when a paired two-sided
/// t-test over seeds gives p < 0.05 and the table has at least kMinSeedsForMarks seeds.
std::vector<Table1> table1(const ReportData& data, const std::vector<std::int64_t>& sizes = {});

std::string table1_markdown(const std::vector<Table1>& tables);
/// The <table> elements (with the mark legend), for embedding in a page.
std::string table1_html(const std::vector<Table1>& tables);

}  // namespace quarry::report
