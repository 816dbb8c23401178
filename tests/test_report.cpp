// quarry report end to end. Over 450 lines on purpose: every case reads the same generated
// stores (the fixture at the top), so they stay in one file.
#include "testing.hpp"

#include <zlib.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/report/report.hpp"
#include "core/store/store.hpp"
#include "core/util/process.hpp"
#include "quarry/error.hpp"
#include "png_stats.hpp"
#include "support.hpp"

namespace test_report {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::png_stats;
using quarry::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kHpA = "lr=0.01 wd=0.0005", kHpB = "lr=0.1 wd=0.005";

// Known numbers: DAL accuracy = base + 0.1 * (labeled / 100) + spread * seed;
// BO accuracy at 300 labels = bo_base + 0.01 * seed.
struct Group {
  std::string strategy, hp;
  double base, spread, bo_base;
};
const std::vector<Group> kGroups = {{"random", kHpA, 0.50, 0.01, 0.84},
                                    {"random", kHpB, 0.40, 0.01, 0.83},
                                    {"entropy", kHpA, 0.55, 0.02, 0.86},
                                    {"entropy", kHpB, 0.20, 0.02, 0.87}};

/// Two stores (one per HP setting, as two sweep cells write them): 2 strategies x 2 settings x 3 seeds,
/// cycles at 100/200/300 labels, a search at 300. entropy/kHpB seed 3 stopped after 200 labels.
void build_stores(const fs::path& a, const fs::path& b) {
  fs::create_directories(a);
  fs::create_directories(b);
  Store sa(a / "quarry.db"), sb(b / "quarry.db");
  for (const auto& g : kGroups)
    for (int seed = 1; seed <= 3; ++seed) {
      Store& s = g.hp == kHpA ? sa : sb;
      const bool cut = g.strategy == "entropy" && g.hp == kHpB && seed == 3;
      RunRecord r;
      r.id = fmt::format("hpstudy-{}-{}-s{}", g.strategy, g.hp == kHpA ? "A" : "B", seed);
      r.study = "hpstudy";
      r.kind = "al";
      r.strategy = g.strategy;
      r.seed = seed;
      r.dataset = "cifar10";
      r.model = "resnet18";
      r.status = "running";
      r.hp_label = g.hp;
      s.create_run(r);
      for (int k = 1; k <= (cut ? 2 : 3); ++k) {
        CycleRecord c;
        c.cycle = k - 1;
        c.labeled = 100 * k;
        c.test_accuracy = g.base + 0.1 * k + g.spread * seed;
        s.add_cycle(r.id, c);
      }
      if (cut) continue;
      s.set_run_status(r.id, "finished");
      SearchResult sr;
      sr.search = r.id + "/300";
      sr.run_id = r.id;
      sr.pool_size = 300;
      sr.best_params_json = "{\"lr\": 0.01, \"weight_decay\": 0.001}";
      sr.test_accuracy = g.bo_base + 0.01 * seed;
      s.add_search_result(sr);
    }
}

std::vector<std::string> parse_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string f;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') f += '"', ++i;
      else if (c == '"') quoted = false;
      else f += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(f), f.clear();
    } else {
      f += c;
    }
  }
  out.push_back(f);
  return out;
}

