// quarry: the command-line entry point.
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/commands.hpp"
#include "quarry/error.hpp"
#include "quarry/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Quarry: pool-based deep active learning with plugins.\n"
      "A pipeline (TOML) names a dataset, a model, a training protocol, the loop's sizes and the strategies to\n"
      "compare; `quarry run` trains, evaluates and queries cycle by cycle and records every cycle in\n"
      "<results>/quarry.db (SQLite) with CSV next to it. See README.md."};
  app.set_version_flag("--version", std::string("quarry ") + QUARRY_VERSION + " (SDK " + quarry::kSdkVersion + ", " +
                                        quarry::kBuildFingerprint + ")");
  app.require_subcommand(1);
  quarry::GlobalOptions g;
  app.add_option("--plugin-path", g.plugin_paths, "extra folder to load plugins from (repeatable)");

  std::string pipeline, resume, results = "runs", run_id, out;
  std::vector<std::string> sets, strategies;
  std::vector<std::int64_t> seeds;
  std::int64_t size = 0;

  auto* run = app.add_subcommand("run", "Run a pipeline: every strategy x seed, one active-learning run each.\n"
                                         "  quarry run configs/quickstart.toml --set train.epochs=5\n"
                                         "  quarry run --resume RUN [--results DIR]   continue a killed run");
  run->add_option("pipeline", pipeline, "pipeline TOML file");
  run->add_option("--set", sets, "override a key: --set train.lr=0.05 --set al.budget=500 (repeatable)");
  run->add_option("--resume", resume, "continue run RUN from its last completed cycle");
  run->add_option("--results", results, "results folder holding quarry.db (with --resume)");
  run->add_option("--strategy", strategies, "run only these strategies of the pipeline (repeatable)");
  run->add_option("--seed", seeds, "run only these seeds (repeatable)");

  auto* validate = app.add_subcommand("validate", "Check a pipeline and print it fully resolved (defaults filled in)");
  validate->add_option("pipeline", pipeline, "pipeline TOML file")->required();
  validate->add_option("--set", sets, "override a key (as for run)");

  app.add_subcommand("plugins", "List every plugin component (kind, name, version, file, parameters) and every refused library");

  auto* runs = app.add_subcommand("runs", "List the runs in a results store");
  runs->add_option("--results", results, "results folder holding quarry.db")->capture_default_str();

  auto* show = app.add_subcommand("show", "Show a run: its learning curve as a table, and its hyper-parameter searches");
  show->add_option("run", run_id, "run id (or a unique prefix)")->required();
  show->add_option("--results", results, "results folder holding quarry.db")->capture_default_str();

  auto* pool = app.add_subcommand("pool", "Labeled pools as artifacts");
  pool->require_subcommand(1);
  auto* pool_export = pool->add_subcommand("export", "Write a run's labeled pool (train-split indices, cycle acquired) as JSON");
  pool_export->add_option("run", run_id, "run id (or a unique prefix)")->required();
  pool_export->add_option("--size", size, "the pool at this many labels (default: all)");
  pool_export->add_option("--out", out, "output file (default RUN-pool-SIZE.json)");
  pool_export->add_option("--results", results, "results folder holding quarry.db")->capture_default_str();

  auto* exp = app.add_subcommand("export", "Export every table of a results store as CSV (for pandas)");
  exp->add_option("--results", results, "results folder holding quarry.db")->capture_default_str();
  exp->add_option("--out", out, "output folder (default RESULTS/csv)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) {
      if (pipeline.empty() && resume.empty()) throw quarry::Error("quarry run: give a pipeline file, or --resume RUN");
      return quarry::cmd_run(resume.empty() ? pipeline : results, sets, resume, strategies, seeds, g);
    }
    if (*validate) return quarry::cmd_validate(pipeline, sets, g);
    if (app.got_subcommand("plugins")) return quarry::cmd_plugins(g);
    if (*runs) return quarry::cmd_runs(results);
    if (*show) return quarry::cmd_show(results, run_id);
    if (*pool_export) return quarry::cmd_pool_export(results, run_id, size, out);
    if (*exp) return quarry::cmd_export(results, out);
  } catch (const quarry::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
