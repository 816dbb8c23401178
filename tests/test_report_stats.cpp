// The report's statistics on constructed data: AUBC of hand-made curves, the penalty matrix
// with known significant and non-significant pairs, Table 1's marks against random, setting
// labels from what varies, and the page (headless Chromium shows the matrix and AUBC table).
#include "testing.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/report/report.hpp"
#include "core/store/store.hpp"
#include "core/util/process.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_report_stats {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::report;
using quarry::testing::TempDir;
namespace fs = std::filesystem;

namespace {

/// An al run with cycles at `labeled` sizes and these accuracies.
RunData run(const std::string& strategy, const std::string& hp, std::int64_t seed,
            const std::vector<std::pair<std::int64_t, double>>& curve, bool finished = true) {
  RunData r;
  r.run.id = fmt::format("{}-{}-s{}", strategy, hp, seed);
  r.run.kind = "al";
  r.run.strategy = strategy;
  r.run.seed = seed;
  r.run.dataset = "ds";
  r.run.model = "net";
  r.run.status = finished ? "finished" : "running";
  r.hp = hp;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    CycleRecord c;
    c.cycle = static_cast<std::int64_t>(i);
    c.labeled = curve[i].first;
    c.test_accuracy = curve[i].second;
    r.cycles.push_back(c);
  }
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The penalty fixture. Setting "A" (3 seeds, sizes 100 = initial, 200, 300) and setting "B"
/// (2 seeds, sizes 100, 200; no badge). Differences to random per seed:
///   A@200: entropy +0.05 +0.06 +0.07 (significant), badge +0.001 -0.001 +0.0005 (not)
///   A@300: entropy +0.05 +0.06 +0.07, badge +0.09 +0.11 +0.12 (badge beats both)
///   B@200: entropy +0.10 +0.11 (df = 1, p = 0.030: significant)
ReportData penalty_fixture() {
  ReportData d;
  const double r200[] = {0.50, 0.52, 0.51}, r300[] = {0.60, 0.62, 0.61};
  const double e[] = {0.05, 0.06, 0.07}, b200[] = {0.001, -0.001, 0.0005}, b300[] = {0.09, 0.11, 0.12};
  for (int s = 0; s < 3; ++s) {
    const double init = 0.3 + 0.01 * s;
    d.runs.push_back(run("random", "A", s + 1, {{100, init}, {200, r200[s]}, {300, r300[s]}}));
    d.runs.push_back(run("entropy", "A", s + 1, {{100, init}, {200, r200[s] + e[s]}, {300, r300[s] + e[s]}}));
    d.runs.push_back(run("badge", "A", s + 1, {{100, init}, {200, r200[s] + b200[s]}, {300, r300[s] + b300[s]}}));
  }
  const double rb[] = {0.40, 0.45}, eb[] = {0.10, 0.11};
  for (int s = 0; s < 2; ++s) {
    d.runs.push_back(run("random", "B", s + 1, {{100, 0.2}, {200, rb[s]}}));
    d.runs.push_back(run("entropy", "B", s + 1, {{100, 0.2}, {200, rb[s] + eb[s]}}));
  }
  return d;
}

}  // namespace

TEST_CASE("report stats: AUBC of hand-made curves") {
  // (200 - 100) * (0.5 + 0.7) / 2 + (400 - 200) * (0.7 + 0.8) / 2 = 60 + 150, over 300 labels.
  CHECK(aubc({{100, 0.5}, {200, 0.7}, {400, 0.8}}) == doctest::Approx(0.7));
  CHECK(aubc({{100, 0.6}, {500, 0.6}}) == doctest::Approx(0.6));
  CHECK(aubc({{100, 0.0}, {200, 1.0}}) == doctest::Approx(0.5));
  CHECK(aubc({{300, 0.42}}) == 0.42);  // one point: its accuracy
  CHECK_THROWS_AS(aubc({}), Error);
  CHECK_THROWS_AS(aubc({{200, 0.5}, {100, 0.6}}), Error);

  ReportData d;
  d.runs.push_back(run("random", "A", 1, {{100, 0.5}, {200, 0.7}, {400, 0.8}}));
  d.runs.push_back(run("random", "A", 2, {{100, 0.4}, {200, 0.6}, {400, 0.7}}));
  d.runs.push_back(run("entropy", "A", 1, {{100, 0.5}, {200, 0.8}, {400, 0.9}}));
  d.runs.push_back(run("entropy", "A", 2, {{100, 0.4}, {200, 0.7}, {400, 0.8}}));
  d.runs.push_back(run("entropy", "A", 3, {{100, 0.4}, {200, 0.7}}, false));  // unfinished: left out
  const auto rows = aubc_table(d);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].strategy == "random");
  CHECK(rows[0].from == 100);
  CHECK(rows[0].to == 400);
  CHECK(rows[0].stat.n == 2);
  CHECK(rows[0].stat.mean == doctest::Approx((0.7 + 0.6) / 2));
  CHECK(rows[1].strategy == "entropy");
  CHECK(rows[1].left_out == 1);
  REQUIRE(rows[1].runs.size() == 2);
  // entropy seed 1: 100 * 0.65 + 200 * 0.85 = 235 over 300.
  CHECK(rows[1].runs[0].second == doctest::Approx(235.0 / 300));
  const auto ci = bootstrap_mean_interval({rows[1].runs[0].second, rows[1].runs[1].second});
  CHECK(rows[1].ci.lo == ci.lo);
  CHECK(rows[1].ci.hi == ci.hi);
  CHECK(rows[1].ci.lo < rows[1].stat.mean);
  const std::string html = aubc_html(rows);
  CHECK(html.find("<th>A<br><small>labeled 100&ndash;400</small></th>") != std::string::npos);
  CHECK(html.find(fmt::format("{:.2f} [", 100 * (0.7 + 0.6) / 2)) != std::string::npos);
  CHECK(html.find("1 left out (unfinished)") != std::string::npos);
  CHECK(aubc_markdown(rows).find("| entropy | 73.33 [") != std::string::npos);
}

