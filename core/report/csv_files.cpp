// Every number of the report as CSV: fractions in [0, 1] for accuracies, as in the store.
#include "core/report/csv_files.hpp"

#include <fmt/format.h>

#include "core/report/format.hpp"
#include "core/report/output.hpp"

namespace quarry::report {

namespace {

std::string opt_num(const MeanStd& m, bool std_dev) { return m.n == 0 ? "" : num(std_dev ? m.std : m.mean); }
std::string opt_num(const std::optional<double>& v) { return v ? num(*v) : ""; }
std::string p_value(const TTest& t) { return t.valid ? num(t.p) : ""; }

/// curves.csv and cost.csv: one row per curve and pool size, every seed's value in `values`.
std::string curve_rows(const std::vector<Curve>& curves, bool with_metric) {
  std::string csv;
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      std::string values;
      for (const auto& [run, v] : p.values) values += (values.empty() ? "" : ";") + fmt::format("s{}={}", run->run.seed, v);
      std::vector<std::string> row = {c.group, std::to_string(p.labeled), num(p.stat.mean), num(p.stat.std),
                                      std::to_string(p.stat.n), values, c.dataset, c.model, c.strategy, c.hp,
                                      c.unfinished ? "1" : "0", num(p.ci.lo), num(p.ci.hi)};
      if (with_metric) row.insert(row.begin(), metric_name(c.metric));
      csv += csv_row(row);
    }
  return csv;
}

const std::vector<std::string> kCurveColumns = {"group", "labeled", "mean", "std", "n", "values", "dataset",
                                                "model", "strategy", "hp", "unfinished", "ci_low", "ci_high"};

}  // namespace

void write_csv_files(const std::filesystem::path& out, const ReportData& data, const ReportParts& parts,
                     std::vector<std::filesystem::path>& written) {
  write_file(out / "curves.csv", csv_row(kCurveColumns) + curve_rows(parts.curves, false), written);
  std::vector<std::string> cost_columns = kCurveColumns;
  cost_columns.insert(cost_columns.begin(), "metric");
  write_file(out / "cost.csv",
             csv_row(cost_columns) + curve_rows(parts.query_seconds, true) + curve_rows(parts.peak_memory, true),
             written);

  std::string csv =
      csv_row({"dataset", "model", "group", "labeled", "run_id", "strategy", "hp", "seed", "test_accuracy"});
  for (const auto& c : parts.curves)
    for (const auto& p : c.points)
      for (const auto& [run, v] : p.values)
        csv += csv_row({c.dataset, c.model, c.group, std::to_string(p.labeled), run->run.id, strategy_of(run->run),
                        run->hp, std::to_string(run->run.seed), num(v)});
  write_file(out / "curve_points.csv", csv, written);

  csv = csv_row({"dataset", "model", "hp", "strategy", "labeled_from", "labeled_to", "n", "mean", "std", "ci_low",
                 "ci_high", "left_out"});
  std::string runs_csv = csv_row({"dataset", "model", "hp", "strategy", "run_id", "seed", "aubc"});
  for (const auto& r : parts.aubc) {
    csv += csv_row({r.dataset, r.model, r.hp, r.strategy, std::to_string(r.from), std::to_string(r.to),
                    std::to_string(r.stat.n), opt_num(r.stat, false), opt_num(r.stat, true),
                    r.stat.n ? num(r.ci.lo) : "", r.stat.n ? num(r.ci.hi) : "", std::to_string(r.left_out)});
    for (const auto& [run, v] : r.runs)
      runs_csv += csv_row({r.dataset, r.model, r.hp, r.strategy, run->run.id, std::to_string(run->run.seed), num(v)});
  }
  write_file(out / "aubc.csv", csv, written);
  write_file(out / "aubc_runs.csv", runs_csv, written);
  write_file(out / "penalty.csv", penalty_csv(parts.penalty), written);
  write_file(out / "penalty_tests.csv", penalty_tests_csv(parts.penalty), written);

  csv = csv_row({"size", "strategy", "hp", "dal_mean", "dal_std", "bo_mean", "bo_std", "n", "bo_n", "dal_mark",
                 "bo_mark", "unfinished", "dataset", "model", "seeds", "dal_vs_random", "dal_p", "dal_significant",
                 "bo_vs_random", "bo_p", "bo_significant"});
  for (const auto& t : parts.tables)
    for (std::size_t s = 0; s < t.strategies.size(); ++s)
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        csv += csv_row({std::to_string(t.size), t.strategies[s], t.hps[h], opt_num(c.dal, false), opt_num(c.dal, true),
                        opt_num(c.bo, false), opt_num(c.bo, true), std::to_string(c.dal.n), std::to_string(c.bo.n),
                        mark_name(c.dal_mark), mark_name(c.bo_mark), c.unfinished ? "1" : "0", t.dataset, t.model,
                        std::to_string(t.seeds), opt_num(c.dal_vs_random), p_value(c.dal_test),
                        c.dal_significant ? "1" : "0", opt_num(c.bo_vs_random), p_value(c.bo_test),
                        c.bo_significant ? "1" : "0"});
      }
  write_file(out / "table1.csv", csv, written);

  csv = csv_row({"id", "study", "kind", "strategy", "hp", "seed", "dataset", "model", "status", "cycles",
                 "last_labeled", "last_test_accuracy", "source_run", "source_size", "store", "created_at",
                 "updated_at", "message"});
  for (const auto& r : data.runs) {
    const bool has = !r.cycles.empty();
    csv += csv_row({r.run.id, r.run.study, r.run.kind, r.run.strategy, r.hp, std::to_string(r.run.seed),
                    r.run.dataset, r.run.model, r.run.status, std::to_string(r.cycles.size()),
                    has ? std::to_string(r.cycles.back().labeled) : "", has ? num(r.cycles.back().test_accuracy) : "",
                    r.run.source_run, r.run.source_size ? std::to_string(r.run.source_size) : "", r.store,
                    r.run.created_at, r.run.updated_at, r.run.message});
  }
  write_file(out / "runs.csv", csv, written);
  csv = csv_row({"search", "run_id", "al_run", "pool_size", "best_params", "best_value", "test_accuracy", "test_nll"});
  for (const auto& s : data.searches)
    csv += csv_row({s.result.search, s.result.run_id, s.al_run, std::to_string(s.result.pool_size),
                    s.result.best_params_json, num(s.result.best_value), num(s.result.test_accuracy),
                    num(s.result.test_nll)});
  write_file(out / "searches.csv", csv, written);

  csv = csv_row({"dataset", "source_model", "model", "hp", "size", "strategy", "source_mean", "source_std", "source_n",
                 "reuse_mean", "reuse_std", "reuse_n", "vs_random", "unfinished"});
  for (const auto& r : parts.reuse)
    csv += csv_row({r.dataset, r.source_model, r.model, r.hp, std::to_string(r.size), r.strategy,
                    opt_num(r.source, false), opt_num(r.source, true), std::to_string(r.source.n),
                    opt_num(r.reuse, false), opt_num(r.reuse, true), std::to_string(r.reuse.n),
                    r.vs_random ? num(*r.vs_random) : "", r.unfinished ? "1" : "0"});
  write_file(out / "reuse.csv", csv, written);
}

}  // namespace quarry::report
