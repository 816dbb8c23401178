// The pool reuse table: `quarry reuse` runs set against the al runs whose pools they trained
// on, as rows, Markdown and HTML.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/report/data.hpp"
#include "core/report/statistics.hpp"

namespace quarry::report {

/// Pool reuse (`quarry reuse`): a pool collected by one model's active learning, trained with
/// another model. One row per (dataset, source model, reuse model, reuse setting, pool size,
/// source strategy), over seeds.
struct ReuseRow {
  std::string dataset, source_model, model;  ///< source_model: the al run's model ("?" if not selected)
  std::string hp;        ///< the reuse runs' setting: "lr=.. wd=..", or "tuned (TPE)"
  std::string strategy;  ///< the strategy that collected the pool ("?" for pools read from files)
  std::int64_t size = 0;
  MeanStd source;  ///< the source al runs' test accuracy at `size`, with their own model and setting
  MeanStd reuse;   ///< the reuse runs' test accuracy
  std::optional<double> vs_random;  ///< reuse mean minus the random row's in the same group
  bool unfinished = false;          ///< some reuse run behind the row has not finished
};

/// Rows grouped by (dataset, source model, model, hp, size), strategies in Table 1's order.
std::vector<ReuseRow> reuse_table(const ReportData& data);
std::string reuse_markdown(const std::vector<ReuseRow>& rows);
std::string reuse_html(const std::vector<ReuseRow>& rows);

}  // namespace quarry::report