TEST_CASE("report stats: the penalty matrix counts significant wins, weighted by 1 / pool sizes per setting") {
  const auto m = penalty_matrix(penalty_fixture());
  REQUIRE(m.strategies == std::vector<std::string>{"random", "entropy", "badge"});
  CHECK(m.settings == 2);
  CHECK(m.tests.size() == 7);  // A: 2 sizes x 3 pairs; B: 1 size x 1 pair (the initial pool is left out)
  auto at = [&](const char* row, const char* col) {
    auto i = [&](const char* s) {
      return static_cast<std::size_t>(std::find(m.strategies.begin(), m.strategies.end(), s) - m.strategies.begin());
    };
    return m.at(i(row), i(col));
  };
  CHECK(at("entropy", "random") == doctest::Approx(0.5 + 0.5 + 1.0));  // A@200, A@300, B@200
  CHECK(at("badge", "random") == doctest::Approx(0.5));                // A@300 only: A@200 is noise
  CHECK(at("badge", "entropy") == doctest::Approx(0.5));               // A@300
  CHECK(at("entropy", "badge") == doctest::Approx(0.5));               // A@200
  CHECK(at("random", "entropy") == 0);
  CHECK(at("random", "badge") == 0);
  CHECK(m.beaten(0) == doctest::Approx(2.5));
  for (const auto& t : m.tests) {
    INFO(t.hp << "@" << t.labeled << " " << t.a << " vs " << t.b << " p = " << t.test.p);
    CHECK(t.labeled != 100);
    if (t.hp == "A" && t.labeled == 200 && t.a == "random" && t.b == "badge") {
      CHECK(t.winner.empty());
      CHECK(t.test.p > 0.3);
      CHECK(t.weight == doctest::Approx(0.5));
    }
    if (t.hp == "B") {
      CHECK(t.test.n == 2);
      CHECK(t.winner == "entropy");
      CHECK(t.weight == 1);
      // df = 1: p = 1 - 2 atan(|t|) / pi.
      CHECK(t.test.p == doctest::Approx(1 - 2 * std::atan(std::abs(t.test.t)) / M_PI));
    }
  }
  const std::string svg = penalty_svg(m);
  CHECK(svg.find("<title>entropy beats random significantly in 2.00 of 2 setting(s)") != std::string::npos);
  CHECK(svg.find(">2.00</text>") != std::string::npos);
  const std::string csv = penalty_csv(m);
  CHECK(csv.find("entropy,random,2,2,0.05\n") != std::string::npos);
  CHECK(penalty_tests_csv(m).find("ds,net,B,200,random,entropy,2,") != std::string::npos);
}

