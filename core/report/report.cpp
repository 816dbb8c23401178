// The report folder: index.html, table1.*, aubc.*, reuse.*, the penalty matrix, the CSVs, and
// each figure as SVG and (via rsvg-convert or headless chromium) PNG.
#include "core/report/report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/report/csv_files.hpp"
#include "core/report/format.hpp"
#include "core/report/output.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace fs = std::filesystem;

namespace {

const char* kCss = R"CSS(
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;background:#fff;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:32px}
.meta{color:#555;font-size:13px}
figure svg{max-width:100%;height:auto}figure{margin:12px 0 24px 0}figcaption{font-size:13px;color:#444}
table{border-collapse:collapse;margin:10px 0 22px 0;font-size:13px}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f0f0f0}caption{text-align:left;font-weight:bold;padding:4px 0}
table.t1 td{white-space:nowrap;font-variant-numeric:tabular-nums}
.m-best{font-weight:bold}.m-second{text-decoration:underline}.m-third{font-style:italic}.m-worst{color:#c0000a}
.legend{font-size:13px;color:#333;max-width:1000px}
.unfinished{color:#a00;font-weight:bold}
.status{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px}
.status-finished{background:#dff0d8;color:#245a1e}.status-running{background:#fcf3cf;color:#7a5b00}
.status-failed{background:#f8d7da;color:#8a1020}.status-other{background:#e8e8e8;color:#333}
code{background:#f4f4f4;padding:0 3px}
.vs{color:#555}.sig{color:#c0000a;font-weight:bold}.seeds{font-weight:normal;color:#555}
table.aubc td{white-space:nowrap;font-variant-numeric:tabular-nums}
)CSS";

/// One figure per (dataset, model) of `curves` (grouped: they come in that order).
std::vector<Figure> figures_of(const std::vector<Curve>& curves, const std::string& prefix, const ReportOptions& o,
                               std::vector<fs::path>& written, ReportResult& res) {
  std::vector<Figure> out;
  for (std::size_t i = 0; i < curves.size();) {
    std::size_t j = i;
    while (j < curves.size() && curves[j].dataset == curves[i].dataset && curves[j].model == curves[i].model) ++j;
    const std::vector<Curve> part(curves.begin() + static_cast<std::ptrdiff_t>(i),
                                  curves.begin() + static_cast<std::ptrdiff_t>(j));
    const std::string base = prefix + "-" + slug(or_unknown(part[0].dataset)) + "-" + slug(or_unknown(part[0].model));
    out.push_back(write_figure(o.out, base, combo_title(part[0].dataset, part[0].model), curves_svg(part, o.band),
                               o.render_png, written, res.png_renderer, res.warnings));
    i = j;
  }
  return out;
}

std::string figure_html(const Figure& f, const std::string& caption, const std::string& csv) {
  return "<figure>\n" + f.svg + "<figcaption>" + esc(f.title) + ": " + caption + " Files: <a href=\"" +
         esc(f.svg_file) + "\">SVG</a>" + (f.png_file.empty() ? "" : ", <a href=\"" + esc(f.png_file) + "\">PNG</a>") +
         ", numbers in <a href=\"" + csv + "\">" + csv + "</a>.</figcaption>\n</figure>\n";
}

}  // namespace

ReportParts compute_parts(const ReportData& data, const ReportOptions& o) {
  if (o.band != "std" && o.band != "ci") throw Error("quarry report: --band must be std or ci (got '" + o.band + "')");
  ReportParts p;
  p.curves = learning_curves(data, o.group);
  p.query_seconds = learning_curves(data, o.group, CurveMetric::query_seconds);
  p.peak_memory = learning_curves(data, o.group, CurveMetric::peak_rss_mb);
  p.tables = table1(data, o.sizes);
  p.reuse = reuse_table(data);
  p.aubc = aubc_table(data, o.bootstrap_seed);
  p.penalty = penalty_matrix(data);
  p.regimes = regime_table(data);
  return p;
}

ReportResult write_report(const ReportOptions& o) {
  if (o.out.empty()) throw Error("quarry report: give an output folder with --out DIR");
  if (o.results.empty()) throw Error("quarry report: give at least one --results DIR");
  const ReportData data = load(o.results, o.runs);
  const ReportParts parts = compute_parts(data, o);
  ReportResult res;
  res.warnings = data.warnings;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw Error("quarry report: cannot create " + o.out.string() + ": " + ec.message());

  std::vector<fs::path> written;
  const auto figures = figures_of(parts.curves, "curves", o, written, res);
  const auto query_figures = figures_of(parts.query_seconds, "query-seconds", o, written, res);
  const auto memory_figures = figures_of(parts.peak_memory, "peak-memory", o, written, res);
  std::vector<Figure> penalty_figure;
  if (!parts.penalty.tests.empty())
    penalty_figure.push_back(write_figure(o.out, "penalty", "Pairwise penalty matrix", penalty_svg(parts.penalty),
                                          o.render_png, written, res.png_renderer, res.warnings));
  write_csv_files(o.out, data, parts, written);
  std::vector<Figure> regime_figures;
  if (!parts.regimes.empty()) {
    for (const auto& f : regimes_svg(parts.regimes))
      regime_figures.push_back(write_figure(o.out, "regimes-" + slug(or_unknown(f.dataset)) + "-" +
                                                       slug(or_unknown(f.model)) + (f.setting.empty() ? "" : "-" + slug(f.setting)),
                                            combo_title(f.dataset, f.model) + (f.setting.empty() ? "" : ", " + f.setting),
                                            f.svg, o.render_png, written, res.png_renderer, res.warnings));
    write_file(o.out / "regimes.md", regimes_markdown(parts.regimes), written);
    write_file(o.out / "regimes.csv", regimes_csv(parts.regimes), written);
  }
  const auto& tables = parts.tables;
  const auto& reuse = parts.reuse;
  write_file(o.out / "reuse.md", reuse_markdown(reuse), written);
  write_file(o.out / "aubc.md", aubc_markdown(parts.aubc), written);
  const std::string tables_html = table1_html(tables);
  write_file(o.out / "table1.md", table1_markdown(tables), written);
  write_file(o.out / "table1.html",
             std::string("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Table 1</title><style>") +
                 kCss + "</style></head><body>\n<h1>Table 1: DAL &rarr; BO test accuracy (%)</h1>\n" + tables_html +
                 "</body></html>\n",
             written);

  // index.html: everything on one page, nothing fetched from elsewhere.
  std::size_t unfinished = 0;
  for (const auto& r : data.runs) unfinished += r.finished() ? 0 : 1;
  std::string page = std::string("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                                 "<title>Quarry report</title><style>") +
                     kCss + "</style></head><body>\n<h1>Quarry report</h1>\n";
  page += fmt::format("<p class=\"meta\">Generated {} from {} ({} run(s), {} unfinished; {} search result(s)).</p>\n",
                      esc(utc_now()), esc(fmt::format("{}", fmt::join(data.stores, ", "))), data.runs.size(),
                      unfinished, data.searches.size());
  if (unfinished)
    page += "<p class=\"unfinished\">Some runs have not finished: they are included with the cycles they have "
            "(marked * in legends and tables, and in the run list).</p>\n";
  for (const auto& w : res.warnings) page += "<p class=\"unfinished\">" + esc(w) + "</p>\n";
  page += "<h2 id=\"curves\">Learning curves</h2>\n";
  if (figures.empty()) page += "<p>No active-learning runs with cycles selected.</p>\n";
  const std::string band = o.band == "ci" ? "band: 95% t interval of the mean" : "band: ± 1 std";
  for (const auto& f : figures)
    page += figure_html(f, "test accuracy vs labeled images, mean over seeds (" + band + "); hover a point for its "
                           "numbers.", "curves.csv");
  if (!data.varying.empty()) {
    std::string keys;
    for (const auto& k : data.varying) keys += (keys.empty() ? "" : ", ") + ("<code>" + esc(k) + "</code>");
    page += "<p class=\"meta\">Settings differ in: " + keys +
            " (keys of the runs' stored pipelines that vary; curves, tables and tests group by them).</p>\n";
  }
  page += "<h2 id=\"aubc\">Area under the budget curve</h2>\n" + aubc_html(parts.aubc) +
          "<p class=\"meta\">Also as <a href=\"aubc.md\">Markdown</a>; numbers in <a href=\"aubc.csv\">aubc.csv</a> "
          "and per run in <a href=\"aubc_runs.csv\">aubc_runs.csv</a>.</p>\n";
  page += "<h2 id=\"penalty\">Pairwise penalty matrix</h2>\n";
  if (penalty_figure.empty())
    page += "<p>No pool size where two strategies can be compared (it needs at least two strategies with a "
            "common seed beyond the initial pool).</p>\n";
  for (const auto& f : penalty_figure)
    page += figure_html(f, fmt::format("cell = how often the row beats the column: at every (dataset, model, "
                                       "setting, pool size) beyond the initial pool, a paired two-sided t-test over "
                                       "seeds at alpha = {:g}; a significant win adds 1 / (pool sizes of that "
                                       "setting), so each of the {} setting(s) weighs at most 1 (Ash et al. 2020). "
                                       "Every test is in <a href=\"penalty_tests.csv\">penalty_tests.csv</a>.",
                                       parts.penalty.alpha, parts.penalty.settings),
                        "penalty.csv");
  page += "<h2 id=\"cost\">What a strategy costs</h2>\n";
  if (query_figures.empty() && memory_figures.empty()) page += "<p>No cycles with a query selected.</p>\n";
  for (const auto& f : query_figures)
    page += figure_html(f, "seconds the query after each cycle took, mean over seeds (" + band + ").", "cost.csv");
  for (const auto& f : memory_figures)
    page += figure_html(f, "peak resident memory of the process during each cycle (training, evaluation, query), "
                           "mean over seeds (" + band + ").", "cost.csv");
  page += "<h2 id=\"table1\">Table 1: DAL &rarr; BO</h2>\n" + tables_html +
          "<p class=\"meta\">Also as <a href=\"table1.md\">Markdown</a>, <a href=\"table1.html\">HTML</a> and "
          "<a href=\"table1.csv\">CSV</a>.</p>\n";
  if (!parts.regimes.empty()) {
    page += "<h2 id=\"regimes\">HPO regimes: gain over random</h2>\n" + regimes_html(parts.regimes) +
            "<p class=\"meta\">Each strategy against random under the same HPO regime and budget (random is tuned "
            "the same way), paired by seed: AUBC and last-cycle test accuracy differences in percentage points. "
            "HPO trials / run: the trials of the searches that set the DAL training (hpo.at_initial: one search, "
            "hpo.every: one per re-tuning; a from_run regime spends none of its own). Also as <a href=\"regimes.md\">"
            "Markdown</a> and <a href=\"regimes.csv\">CSV</a>.</p>\n";
    for (const auto& f : regime_figures)
      page += figure_html(f, "AUBC gain over random per HPO regime, a bar per strategy, ± 1 std over seeds.",
                          "regimes.csv");
  }
  if (!reuse.empty())
    page += "<h2 id=\"reuse\">Pool reuse with other models</h2>\n" + reuse_html(reuse) +
            "<p class=\"meta\">Also as <a href=\"reuse.md\">Markdown</a> and <a href=\"reuse.csv\">CSV</a>.</p>\n";
  page += "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<thead><tr><th>run</th><th>study</th><th>kind</th>"
          "<th>strategy</th><th>setting</th><th>seed</th><th>dataset · model</th><th>status</th><th>cycles</th>"
          "<th>last labeled</th><th>last test acc. (%)</th></tr></thead>\n<tbody>\n";
  for (const auto& r : data.runs) {
    const std::string& st = r.run.status;
    const std::string cls = st == "finished" || st == "running" || st == "failed" ? st : "other";
    page += "<tr><td><code>" + esc(r.run.id) + "</code></td><td>" + esc(r.run.study) + "</td><td>" + esc(r.run.kind) +
            "</td><td>" + esc(r.run.strategy) + "</td><td>" + esc(r.hp) + "</td><td>" + std::to_string(r.run.seed) +
            "</td><td>" + esc(combo_title(r.run.dataset, r.run.model)) + "</td><td><span class=\"status status-" +
            cls + "\"" + (r.run.message.empty() ? "" : " title=\"" + esc(r.run.message) + "\"") + ">" +
            esc(st.empty() ? "?" : st) + (r.finished() ? "" : " *") + "</span></td><td>" +
            std::to_string(r.cycles.size()) + "</td><td>" +
            (r.cycles.empty() ? "-" : std::to_string(r.cycles.back().labeled)) + "</td><td>" +
            (r.cycles.empty() ? "-" : pct(r.cycles.back().test_accuracy)) + "</td></tr>\n";
  }
  page += "</tbody>\n</table>\n";
  page += "<h2 id=\"data\">Data</h2>\n<ul>\n"
          "<li><a href=\"curves.csv\">curves.csv</a>: per group and pool size, mean, std, n and every seed's value</li>\n"
          "<li><a href=\"curve_points.csv\">curve_points.csv</a>: the same values, one row per run and pool size</li>\n"
          "<li><a href=\"cost.csv\">cost.csv</a>: query seconds and peak memory per group and pool size</li>\n"
          "<li><a href=\"aubc.csv\">aubc.csv</a>: AUBC per strategy and setting with its bootstrap interval; "
          "<a href=\"aubc_runs.csv\">aubc_runs.csv</a>: per run</li>\n"
          "<li><a href=\"penalty.csv\">penalty.csv</a>: the penalty matrix; <a href=\"penalty_tests.csv\">"
          "penalty_tests.csv</a>: every paired t-test behind it</li>\n"
          "<li><a href=\"table1.csv\">table1.csv</a>: every Table 1 cell with its marks, difference to random and p-value</li>\n"
          "<li><a href=\"runs.csv\">runs.csv</a>: the runs included, with their status</li>\n"
          "<li><a href=\"searches.csv\">searches.csv</a>: the hyper-parameter searches behind the BO column</li>\n"
          "<li><a href=\"regimes.csv\">regimes.csv</a>: gain over random per HPO regime (when runs differ in it)</li>\n"
          "<li><a href=\"reuse.csv\">reuse.csv</a>: pool reuse with other models, per strategy and size</li>\n"
          "</ul>\n<p class=\"meta\">Accuracies in the CSVs are fractions in [0, 1]; pages and figures show %. "
          "Standard deviations are population ones over seeds.</p>\n</body></html>\n";
  write_file(o.out / "index.html", page, written);

  res.files.push_back(o.out / "index.html");
  for (const auto& p : written)
    if (p.filename() != "index.html") res.files.push_back(p);
  return res;
}

}  // namespace quarry::report
