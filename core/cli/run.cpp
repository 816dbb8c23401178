// quarry run and quarry validate: a pipeline's active-learning runs, and its check.
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/cli/cli.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/report/statistics.hpp"
#include "core/study/study.hpp"
#include "quarry/error.hpp"

namespace quarry::cli {

namespace {

namespace fs = std::filesystem;

fs::path store_path(const std::string& results) { return fs::path(results) / "quarry.db"; }

/// Learning curves of several runs side by side (mean over seeds per strategy).
std::string learning_curve_table(const std::string& results, const std::vector<std::string>& run_ids) {
  Store store(store_path(results));
  // strategy -> labeled -> accuracies over seeds
  std::map<std::string, std::map<std::int64_t, std::vector<double>>> curves;
  std::vector<std::string> order;
  std::set<std::int64_t> sizes;
  for (const auto& id : run_ids) {
    auto run = store.find_run(id);
    if (!run) continue;
    const std::string label = run->strategy.empty() ? run->kind : run->strategy;
    if (!curves.count(label)) order.push_back(label);
    for (const auto& c : store.cycles(run->id)) {
      curves[label][c.labeled].push_back(c.test_accuracy);
      sizes.insert(c.labeled);
    }
  }
  std::string out = fmt::format("{:>8}", "labels");
  for (const auto& s : order) out += fmt::format(" | {:>16}", s + " acc%");
  out += "\n" + std::string(8, '-');
  for (std::size_t i = 0; i < order.size(); ++i) out += "-+-" + std::string(16, '-');
  out += "\n";
  for (auto n : sizes) {
    out += fmt::format("{:>8}", n);
    for (const auto& s : order) {
      const auto& v = curves[s][n];
      if (v.empty()) {
        out += fmt::format(" | {:>16}", "-");
        continue;
      }
      const auto ms = report::mean_std(v);
      out += v.size() > 1 ? fmt::format(" | {:>16}", fmt::format("{:.2f} ± {:.2f}", 100 * ms.mean, 100 * ms.std))
                          : fmt::format(" | {:>16}", fmt::format("{:.2f}", 100 * ms.mean));
    }
    out += "\n";
  }
  return out;
}

int run_command(const RunRequest& req, const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g.plugin_paths, req.pipeline);
  const auto out = run_study(req, host, console());
  const Pipeline& p = out.pipeline;
  if (!req.resume.empty()) {
    std::cout << "\n" << learning_curve_table(p.results, out.run_ids);
    return 0;
  }
  if (!req.run_id.empty()) return 0;  // a sweep cell: the sweep reports
  std::cout << "\nTest accuracy (%) by labeled-pool size, study '" << p.name << "':\n"
            << learning_curve_table(p.results, out.run_ids) << "\nResults: " << store_path(p.results).string()
            << " (SQLite), CSV in " << (fs::path(p.results) / "csv").string() << "/, logs in " << p.results
            << "/<run>/run.log\nRuns:";
  for (const auto& id : out.run_ids) std::cout << " " << id;
  std::cout << "\nNext: `quarry show RUN`, `quarry pool export RUN`, `quarry runs --results " << p.results << "`\n";
  return 0;
}

int validate_command(const std::string& pipeline_file, const std::vector<std::string>& sets, const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g.plugin_paths, pipeline_file);
  Pipeline p = load_pipeline(pipeline_file, sets, &host);
  std::cout << "# " << pipeline_file << ": valid. Fully resolved pipeline:\n" << p.resolved_toml << "\n";
  return 0;
}

QUARRY_COMMAND(10) {
  struct Opts {
    std::string pipeline, resume, results = "runs", run_id;
    std::vector<std::string> sets, strategies;
    std::vector<std::int64_t> seeds;
  };
  auto o = std::make_shared<Opts>();
  auto* run = app.add_subcommand("run", "Run a pipeline: every strategy x seed, one active-learning run each.\n"
                                        "  quarry run configs/quickstart.toml --set train.epochs=5\n"
                                        "  quarry run --resume RUN [--results DIR]   continue a killed run");
  run->add_option("pipeline", o->pipeline, "pipeline TOML file");
  run->add_option("--set", o->sets, "override a key: --set train.lr=0.05 --set al.budget=500 (repeatable)");
  run->add_option("--resume", o->resume, "continue run RUN from its last completed cycle");
  run->add_option("--results", o->results, "results folder holding quarry.db (with --resume)");
  run->add_option("--strategy", o->strategies, "run only these strategies of the pipeline (repeatable)");
  run->add_option("--seed", o->seeds, "run only these seeds (repeatable)");
  run->add_option("--run-id", o->run_id,
                  "with one strategy and one seed: use this run id; a finished run of that id is skipped, an "
                  "unfinished one resumed (what sweeps use)");
  return [o, &g] {
    if (o->pipeline.empty() && o->resume.empty()) throw quarry::Error("quarry run: give a pipeline file, or --resume RUN");
    RunRequest r{o->pipeline, o->sets, o->resume, o->results, o->strategies, o->seeds, o->run_id};
    return run_command(r, g);
  };
}

QUARRY_COMMAND(20) {
  auto pipeline = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto* v = app.add_subcommand("validate", "Check a pipeline and print it fully resolved (defaults filled in)");
  v->add_option("pipeline", *pipeline, "pipeline TOML file")->required();
  v->add_option("--set", *sets, "override a key (as for run)");
  return [pipeline, sets, &g] { return validate_command(*pipeline, *sets, g); };
}

}  // namespace

}  // namespace quarry::cli