TEST_CASE("report stats: Table 1 marks differences to random that a paired test over seeds finds significant") {
  ReportData d;
  const double e[] = {0.05, 0.06, 0.07}, c[] = {0.02, -0.02, 0.01};
  for (int s = 0; s < 3; ++s) {
    const double base = 0.5 + 0.01 * s;
    d.runs.push_back(run("random", "A", s + 1, {{100, base}}));
    d.runs.push_back(run("entropy", "A", s + 1, {{100, base + e[s]}}));
    d.runs.push_back(run("coreset", "A", s + 1, {{100, base + c[s]}}));
  }
  auto tables = table1(d);
  REQUIRE(tables.size() == 1);
  const auto& t = tables[0];
  CHECK(t.seeds == 3);
  CHECK(t.marks_significance());
  CHECK_FALSE(t.cell(0, 0).dal_vs_random.has_value());  // random itself
  REQUIRE(t.cell(1, 0).dal_vs_random.has_value());
  CHECK(*t.cell(1, 0).dal_vs_random == doctest::Approx(0.06));
  CHECK(t.cell(1, 0).dal_significant);
  CHECK(t.cell(1, 0).dal_test.p < 0.05);
  CHECK_FALSE(t.cell(2, 0).dal_significant);
  CHECK(t.cell(2, 0).dal_test.p > 0.05);
  const std::string md = table1_markdown(tables);
  CHECK(md.find("3 seeds.") != std::string::npos);
  CHECK(md.find("(+6.00†)") != std::string::npos);
  CHECK(md.find("(+0.33)") != std::string::npos);
  CHECK(table1_html(tables).find("<span class=\"sig\">†</span>") != std::string::npos);

  // Two seeds: no marks, and the caption says why.
  d.runs.erase(std::remove_if(d.runs.begin(), d.runs.end(), [](const RunData& r) { return r.run.seed == 3; }),
               d.runs.end());
  tables = table1(d);
  CHECK(tables[0].seeds == 2);
  CHECK_FALSE(tables[0].marks_significance());
  CHECK_FALSE(tables[0].cell(1, 0).dal_significant);
  const std::string md2 = table1_markdown(tables);
  CHECK(md2.find("†)") == std::string::npos);
  CHECK(md2.find("2 seeds: no significance marks; with fewer than 3 seeds a paired t-test cannot tell a difference "
                 "from noise") != std::string::npos);
}

TEST_CASE("report stats: settings are labelled by the pipeline keys that vary") {
  auto pipeline = [](int initial, int query, double lr) {
    return fmt::format("[run]\nname = \"s\"\nseeds = [1]\nresults = \"r\"\n[dataset]\nname = \"ds\"\n[model]\n"
                       "name = \"net\"\n[train]\nlr = {}\nweight_decay = 0.0005\nepochs = 3\n[al]\ninitial = {}\n"
                       "query_size = {}\n[[strategies]]\nname = \"random\"\n",
                       lr, initial, query);
  };
  std::vector<RunData> runs;
  for (int initial : {100, 50})
    for (int query : {25, 100})
      for (int seed : {1, 2}) {
        RunData r = run(seed == 1 ? "random" : "entropy", "lr=0.1 wd=0.0005", seed, {{initial, 0.5}});
        r.run.pipeline = pipeline(initial, query, 0.1);
        runs.push_back(r);
      }
  std::vector<std::string> warnings;
  auto varying = label_settings(runs, warnings);
  CHECK(warnings.empty());
  CHECK(varying == std::vector<std::string>{"al.initial", "al.query_size"});  // not run.seeds, not strategies
  CHECK(runs[0].hp == "al.initial=100 al.query_size=25");
  CHECK(runs.back().hp == "al.initial=50 al.query_size=100");
  CHECK(hp_less("al.initial=50 al.query_size=100", "al.initial=100 al.query_size=25"));  // as numbers

  // With the learning rate varying too, the usual "lr=.. wd=.." label comes first.
  runs[0].run.pipeline = pipeline(100, 25, 0.01);
  runs[0].hp = "lr=0.01 wd=0.0005";
  varying = label_settings(runs, warnings);
  CHECK(varying == std::vector<std::string>{"al.initial", "al.query_size", "train.lr"});
  CHECK(runs[0].hp == "lr=0.01 wd=0.0005 al.initial=100 al.query_size=25");

  // Nothing varies: labels stay; an unreadable pipeline is a warning, not a failure.
  std::vector<RunData> same = {run("random", "lr=0.1 wd=0.0005", 1, {{100, 0.5}}),
                               run("entropy", "lr=0.1 wd=0.0005", 1, {{100, 0.5}})};
  same[0].run.pipeline = same[1].run.pipeline = pipeline(100, 25, 0.1);
  CHECK(label_settings(same, warnings).empty());
  CHECK(same[0].hp == "lr=0.1 wd=0.0005");
  same[1].run.pipeline = "[al\ninitial = ";
  label_settings(same, warnings);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("stored pipeline cannot be read") != std::string::npos);
}

