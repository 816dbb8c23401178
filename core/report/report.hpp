// `quarry report`: learning curves, the study's Table 1 (DAL -> BO per strategy and
// hyper-parameter setting), pool reuse with other models, the runs, and the CSV behind
// every number, as one folder with a self-contained index.html. See docs/reports.md.
//
// Accuracies are fractions in [0, 1] in memory and in the CSVs (as in the store);
// figures and tables show percent. Standard deviations are population ones (over
// seeds), as the study reports them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/store/store.hpp"

namespace quarry::report {

struct ReportOptions {
  std::vector<std::string> results = {"runs"};  ///< folders holding quarry.db; several are merged
  std::vector<std::string> runs;                 ///< run ids, unique id prefixes or study names; empty = all
  std::filesystem::path out;                     ///< output folder (created)
  std::string group = "auto";                    ///< strategy | hp | strategy+hp | auto
  std::vector<std::int64_t> sizes;               ///< Table 1 pool sizes; empty = where searches exist, else the last
  bool render_png = true;                        ///< render each SVG to PNG (rsvg-convert, else chromium)
};

/// One run with its cycles, and the store it came from.
struct RunData {
  RunRecord run;
  std::string store;  ///< the results folder it was read from
  std::vector<CycleRecord> cycles;
  std::string hp;     ///< hp_label, or "lr=.. wd=.." from its first cycle when the label is empty
  bool finished() const { return run.status == "finished"; }
};

/// A search's retraining result attached to the active-learning run whose pool it tuned.
struct SearchData {
  SearchResult result;
  std::string al_run;  ///< the al run the pool came from (search.run_id, or a tune run's source_run)
};

struct ReportData {
  std::vector<std::string> stores;   ///< results folders read
  std::vector<RunData> runs;         ///< the selected runs (all kinds), strategy/study/seed order
  std::vector<SearchData> searches;  ///< searches on the selected runs' pools
  std::vector<RunData> sources;      ///< al runs not selected whose pools selected reuse runs used
  std::vector<std::string> warnings;
  const RunData* find(const std::string& id) const;         ///< among `runs`
  const RunData* find_source(const std::string& id) const;  ///< among `runs`, then `sources`
};

/// Read and merge the stores (a run id found in two stores: the copy with more cycles wins),
/// then select runs by id, unique id prefix or study name. Throws quarry::Error with the way out.
ReportData load(const std::vector<std::string>& results, const std::vector<std::string>& selectors);

struct MeanStd {
  double mean = 0, std = 0;  ///< population standard deviation
  std::size_t n = 0;         ///< 0: no values (shown as "-")
};
MeanStd mean_std(const std::vector<double>& values);

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

enum class Mark { none, best, second, third, worst };
const char* mark_name(Mark m);

struct Table1Cell {
  MeanStd dal, bo;
  Mark dal_mark = Mark::none, bo_mark = Mark::none;
  bool unfinished = false;  ///< some al run of this strategy and setting has not finished
};

/// Table 1 at one pool size for one (dataset, model): rows = strategies, columns = hp settings.
struct Table1 {
  std::string dataset, model;
  std::int64_t size = 0;
  std::vector<std::string> strategies, hps;
  std::vector<Table1Cell> cells;  ///< row-major: strategies x hps
  const Table1Cell& cell(std::size_t s, std::size_t h) const { return cells[s * hps.size() + h]; }
};

/// One table per (dataset, model) and size. Marks rank strategies within a column, separately
/// for DAL and BO: best, second, third, and worst (the lowest; with fewer than four strategies the
/// lowest is "worst" rather than second or third). Means equal as shown (0.01 %) share a mark.
std::vector<Table1> table1(const ReportData& data, const std::vector<std::int64_t>& sizes = {});

std::string table1_markdown(const std::vector<Table1>& tables);
/// The <table> elements (with the mark legend), for embedding in a page.
std::string table1_html(const std::vector<Table1>& tables);

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

struct ReportResult {
  std::vector<std::filesystem::path> files;  ///< everything written, index.html first
  std::vector<std::string> warnings;
  std::string png_renderer;  ///< "rsvg-convert", "chromium" or "" (none: SVG only)
};

/// Load, compute and write everything into `options.out`.
ReportResult write_report(const ReportOptions& options);

/// The first executable called `name` on PATH.
std::optional<std::filesystem::path> find_executable(const std::string& name);

/// Run a program (no shell), its stdout into `stdout_file` (or discarded) and stderr discarded,
/// killing its process group after `timeout_s`. Returns the exit status, -1 if it could not
/// start or was killed.
int run_program(const std::vector<std::string>& argv, int timeout_s,
                const std::filesystem::path& stdout_file = {});

}  // namespace quarry::report