/// Rows as column -> value maps.
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  REQUIRE(std::getline(in, line));
  const auto header = parse_csv_line(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const auto f = parse_csv_line(line);
    REQUIRE(f.size() == header.size());
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < f.size(); ++i) row[header[i]] = f[i];
    rows.push_back(row);
  }
  return rows;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double pop_std(std::vector<double> v) {
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

std::optional<fs::path> chromium() {
  for (const char* name : {"chromium", "chromium-browser"})
    if (auto p = quarry::find_executable(name)) return p;
  return std::nullopt;
}

const std::map<std::string, std::string>* find_row(const std::vector<std::map<std::string, std::string>>& rows,
                                                   const std::map<std::string, std::string>& where) {
  for (const auto& r : rows) {
    bool ok = true;
    for (const auto& [k, v] : where) ok = ok && r.at(k) == v;
    if (ok) return &r;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("report: curves, Table 1 and runs from two merged stores, with hand-computed numbers") {
  TempDir dir;
  const auto a = dir.path() / "cellA", b = dir.path() / "cellB", out = dir.path() / "report";
  build_stores(a, b);
  report::ReportOptions o;
  o.results = {a.string(), b.string()};
  o.out = out;
  const auto res = report::write_report(o);
  for (const char* f : {"index.html", "curves.csv", "table1.csv", "table1.md", "table1.html", "runs.csv",
                        "curves-cifar10-resnet18.svg"})
    CHECK_MESSAGE(fs::exists(out / f), f);
  CHECK(res.files.front() == out / "index.html");

  SUBCASE("curves.csv: mean and population std over seeds, per strategy and setting") {
    const auto rows = read_csv(out / "curves.csv");
    CHECK(rows.size() == 12);  // 4 groups x 3 sizes
    const auto* r = find_row(rows, {{"group", "random, " + kHpA}, {"labeled", "300"}});
    REQUIRE(r);
    CHECK(std::stod(r->at("mean")) == doctest::Approx(0.82).epsilon(1e-12));
    CHECK(std::stod(r->at("std")) == doctest::Approx(pop_std({0.81, 0.82, 0.83})).epsilon(1e-9));
    CHECK(r->at("n") == "3");
    CHECK(r->at("unfinished") == "0");
    const std::string& values = r->at("values");  // "s1=0.81;s2=0.82;s3=0.83"
    REQUIRE(values.find("s2=") != std::string::npos);
    CHECK(std::stod(values.substr(values.find("s2=") + 3)) == doctest::Approx(0.82).epsilon(1e-12));
    CHECK(std::count(values.begin(), values.end(), '=') == 3);
    r = find_row(rows, {{"group", "entropy, " + kHpB}, {"labeled", "100"}});
    REQUIRE(r);
    CHECK(std::stod(r->at("mean")) == doctest::Approx(0.34).epsilon(1e-12));
    CHECK(std::stod(r->at("std")) == doctest::Approx(pop_std({0.32, 0.34, 0.36})).epsilon(1e-9));
    r = find_row(rows, {{"group", "entropy, " + kHpB}, {"labeled", "300"}});  // seed 3 never got there
    REQUIRE(r);
    CHECK(r->at("n") == "2");
    CHECK(std::stod(r->at("mean")) == doctest::Approx(0.53).epsilon(1e-12));
    CHECK(std::stod(r->at("std")) == doctest::Approx(0.01).epsilon(1e-9));
    CHECK(r->at("unfinished") == "1");
  }

  SUBCASE("table1.csv: DAL and BO cells at the searched size, with marks per column") {
    const auto rows = read_csv(out / "table1.csv");
    CHECK(rows.size() == 4);  // only 300: the size searches exist for
    const auto* r = find_row(rows, {{"strategy", "entropy"}, {"hp", kHpA}});
    REQUIRE(r);
    CHECK(r->at("size") == "300");
    CHECK(std::stod(r->at("dal_mean")) == doctest::Approx(0.89).epsilon(1e-12));
    CHECK(std::stod(r->at("dal_std")) == doctest::Approx(pop_std({0.87, 0.89, 0.91})).epsilon(1e-9));
    CHECK(std::stod(r->at("bo_mean")) == doctest::Approx(0.88).epsilon(1e-12));
    CHECK(std::stod(r->at("bo_std")) == doctest::Approx(pop_std({0.87, 0.88, 0.89})).epsilon(1e-9));
    CHECK(r->at("n") == "3");
    CHECK(r->at("dal_mark") == "best");
    CHECK(r->at("bo_mark") == "best");
    r = find_row(rows, {{"strategy", "random"}, {"hp", kHpA}});
    REQUIRE(r);
    CHECK(r->at("dal_mark") == "worst");
    CHECK(r->at("bo_mark") == "worst");
    r = find_row(rows, {{"strategy", "entropy"}, {"hp", kHpB}});
    REQUIRE(r);
    CHECK(std::stod(r->at("dal_mean")) == doctest::Approx(0.53).epsilon(1e-12));
    CHECK(std::stod(r->at("bo_mean")) == doctest::Approx(0.885).epsilon(1e-12));
    CHECK(std::stod(r->at("bo_std")) == doctest::Approx(0.005).epsilon(1e-9));
    CHECK(r->at("n") == "2");
    CHECK(r->at("bo_n") == "2");
    CHECK(r->at("dal_mark") == "worst");  // DAL collapsed under this setting ...
    CHECK(r->at("bo_mark") == "best");    // ... yet its pool is the best once tuned
    CHECK(r->at("unfinished") == "1");
    r = find_row(rows, {{"strategy", "random"}, {"hp", kHpB}});
    REQUIRE(r);
    CHECK(std::stod(r->at("dal_mean")) == doctest::Approx(0.72).epsilon(1e-12));
    CHECK(r->at("dal_mark") == "best");
    CHECK(r->at("bo_mark") == "worst");
  }

  SUBCASE("table1.md and runs.csv") {
    const std::string md = slurp(out / "table1.md");
    CHECK(md.find("## cifar10 · resnet18, 300 labels") != std::string::npos);
    CHECK(md.find("| entropy | **89.00 ± 1.63** (+7.00†) -> **88.00 ± 0.82** (+2.00†) |") != std::string::npos);
    CHECK(md.find("3 seeds.") != std::string::npos);
    CHECK(md.find("| random | 82.00 ± 0.82 ▼ -> 86.00 ± 0.82 ▼ |") != std::string::npos);
    const auto runs = read_csv(out / "runs.csv");
    CHECK(runs.size() == 12);
    const auto* r = find_row(runs, {{"id", "hpstudy-entropy-B-s3"}});
    REQUIRE(r);
    CHECK(r->at("status") == "running");
    CHECK(r->at("last_labeled") == "200");
    CHECK(r->at("store") == b.string());
  }

  SUBCASE("index.html renders in headless Chromium: a figure in colour and the table cells in the DOM") {
    const std::string page = slurp(out / "index.html");
    CHECK(page.find("<script") == std::string::npos);
    for (const char* external : {"src=\"http", "href=\"http", "url(http", "@import"})
      CHECK_MESSAGE(page.find(external) == std::string::npos, external);  // nothing fetched from elsewhere
    CHECK(page.find("<svg") != std::string::npos);
    if (res.png_renderer == "rsvg-convert") {
      const auto fig = png_stats(out / "curves-cifar10-resnet18.png");
      CHECK(fig.width > 900);
      CHECK(fig.distinct > 20);
      CHECK(fig.bluish > 200);
      CHECK(fig.orangeish > 200);
    }
    const auto exe = chromium();
    if (!exe) {
      MESSAGE("chromium not found on PATH: skipping the rendering check (CI installs Debian's chromium)");
      return;
    }
    const auto shot = dir.path() / "shot.png", dom = dir.path() / "dom.html", profile = dir.path() / "profile";
    const std::string url = "file://" + fs::absolute(out / "index.html").string();
    const std::vector<std::string> common = {exe->string(), "--headless", "--no-sandbox", "--disable-gpu",
                                             "--hide-scrollbars", "--user-data-dir=" + profile.string()};
    auto with = [&](std::vector<std::string> extra) {
      auto argv = common;
      argv.insert(argv.end(), extra.begin(), extra.end());
      return argv;
    };
    REQUIRE(quarry::run_program(with({"--screenshot=" + shot.string(), "--window-size=1200,1600", url}), 180, false)
                .status == 0);
    const auto st = png_stats(shot);
    CHECK(st.width == 1200);
    CHECK(st.non_white > 5000);
    CHECK(st.distinct > 20);
    CHECK(st.bluish > 200);    // the random curves
    CHECK(st.orangeish > 200);  // the entropy curves
    REQUIRE(quarry::run_program(with({"--dump-dom", url}), 180, false, ChildIo{dom}).status == 0);
    const std::string d = slurp(dom);
    CHECK(d.find("89.00 ± 1.63") != std::string::npos);
    CHECK(d.find("<span class=\"bo m-best\" title=\"bo: n = 2\">88.50 ± 0.50</span>") != std::string::npos);
    CHECK(d.find("hpstudy-entropy-B-s3") != std::string::npos);
    CHECK(d.find("running *") != std::string::npos);
  }
}

TEST_CASE("report: grouping by strategy, chosen sizes, selection by study and prefix") {
  TempDir dir;
  const auto a = dir.path() / "cellA", b = dir.path() / "cellB";
  build_stores(a, b);
  const std::vector<std::string> stores = {a.string(), b.string()};
  const auto data = report::load(stores, {"hpstudy"});
  CHECK(data.runs.size() == 12);
  CHECK(data.searches.size() == 11);
  CHECK(report::load(stores, {"hpstudy-random-A-s2"}).runs.size() == 1);
  CHECK_THROWS_WITH_AS(report::load(stores, {"hpstudy-entropy-B"}), doctest::Contains("prefix of several"), Error);
  CHECK_THROWS_WITH_AS(report::load(stores, {"nosuch"}), doctest::Contains("no run id, id prefix or study"), Error);
  CHECK_THROWS_WITH_AS(report::load({(dir.path() / "empty").string()}, {}), doctest::Contains("no results store"),
                       Error);

  const auto curves = report::learning_curves(data, "strategy");
  REQUIRE(curves.size() == 2);
  CHECK(curves[0].group == "random");  // the baseline first
  CHECK(curves[1].group == "entropy");
  const auto& p = curves[0].points.back();
  CHECK(p.labeled == 300);
  CHECK(p.stat.n == 6);
  CHECK(p.stat.mean == doctest::Approx(0.77));
  CHECK(p.stat.std == doctest::Approx(pop_std({0.81, 0.82, 0.83, 0.71, 0.72, 0.73})));
  CHECK_THROWS_AS(report::learning_curves(data, "seed"), Error);

  const auto tables = report::table1(data, {200, 300});
  REQUIRE(tables.size() == 2);
  CHECK(tables[0].size == 200);
  CHECK(tables[0].hps == std::vector<std::string>{kHpA, kHpB});
  CHECK(tables[0].cell(0, 0).dal.mean == doctest::Approx(0.72));
  CHECK(tables[0].cell(0, 0).bo.n == 0);  // no search at 200: "-"
  CHECK(report::table1_markdown(tables).find("72.00 ± 0.82 ▼ -> - |") != std::string::npos);
}

TEST_CASE("report: Table 1 marks best, second, third and worst per column; equal means share a mark") {
  report::ReportData data;
  const std::vector<std::pair<std::string, double>> values = {
      {"random", 0.5}, {"entropy", 0.8}, {"coreset", 0.7}, {"badge", 0.6}, {"margin", 0.7}};
  for (const auto& [name, acc] : values) {
    report::RunData r;
    r.run.id = name;
    r.run.kind = "al";
    r.run.strategy = name;
    r.run.status = "finished";
    r.hp = "lr=0.1";
    CycleRecord c;
    c.labeled = 100;
    c.test_accuracy = acc;
    r.cycles.push_back(c);
    data.runs.push_back(r);
  }
  const auto tables = report::table1(data);
  REQUIRE(tables.size() == 1);
  const auto& t = tables[0];
  CHECK(t.size == 100);  // no searches: the last size
  CHECK(t.strategies == std::vector<std::string>{"random", "entropy", "coreset", "badge", "margin"});  // the study's order
  CHECK(t.cell(0, 0).dal_mark == report::Mark::worst);   // 0.5
  CHECK(t.cell(1, 0).dal_mark == report::Mark::best);    // 0.8
  CHECK(t.cell(2, 0).dal_mark == report::Mark::second);  // 0.7
  CHECK(t.cell(3, 0).dal_mark == report::Mark::third);   // 0.6
  CHECK(t.cell(4, 0).dal_mark == report::Mark::second);  // 0.7, tied with coreset
  CHECK(t.cell(0, 0).bo_mark == report::Mark::none);
  const std::string html = report::table1_html(tables);
  INFO(html);
  // The difference to random follows; one seed: no test, no mark.
  CHECK(html.find("<span class=\"dal m-best\" title=\"dal: n = 1\">80.00 ± 0.00</span> <small class=\"vs\" "
                  "title=\"difference to random; paired t-test over 1 seed(s): no test\">(+30.00)</small> &rarr; "
                  "<span class=\"bo m-none\" title=\"bo: n = 0\">-</span>") != std::string::npos);
}

TEST_CASE("report: pool reuse table against the source runs, with hand-computed numbers") {
  TempDir dir;
  const auto a = dir.path() / "cellA", b = dir.path() / "cellB";
  build_stores(a, b);
  // Reuse study in store A: the kHpA pools at 200 labels trained with wrn-28-2. Reuse accuracy
  // = 0.60 (random) or 0.65 (entropy) + 0.01 * seed; one entropy run is still running.
  {
    Store s(a / "quarry.db");
    for (const std::string strategy : {"random", "entropy"})
      for (int seed = 1; seed <= 3; ++seed) {
        RunRecord r;
        r.id = fmt::format("reusestudy-{}-s{}", strategy, seed);
        r.study = "reusestudy";
        r.kind = "reuse";
        r.strategy = strategy;
        r.seed = seed;
        r.dataset = "cifar10";
        r.model = "wide_resnet";
        r.status = "running";
        r.source_run = fmt::format("hpstudy-{}-A-s{}", strategy, seed);
        r.source_size = 200;
        r.hp_label = "lr=0.05 wd=0.0005";
        s.create_run(r);
        CycleRecord c;
        c.labeled = 200;
        c.test_accuracy = (strategy == "random" ? 0.60 : 0.65) + 0.01 * seed;
        s.add_cycle(r.id, c);
        if (!(strategy == "entropy" && seed == 3)) s.set_run_status(r.id, "finished");
      }
  }
  const std::vector<std::string> stores = {a.string(), b.string()};
  // Only the reuse study selected: the source runs are still found for the comparison.
  const auto data = report::load(stores, {"reusestudy"});
  CHECK(data.runs.size() == 6);
  const auto rows = report::reuse_table(data);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].strategy == "random");
  CHECK(rows[1].strategy == "entropy");
  for (const auto& r : rows) {
    CHECK(r.dataset == "cifar10");
    CHECK(r.source_model == "resnet18");
    CHECK(r.model == "wide_resnet");
    CHECK(r.size == 200);
    CHECK(r.hp == "lr=0.05 wd=0.0005");
    CHECK(r.reuse.n == 3);
    CHECK(r.source.n == 3);
  }
  // Source accuracy at 200 labels (k = 2): base + 0.2 + spread * seed.
  CHECK(rows[0].source.mean == doctest::Approx(0.50 + 0.2 + 0.02));
  CHECK(rows[1].source.mean == doctest::Approx(0.55 + 0.2 + 0.04));
  CHECK(rows[0].reuse.mean == doctest::Approx(0.62));
  CHECK(rows[1].reuse.mean == doctest::Approx(0.67));
  CHECK(rows[1].reuse.std == doctest::Approx(pop_std({0.66, 0.67, 0.68})));
  CHECK_FALSE(rows[0].vs_random.has_value());
  REQUIRE(rows[1].vs_random.has_value());
  CHECK(*rows[1].vs_random == doctest::Approx(0.05));
  CHECK_FALSE(rows[0].unfinished);
  CHECK(rows[1].unfinished);
  const auto md = report::reuse_markdown(rows);
  CHECK(md.find("| entropy | 79.00 ± 1.63 | 67.00 ± 0.82 `*` | +5.00 |") != std::string::npos);

  report::ReportOptions o;
  o.results = stores;
  o.runs = {"reusestudy"};
  o.out = dir.path() / "report";
  o.render_png = false;
  report::write_report(o);
  const auto csv = read_csv(o.out / "reuse.csv");
  REQUIRE(csv.size() == 2);
  CHECK(csv[1].at("strategy") == "entropy");
  CHECK(std::stod(csv[1].at("vs_random")) == doctest::Approx(0.05));
  CHECK(csv[1].at("unfinished") == "1");
  const auto page = slurp(o.out / "index.html");
  CHECK(page.find("Pool reuse with other models") != std::string::npos);
  CHECK(page.find("pools collected with resnet18, trained with wide_resnet") != std::string::npos);
  // No reuse runs: no section on the page, an empty table in the files.
  o.runs = {"hpstudy"};
  o.out = dir.path() / "report2";
  report::write_report(o);
  CHECK(slurp(o.out / "index.html").find("Pool reuse with other models") == std::string::npos);
  CHECK(read_csv(o.out / "reuse.csv").empty());
}

}  // namespace test_report