TEST_CASE("report stats: the page shows the penalty matrix, AUBC and cost curves; stable bytes; Chromium renders it") {
  TempDir dir;
  const auto results = dir.path() / "runs";
  fs::create_directories(results);
  {
    Store s(results / "quarry.db");
    for (const auto& r : penalty_fixture().runs) {
      if (r.hp != "A") continue;
      RunRecord rec = r.run;
      rec.study = "stats";
      rec.hp_label = "lr=0.1 wd=0.0005";
      rec.status = "running";
      s.create_run(rec);
      for (std::size_t i = 0; i < r.cycles.size(); ++i) {
        CycleRecord c = r.cycles[i];
        c.query_seconds = 0.5 + 0.25 * static_cast<double>(i) + (rec.strategy == "badge" ? 2.0 : 0.0);
        c.peak_rss_mb = 300 + 10 * static_cast<double>(i);
        if (i + 1 < r.cycles.size())
          for (std::int64_t k = 0; k < 100; ++k) c.queried.push_back(1000 * static_cast<std::int64_t>(i) + k),
                                                 c.queried_train.push_back(1000 * static_cast<std::int64_t>(i) + k);
        std::vector<Acquisition> initial;
        if (i == 0)
          for (std::int64_t k = 0; k < 100; ++k) initial.push_back({50000 + k, 50000 + k, 0});
        s.add_cycle(rec.id, c, initial);
      }
      s.set_run_status(rec.id, "finished");
    }
  }
  ReportOptions o;
  o.results = {results.string()};
  o.out = dir.path() / "report";
  o.render_png = false;
  o.band = "ci";
  write_report(o);
  for (const char* f : {"aubc.csv", "aubc_runs.csv", "aubc.md", "penalty.csv", "penalty_tests.csv", "penalty.svg",
                        "cost.csv", "query-seconds-ds-net.svg", "peak-memory-ds-net.svg"})
    CHECK_MESSAGE(fs::exists(o.out / f), f);
  const std::string aubc_csv = slurp(o.out / "aubc.csv");
  CHECK(aubc_csv.find("ds,net,lr=0.1 wd=0.0005,entropy,100,300,3,") != std::string::npos);
  const std::string cost = slurp(o.out / "cost.csv");
  CHECK(cost.find("query_seconds,badge,200,2.75,0,3,") != std::string::npos);  // the last cycle queries nothing
  CHECK(cost.find("query_seconds,badge,300") == std::string::npos);
  CHECK(cost.find("peak_rss_mb,random,300,320,0,3,") != std::string::npos);
  const std::string curves = slurp(o.out / "curves-ds-net.svg");
  CHECK(curves.find("band: 95% t interval of the mean") != std::string::npos);
  CHECK(curves.find("<title>entropy: 300 labeled, 67") != std::string::npos);  // values on hover

  // The same data and seed: the same bytes (the page itself carries its date).
  const auto again = dir.path() / "again";
  o.out = again;
  write_report(o);
  for (const char* f : {"aubc.csv", "aubc_runs.csv", "penalty.csv", "penalty.svg", "table1.csv", "cost.csv"})
    CHECK_MESSAGE(slurp(again / f) == slurp(dir.path() / "report" / f), f);
  o.band = "wide";
  CHECK_THROWS_WITH_AS(write_report(o), doctest::Contains("--band must be std or ci"), Error);

  const std::string page = slurp(dir.path() / "report" / "index.html");
  CHECK(page.find("<h2 id=\"penalty\">") != std::string::npos);
  CHECK(page.find("<h2 id=\"aubc\">") != std::string::npos);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("src=\"http") == std::string::npos);

  std::optional<fs::path> exe;
  for (const char* name : {"chromium", "chromium-browser"})
    if (!exe) exe = find_executable(name);
  if (!exe) {
    MESSAGE("chromium not found on PATH: skipping the rendering check (CI installs Debian's chromium)");
    return;
  }
  const std::string url = "file://" + fs::absolute(dir.path() / "report" / "index.html").string() + "#aubc";
  const auto shot = dir.path() / "shot.png", dom = dir.path() / "dom.html", profile = dir.path() / "profile";
  const std::vector<std::string> common = {exe->string(), "--headless", "--no-sandbox", "--disable-gpu",
                                           "--hide-scrollbars", "--user-data-dir=" + profile.string()};
  auto with = [&](std::vector<std::string> extra) {
    auto argv = common;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  REQUIRE(run_program(with({"--screenshot=" + shot.string(), "--window-size=1200,1400", url}), 180, false).status ==
          0);
  const std::string png = slurp(shot);
  REQUIRE(png.size() > 8);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  CHECK(png.size() > 20000);  // a blank 1200x1400 page compresses to a few kB
  REQUIRE(run_program(with({"--dump-dom", url}), 180, false, ChildIo{dom}).status == 0);
  const std::string d = slurp(dom);
  CHECK(d.find("<title>entropy beats random significantly in 1.00 of 1 setting(s)") != std::string::npos);
  CHECK(d.find("class=\"aubc-cell") != std::string::npos);
  CHECK(d.find("beaten (sum)") != std::string::npos);
}

}  // namespace test_report_stats
