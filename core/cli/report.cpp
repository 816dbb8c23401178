// quarry report: curves, AUBC, penalty matrix, Table 1, runs and CSVs as one folder (docs/reports.md).
#include <iostream>

#include "core/cli/cli.hpp"
#include "core/report/report.hpp"

namespace {

QUARRY_COMMAND(80) {
  auto o = std::make_shared<quarry::report::ReportOptions>();
  auto results = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto no_png = std::make_shared<bool>(false);
  auto* rep = app.add_subcommand(
      "report",
      "Write a report folder: learning curves and cost curves (SVG + PNG), AUBC with bootstrap intervals, the\n"
      "pairwise penalty matrix, the study's Table 1 (DAL -> BO per strategy and setting, differences to random\n"
      "marked when significant), the runs, and CSVs of every number; open DIR/index.html.\n"
      "  quarry report --results runs --out report\n"
      "  quarry report hp-study --results cells/a --results cells/b --out report --sizes 2000,4000");
  rep->add_option("runs", o->runs, "run ids, unique id prefixes or study names (default: every run in the stores)");
  rep->add_option("--out", *out, "output folder (created)")->required();
  rep->add_option("--results", *results,
                  "results folder holding quarry.db; repeat to merge the stores of several sweep cells (default runs)");
  rep->add_option("--group", o->group, "one line per: strategy | hp | strategy+hp (default: strategy+hp when there "
                                       "are several settings, else strategy)")
      ->check(CLI::IsMember({"auto", "strategy", "hp", "strategy+hp"}))
      ->capture_default_str();
  rep->add_option("--sizes", o->sizes, "Table 1 pool sizes, e.g. 2000,4000 (default: the sizes searches tuned, else "
                                       "the last)")
      ->delimiter(',');
  rep->add_option("--band", o->band, "learning-curve band: std (± 1 std over seeds) | ci (95% t interval of the mean)")
      ->check(CLI::IsMember({"std", "ci"}))
      ->capture_default_str();
  rep->add_option("--bootstrap-seed", o->bootstrap_seed,
                  "seed of the AUBC bootstrap intervals (fixed by default, so the report is the same every time)")
      ->capture_default_str();
  rep->add_flag("--no-png", *no_png, "write SVG figures only");
  return [o, results, out, no_png] {
    quarry::report::ReportOptions opts = *o;
    if (!results->empty()) opts.results = *results;
    opts.out = *out;
    opts.render_png = !*no_png;
    const auto res = quarry::report::write_report(opts);
    for (const auto& w : res.warnings) std::cerr << "warning: " << w << "\n";
    std::cout << "report: " << res.files.size() << " files in " << opts.out.string() << " (PNG via "
              << (res.png_renderer.empty() ? "none" : res.png_renderer) << ")\nopen " << res.files.front().string()
              << "\n";
    return 0;
  };
}

}  // namespace
