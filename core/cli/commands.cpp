#include "core/cli/commands.hpp"

#include <filesystem>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/hpo/tune.hpp"
#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

SpdLogger& console() {
  static SpdLogger l(console_logger());
  return l;
}


fs::path store_path(const std::string& results) { return fs::path(results) / "quarry.db"; }

Store open_existing(const std::string& results) {
  if (!fs::exists(store_path(results)))
    throw Error("no results store at " + store_path(results).string() +
                " (run a pipeline first, or pass --results DIR where one was written)");
  return Store(store_path(results));
}

std::string fmt_metric(double v, bool percent = true) {
  if (v < 0 || std::isnan(v)) return "-";
  return percent ? fmt::format("{:.2f}", 100.0 * v) : fmt::format("{:.4f}", v);
}

/// One active-learning run, with the [hpo] stage hooked in when the pipeline has one.
RunOutcome run_al(const Pipeline& p, std::size_t strategy, std::int64_t seed, const PluginHost& host, Store& store,
                  const std::string& run_id = "") {
  if (!p.hpo.enabled) return run_active_learning(p, strategy, seed, host, store, run_id);
  return run_active_learning(p, strategy, seed, host, store, run_id, hpo_stage(p, seed, host, store),
                             [&p, &store](const std::string& id, const TrainConfig& restored) {
                               return tuned_setting_for_resume(p, store, id, restored);
                             });
}

}  // namespace

void discover_plugins(PluginHost& host, const GlobalOptions& g, const std::string& pipeline_file) {
  auto paths = g.plugin_paths;
  if (!pipeline_file.empty())
    for (const auto& p : peek_plugin_paths(pipeline_file)) paths.push_back(p);
  host.discover(paths);
}

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
      double m = 0, sq = 0;
      for (double x : v) m += x;
      m /= static_cast<double>(v.size());
      for (double x : v) sq += (x - m) * (x - m);
      const double sd = std::sqrt(sq / static_cast<double>(v.size()));
      out += v.size() > 1 ? fmt::format(" | {:>16}", fmt::format("{:.2f} ± {:.2f}", 100 * m, 100 * sd))
                          : fmt::format(" | {:>16}", fmt::format("{:.2f}", 100 * m));
    }
    out += "\n";
  }
  return out;
}

int cmd_run(const RunRequest& req, const GlobalOptions& g) {
  const auto& pipeline_file = req.pipeline;
  const auto& resume = req.resume;
  const auto& only_strategies = req.strategies;
  const auto& only_seeds = req.seeds;
  PluginHost host(console());
  std::vector<std::string> run_ids;
  if (!resume.empty()) {
    // The stored, fully resolved pipeline is what the run continues with.
    const std::string& results = req.results;
    Store store = open_existing(results);
    std::string why;
    auto run = store.find_run(resume, &why);
    if (!run) throw Error(why);
    if (run->kind != "al") throw Error("run " + run->id + " is a '" + run->kind + "' run; only active-learning runs resume with `quarry run --resume` (use `quarry tune` again to resume a search)");
    discover_plugins(host, g);
    Pipeline p = parse_pipeline(run->pipeline, (fs::path(results) / run->id / "pipeline.toml").string(), {}, &host);
    for (const auto& pp : p.plugin_paths) host.load_directory(pp);
    p.results = results;
    std::size_t idx = 0;
    while (idx < p.strategies.size() && p.strategies[idx].name != run->strategy) ++idx;
    if (idx == p.strategies.size()) throw Error("run " + run->id + ": its strategy is not in its stored pipeline");
    run_al(p, idx, run->seed, host, store, run->id);
    run_ids.push_back(run->id);
    std::cout << "\n" << learning_curve_table(results, run_ids);
    return 0;
  }
  discover_plugins(host, g, pipeline_file);
  Pipeline p = load_pipeline(pipeline_file, req.sets, &host);
  Store store(store_path(p.results));
  std::vector<std::pair<std::size_t, std::int64_t>> plan;
  for (std::size_t s = 0; s < p.strategies.size(); ++s) {
    if (!only_strategies.empty() &&
        std::find(only_strategies.begin(), only_strategies.end(), p.strategies[s].name) == only_strategies.end())
      continue;
    for (auto seed : p.seeds)
      if (only_seeds.empty() || std::find(only_seeds.begin(), only_seeds.end(), seed) != only_seeds.end())
        plan.emplace_back(s, seed);
  }
  if (plan.empty()) throw Error("nothing to run: --strategy/--seed select no (strategy, seed) pair of the pipeline");
  if (!req.run_id.empty()) {
    // One fixed run (a sweep cell): skip it when finished, resume it when not.
    if (plan.size() != 1)
      throw Error("--run-id needs exactly one (strategy, seed) pair; select one with --strategy and --seed");
    if (auto existing = store.find_run(req.run_id); existing && existing->id == req.run_id) {
      if (existing->status == "finished") {
        console().info("run " + req.run_id + " already finished; nothing to do");
        return 0;
      }
      run_al(p, plan[0].first, plan[0].second, host, store, req.run_id);
    } else {
      run_al(p, plan[0].first, plan[0].second, host, store, req.run_id);
    }
    store.export_csv(fs::path(p.results) / "csv");
    return 0;
  }
  console().info(fmt::format("study '{}': {} run(s) ({} strategies x {} seeds), results in {}", p.name, plan.size(),
                             p.strategies.size(), p.seeds.size(), store_path(p.results).string()));
  const double t0 = now_seconds();
  for (std::size_t i = 0; i < plan.size(); ++i) {
    auto outcome = run_al(p, plan[i].first, plan[i].second, host, store);
    run_ids.push_back(outcome.run_id);
    const double el = now_seconds() - t0;
    console().info(fmt::format("study progress: {}/{} runs, {:.0f}s elapsed, ETA {:.0f}s", i + 1, plan.size(), el,
                               el / static_cast<double>(i + 1) * static_cast<double>(plan.size() - i - 1)));
  }
  store.export_csv(fs::path(p.results) / "csv");
  std::cout << "\nTest accuracy (%) by labeled-pool size, study '" << p.name << "':\n"
            << learning_curve_table(p.results, run_ids) << "\nResults: " << store_path(p.results).string()
            << " (SQLite), CSV in " << (fs::path(p.results) / "csv").string() << "/, logs in " << p.results
            << "/<run>/run.log\nRuns:";
  for (const auto& id : run_ids) std::cout << " " << id;
  std::cout << "\nNext: `quarry show RUN`, `quarry pool export RUN`, `quarry runs --results " << p.results << "`\n";
  return 0;
}

