// The report folder: index.html, table1.*, reuse.*, the CSVs, and each figure as SVG and (via
// rsvg-convert or headless chromium) PNG.
#include "core/report/report.hpp"

#include <cmath>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/report/format.hpp"
#include "core/util/process.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace fs = std::filesystem;

namespace {

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '_';
  return out.empty() ? "_" : out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
std::string csv_row(const std::vector<std::string>& fields) {
  std::string row;
  for (std::size_t i = 0; i < fields.size(); ++i) row += (i ? "," : "") + csv_field(fields[i]);
  return row + "\n";
}
std::string num(double v) { return fmt::format("{}", v); }
std::string opt_num(const MeanStd& m, bool std_dev) { return m.n == 0 ? "" : num(std_dev ? m.std : m.mean); }

void write_file(const fs::path& path, const std::string& content, std::vector<fs::path>& written) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error("quarry report: cannot write " + path.string() + " (is the --out folder writable?)");
  out << content;
  if (!out) throw Error("quarry report: writing " + path.string() + " failed (disk full?)");
  written.push_back(path);
}

/// A renderer that cannot even be started (fork failed) is one that did not work: the report
/// goes on without that PNG, as without a renderer.
bool ran(const std::vector<std::string>& argv, double timeout_s) {
  try {
    return quarry::run_program(argv, timeout_s, false).status == 0;
  } catch (const Error&) {
    return false;
  }
}

/// SVG (width x height CSS pixels) -> PNG at 1.5x with rsvg-convert, else headless chromium. Returns the
/// renderer used, "" if none worked.
std::string render_png(const fs::path& svg_file, const fs::path& png_file, double width, double height) {
  if (auto rsvg = quarry::find_executable("rsvg-convert")) {
    if (ran({rsvg->string(), "--zoom=1.5", "--background-color=white", "-o", png_file.string(), svg_file.string()},
            60) &&
        fs::exists(png_file))
      return "rsvg-convert";
  }
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    auto exe = quarry::find_executable(name);
    if (!exe) continue;
    const fs::path profile = png_file.parent_path() / ".chromium-profile";
    const bool ok = ran({exe->string(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                         "--force-device-scale-factor=1.5", "--user-data-dir=" + profile.string(),
                         "--screenshot=" + png_file.string(),
                         fmt::format("--window-size={},{}", static_cast<int>(std::ceil(width)),
                                     static_cast<int>(std::ceil(height))),
                         "file://" + fs::absolute(svg_file).string()},
                        120);
    std::error_code ec;
    fs::remove_all(profile, ec);
    if (ok && fs::exists(png_file)) return "chromium";
  }
  return "";
}

double svg_dimension(const std::string& svg, const char* attr) {
  const auto at = svg.find(std::string(attr) + "=\"");
  return at == std::string::npos ? 800 : std::atof(svg.c_str() + at + std::string(attr).size() + 2);
}

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
)CSS";

}  // namespace

