// Reading a results store: quarry runs, show, pool export and export.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "core/al/pool_file.hpp"
#include "core/cli/cli.hpp"
#include "core/hpo/search.hpp"
#include "quarry/error.hpp"

namespace quarry::cli {

namespace {

namespace fs = std::filesystem;

int runs_command(const std::string& results) {
  auto store_ptr = open_existing_store(results);
    Store& store = *store_ptr;
  std::cout << fmt::format("{:<44} {:<6} {:<14} {:>5} {:<10} {:>7} {:>8}  {}\n", "RUN", "KIND", "STRATEGY", "SEED",
                           "STATUS", "LABELS", "TEST%", "UPDATED");
  for (const auto& r : store.runs()) {
    const auto cycles = store.cycles(r.id);
    const auto last = cycles.empty() ? CycleRecord{} : cycles.back();
    std::cout << fmt::format("{:<44} {:<6} {:<14} {:>5} {:<10} {:>7} {:>8}  {}\n", r.id, r.kind, r.strategy, r.seed,
                             r.status, cycles.empty() ? std::string("-") : std::to_string(last.labeled),
                             cycles.empty() ? std::string("-") : fmt_metric(last.test_accuracy), r.updated_at);
  }
  return 0;
}

int show_command(const std::string& results, const std::string& id) {
  auto store_ptr = open_existing_store(results);
    Store& store = *store_ptr;
  std::string why;
  auto run = store.find_run(id, &why);
  if (!run) throw Error(why);
  std::cout << fmt::format("run {}  ({} run, study {}, strategy {}, seed {}, {} on {}, status {})\n", run->id, run->kind,
                           run->study, run->strategy.empty() ? "-" : run->strategy, run->seed, run->model, run->dataset,
                           run->status);
  if (!run->source_run.empty())
    std::cout << fmt::format("pool: {} labels from run {}\n", run->source_size, run->source_run);
  if (!run->message.empty()) std::cout << "message: " << run->message << "\n";
  const auto cycles = store.cycles(run->id);
  if (run->kind != "tune" || !cycles.empty()) {
    std::cout << fmt::format("\n{:>5} {:>7} {:>8} {:>8} {:>7} {:>8} {:>9} {:>8} {:>8} {:>9}  {}\n", "cycle", "labels",
                             "test%", "NLL", "ECE", "val%", "train_s", "query_s", "peakMB", "lr/wd", "note");
    for (const auto& c : cycles)
      std::cout << fmt::format("{:>5} {:>7} {:>8} {:>8} {:>7} {:>8} {:>9.1f} {:>8.2f} {:>8.0f} {:>9}  {}\n", c.cycle,
                               c.labeled, fmt_metric(c.test_accuracy), fmt_metric(c.test_nll, false),
                               fmt_metric(c.test_ece, false), fmt_metric(c.val_accuracy), c.train_seconds,
                               c.query_seconds, c.peak_rss_mb, fmt::format("{:g}/{:g}", c.lr, c.weight_decay),
                               c.diverged ? fmt::format("diverged at epoch {}", c.diverged_epoch) : "");
  }
  const auto searches = store.search_results(run->id);
  for (const auto& s : searches) {
    std::cout << fmt::format("\nsearch {} on {} labels: best {} (mean val acc {:.2f}%), retrained test acc {:.2f}%, NLL {:.4f}\n",
                             s.search, s.pool_size, s.best_params_json, 100 * s.best_value, 100 * s.test_accuracy,
                             s.test_nll);
    std::cout << trials_table(store.trials(s.search));
  }
  // An interrupted search has trials but no result yet.
  if (run->kind == "tune" && searches.empty()) {
    const auto search = run->id + "/" + std::to_string(run->source_size);
    const auto trials = store.trials(search);
    std::cout << fmt::format("\nsearch {}: {} trial(s) stored, no result yet (continue with `quarry tune --resume {}`)\n",
                             search, trials.size(), run->id);
    if (!trials.empty()) std::cout << trials_table(trials);
  }
  return 0;
}

int pool_export_command(const std::string& results, const std::string& run, std::int64_t size, const std::string& out) {
  auto store_ptr = open_existing_store(results);
    Store& store = *store_ptr;
  auto pool = pool_of_run(store, run, size);
  const std::string file = out.empty() ? fmt::format("{}-pool-{}.json", pool.source_run, pool.train_indices.size()) : out;
  write_pool_file(file, pool);
  std::cout << "wrote " << pool.train_indices.size() << " labels of run " << pool.source_run << " to " << file
            << "\nuse it with: [al] initial_pool = \"" << file << "\"\n";
  return 0;
}

int export_command(const std::string& results, const std::string& out) {
  auto store_ptr = open_existing_store(results);
    Store& store = *store_ptr;
  const auto dir = out.empty() ? (fs::path(results) / "csv") : fs::path(out);
  store.export_csv(dir);
  std::cout << "wrote runs.csv, cycles.csv, queried.csv, trials.csv, searches.csv to " << dir.string()
            << "/\n(pandas: pd.read_csv(\"" << (dir / "cycles.csv").string() << "\"))\n";
  return 0;
}

QUARRY_COMMAND(40) {
  auto results = std::make_shared<std::string>("runs");
  auto* runs = app.add_subcommand("runs", "List the runs in a results store");
  runs->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  return [results] { return runs_command(*results); };
}

QUARRY_COMMAND(50) {
  auto results = std::make_shared<std::string>("runs");
  auto run = std::make_shared<std::string>();
  auto* show = app.add_subcommand("show", "Show a run: its learning curve as a table, and its hyper-parameter searches");
  show->add_option("run", *run, "run id (or a unique prefix)")->required();
  show->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  return [results, run] { return show_command(*results, *run); };
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
  return [o] { return pool_export_command(o->results, o->run, o->size, o->out); };
}

QUARRY_COMMAND(70) {
  auto results = std::make_shared<std::string>("runs");
  auto out = std::make_shared<std::string>();
  auto* exp = app.add_subcommand("export", "Export every table of a results store as CSV (for pandas)");
  exp->add_option("--results", *results, "results folder holding quarry.db")->capture_default_str();
  exp->add_option("--out", *out, "output folder (default RESULTS/csv)");
  return [results, out] { return export_command(*results, *out); };
}

}  // namespace

}  // namespace quarry::cli
