// The everyday commands: run, validate, plugins, runs, show, pool export, export.
#include "core/cli/cli.hpp"
#include "quarry/error.hpp"

namespace {
using quarry::cli::GlobalOptions;

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
    quarry::RunRequest r{o->pipeline, o->sets, o->resume, o->results, o->strategies, o->seeds, o->run_id};
    return quarry::cmd_run(r, g);
  };
}

QUARRY_COMMAND(20) {
  auto pipeline = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto* v = app.add_subcommand("validate", "Check a pipeline and print it fully resolved (defaults filled in)");
  v->add_option("pipeline", *pipeline, "pipeline TOML file")->required();
  v->add_option("--set", *sets, "override a key (as for run)");
  return [pipeline, sets, &g] { return quarry::cmd_validate(*pipeline, *sets, g); };
}

QUARRY_COMMAND(30) {
  app.add_subcommand("plugins", "List every plugin component (kind, name, version, file, parameters) and every refused library");
  return [&g] { return quarry::cmd_plugins(g); };
}

QUARRY_COMMAND(40) {
  auto results = std::make_shared<std::string>("runs");
  auto* runs = app.add_subcommand("runs", "List the runs in a results store");
  runs->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  return [results] { return quarry::cmd_runs(*results); };
}

QUARRY_COMMAND(50) {
  auto results = std::make_shared<std::string>("runs");
  auto run = std::make_shared<std::string>();
  auto* show = app.add_subcommand("show", "Show a run: its learning curve as a table, and its hyper-parameter searches");
  show->add_option("run", *run, "run id (or a unique prefix)")->required();
  show->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  return [results, run] { return quarry::cmd_show(*results, *run); };
}

QUARRY_COMMAND(60) {
  struct Opts {
    std::string results = "runs", run, out;
    std::int64_t size = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* pool = app.add_subcommand("pool", "Labeled pools as artifacts (quarry pool export --help)");
  pool->require_subcommand(1);
  auto* ex = pool->add_subcommand("export", "Write a run's labeled pool (train-split indices with the cycle each was acquired in) as JSON;\n"
                                            "start a pipeline from it with [al] initial_pool = \"FILE\"");
  ex->add_option("run", o->run, "run id (or a unique prefix)")->required();
  ex->add_option("--size", o->size, "the pool at this many labels (default: all)");
  ex->add_option("--out", o->out, "output file (default RUN-pool-SIZE.json)");
  ex->add_option("--results", o->results, "results folder holding quarry.db")->capture_default_str();
  return [o] { return quarry::cmd_pool_export(o->results, o->run, o->size, o->out); };
}

QUARRY_COMMAND(70) {
  auto results = std::make_shared<std::string>("runs");
  auto out = std::make_shared<std::string>();
  auto* exp = app.add_subcommand("export", "Export every table of a results store as CSV (for pandas)");
  exp->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  exp->add_option("--out", *out, "output folder (default RESULTS/csv)");
  return [results, out] { return quarry::cmd_export(*results, *out); };
}

}  // namespace