int cmd_validate(const std::string& pipeline_file, const std::vector<std::string>& sets, const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g, pipeline_file);
  Pipeline p = load_pipeline(pipeline_file, sets, &host);
  std::cout << "# " << pipeline_file << ": valid. Fully resolved pipeline:\n" << p.resolved_toml << "\n";
  return 0;
}

int cmd_plugins(const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g);
  std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", "KIND", "NAME", "VERSION", "FILE");
  for (auto kind : {ComponentKind::Dataset, ComponentKind::Model, ComponentKind::Strategy})
    for (const auto& name : host.names(kind)) {
      const auto* c = host.find(kind, name);
      std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", to_string(kind), name, c->version, c->file);
      std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", "", "", "", c->info.description);
      for (const auto& s : c->info.params)
        std::cout << fmt::format("{:<9} {:<22} {:<10}   {} ({}{}) {}\n", "", "", "", s.name, to_string(s.type),
                                 s.default_value ? ", default " + to_string(*s.default_value) : ", required", s.help);
    }
  if (!host.refused().empty()) {
    std::cout << "\nRefused libraries:\n";
    for (const auto& r : host.refused()) std::cout << "  " << r.file << ": " << r.reason << "\n";
  }
  std::cout << "\nSearch path:";
  for (const auto& d : PluginHost::search_path(g.plugin_paths)) std::cout << " " << d.string();
  std::cout << "\n";
  return 0;
}

int cmd_runs(const std::string& results) {
  Store store = open_existing(results);
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

int cmd_show(const std::string& results, const std::string& id) {
  Store store = open_existing(results);
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

int cmd_pool_export(const std::string& results, const std::string& run, std::int64_t size, const std::string& out) {
  Store store = open_existing(results);
  auto pool = pool_of_run(store, run, size);
  const std::string file = out.empty() ? fmt::format("{}-pool-{}.json", pool.source_run, pool.train_indices.size()) : out;
  write_pool_file(file, pool);
  std::cout << "wrote " << pool.train_indices.size() << " labels of run " << pool.source_run << " to " << file
            << "\nuse it with: [al] initial_pool = \"" << file << "\"\n";
  return 0;
}

int cmd_export(const std::string& results, const std::string& out) {
  Store store = open_existing(results);
  const auto dir = out.empty() ? (fs::path(results) / "csv") : fs::path(out);
  store.export_csv(dir);
  std::cout << "wrote runs.csv, cycles.csv, queried.csv, trials.csv, searches.csv to " << dir.string()
            << "/\n(pandas: pd.read_csv(\"" << (dir / "cycles.csv").string() << "\"))\n";
  return 0;
}

}  // namespace quarry