ReportResult write_report(const ReportOptions& o) {
  if (o.out.empty()) throw Error("quarry report: give an output folder with --out DIR");
  if (o.results.empty()) throw Error("quarry report: give at least one --results DIR");
  const ReportData data = load(o.results, o.runs);
  ReportResult res;
  res.warnings = data.warnings;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw Error("quarry report: cannot create " + o.out.string() + ": " + ec.message());

  const auto curves = learning_curves(data, o.group);
  const auto tables = table1(data, o.sizes);

  // Figures, one per (dataset, model).
  struct Figure {
    std::string title, svg, svg_file, png_file;
  };
  std::vector<Figure> figures;
  std::vector<fs::path> written;
  for (std::size_t i = 0; i < curves.size();) {
    std::size_t j = i;
    while (j < curves.size() && curves[j].dataset == curves[i].dataset && curves[j].model == curves[i].model) ++j;
    const std::vector<Curve> part(curves.begin() + static_cast<std::ptrdiff_t>(i),
                                  curves.begin() + static_cast<std::ptrdiff_t>(j));
    Figure f;
    f.title = combo_title(part[0].dataset, part[0].model);
    f.svg = curves_svg(part);
    const std::string base = "curves-" + slug(or_unknown(part[0].dataset)) + "-" + slug(or_unknown(part[0].model));
    f.svg_file = base + ".svg";
    write_file(o.out / f.svg_file, f.svg, written);
    if (o.render_png) {
      const std::string r =
          render_png(o.out / f.svg_file, o.out / (base + ".png"), svg_dimension(f.svg, "width"),
                     svg_dimension(f.svg, "height"));
      if (!r.empty()) {
        f.png_file = base + ".png";
        written.push_back(o.out / f.png_file);
        res.png_renderer = r;
      } else {
        res.warnings.push_back("no PNG for " + f.svg_file +
                               ": neither rsvg-convert (Debian: librsvg2-bin) nor chromium rendered it");
      }
    }
    figures.push_back(std::move(f));
    i = j;
  }

  // CSV behind every number.
  std::string csv = csv_row({"group", "labeled", "mean", "std", "n", "values", "dataset", "model", "strategy", "hp",
                             "unfinished"});
  std::string points_csv =
      csv_row({"dataset", "model", "group", "labeled", "run_id", "strategy", "hp", "seed", "test_accuracy"});
  for (const auto& c : curves)
    for (const auto& p : c.points) {
      std::string values;
      for (const auto& [run, v] : p.values) {
        values += (values.empty() ? "" : ";") + fmt::format("s{}={}", run->run.seed, v);
        points_csv += csv_row({c.dataset, c.model, c.group, std::to_string(p.labeled), run->run.id,
                               strategy_of(run->run), run->hp, std::to_string(run->run.seed), num(v)});
      }
      csv += csv_row({c.group, std::to_string(p.labeled), num(p.stat.mean), num(p.stat.std),
                      std::to_string(p.stat.n), values, c.dataset, c.model, c.strategy, c.hp,
                      c.unfinished ? "1" : "0"});
    }
  write_file(o.out / "curves.csv", csv, written);
  write_file(o.out / "curve_points.csv", points_csv, written);

  csv = csv_row({"size", "strategy", "hp", "dal_mean", "dal_std", "bo_mean", "bo_std", "n", "bo_n", "dal_mark",
                 "bo_mark", "unfinished", "dataset", "model"});
  for (const auto& t : tables)
    for (std::size_t s = 0; s < t.strategies.size(); ++s)
      for (std::size_t h = 0; h < t.hps.size(); ++h) {
        const auto& c = t.cell(s, h);
        csv += csv_row({std::to_string(t.size), t.strategies[s], t.hps[h], opt_num(c.dal, false), opt_num(c.dal, true),
                        opt_num(c.bo, false), opt_num(c.bo, true), std::to_string(c.dal.n), std::to_string(c.bo.n),
                        mark_name(c.dal_mark), mark_name(c.bo_mark), c.unfinished ? "1" : "0", t.dataset, t.model});
      }
  write_file(o.out / "table1.csv", csv, written);

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
  write_file(o.out / "runs.csv", csv, written);
  csv = csv_row({"search", "run_id", "al_run", "pool_size", "best_params", "best_value", "test_accuracy", "test_nll"});
  for (const auto& s : data.searches)
    csv += csv_row({s.result.search, s.result.run_id, s.al_run, std::to_string(s.result.pool_size),
                    s.result.best_params_json, num(s.result.best_value), num(s.result.test_accuracy),
                    num(s.result.test_nll)});
  write_file(o.out / "searches.csv", csv, written);

  const auto reuse = reuse_table(data);
  csv = csv_row({"dataset", "source_model", "model", "hp", "size", "strategy", "source_mean", "source_std", "source_n",
                 "reuse_mean", "reuse_std", "reuse_n", "vs_random", "unfinished"});
  for (const auto& r : reuse)
    csv += csv_row({r.dataset, r.source_model, r.model, r.hp, std::to_string(r.size), r.strategy,
                    opt_num(r.source, false), opt_num(r.source, true), std::to_string(r.source.n),
                    opt_num(r.reuse, false), opt_num(r.reuse, true), std::to_string(r.reuse.n),
                    r.vs_random ? num(*r.vs_random) : "", r.unfinished ? "1" : "0"});
  write_file(o.out / "reuse.csv", csv, written);
  write_file(o.out / "reuse.md", reuse_markdown(reuse), written);

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
  for (const auto& f : figures) {
    page += "<figure>\n" + f.svg + "<figcaption>" + esc(f.title) +
            ": test accuracy vs labeled images, mean ± std over seeds. Files: <a href=\"" + esc(f.svg_file) +
            "\">SVG</a>" + (f.png_file.empty() ? "" : ", <a href=\"" + esc(f.png_file) + "\">PNG</a>") +
            ", numbers in <a href=\"curves.csv\">curves.csv</a>.</figcaption>\n</figure>\n";
  }
  page += "<h2 id=\"table1\">Table 1: DAL &rarr; BO</h2>\n" + tables_html +
          "<p class=\"meta\">Also as <a href=\"table1.md\">Markdown</a>, <a href=\"table1.html\">HTML</a> and "
          "<a href=\"table1.csv\">CSV</a>.</p>\n";
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
          "<li><a href=\"table1.csv\">table1.csv</a>: every Table 1 cell with its marks</li>\n"
          "<li><a href=\"runs.csv\">runs.csv</a>: the runs included, with their status</li>\n"
          "<li><a href=\"searches.csv\">searches.csv</a>: the hyper-parameter searches behind the BO column</li>\n"
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
