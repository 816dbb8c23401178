#include "core/al/reuse.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/hpo/tune.hpp"
#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {
struct PoolSource {
  PoolFile pool;
  std::string label;  ///< where it came from, for messages
};
}  // namespace

std::vector<std::string> reuse_pools(const ReuseRequest& r, const PluginHost& host, Logger& log,
                                     std::string* results_out) {
  if (r.pools.empty() && r.pool_files.empty())
    throw Error("quarry reuse: give at least one --pool RUN[@SIZE] or --pool-file FILE");
  Pipeline p = load_pipeline(r.pipeline, r.sets, &host);
  if (!r.results.empty()) p.results = r.results;
  if (results_out) *results_out = p.results;
  Store store(fs::path(p.results) / "quarry.db");
  std::vector<PoolSource> sources;
  for (const auto& spec : r.pools) {
    const auto at = spec.find('@');
    const std::string run = spec.substr(0, at);
    std::int64_t size = 0;
    if (at != std::string::npos) {
      try {
        size = std::stoll(spec.substr(at + 1));
      } catch (...) {
        throw Error("--pool " + spec + ": expected RUN or RUN@SIZE with SIZE a number of labels");
      }
    }
    // A study name (no run id or prefix of one) stands for every active-learning run of the
    // study, e.g. --pool table1-cifar10@2000: all strategies, settings and seeds at 2,000 labels.
    std::vector<std::string> study_runs;
    if (!store.find_run(run))
      for (const auto& rec : store.runs())
        if (rec.study == run && rec.kind == "al") study_runs.push_back(rec.id);
    if (study_runs.empty()) {
      sources.push_back({pool_of_run(store, run, size), spec});
      continue;
    }
    std::sort(study_runs.begin(), study_runs.end());
    for (const auto& id : study_runs) sources.push_back({pool_of_run(store, id, size), id + spec.substr(run.size())});
  }
  for (const auto& f : r.pool_files) sources.push_back({read_pool_file(f), f});

  std::vector<std::string> ids;
  for (const auto& src : sources) {
    // The source run's seed gives the same validation split, so its pool maps back exactly.
    const std::int64_t seed = src.pool.seed != 0 ? src.pool.seed : p.seeds.front();
    const auto size = static_cast<std::int64_t>(src.pool.train_indices.size());
    auto source_run = src.pool.source_run.empty() ? std::optional<RunRecord>{} : store.find_run(src.pool.source_run);
    RunRecord rec;
    rec.id = new_run_id(p.name, "reuse-" + p.model.name, seed);
    rec.study = p.name;
    rec.kind = "reuse";
    rec.strategy = source_run ? source_run->strategy : "";
    rec.seed = seed;
    rec.dataset = p.dataset.name;
    rec.model = p.model.name;
    rec.status = "running";
    rec.pipeline = p.resolved_toml;
    rec.source_run = src.pool.source_run;
    rec.source_size = size;
    // Tuned reuse runs train each with their own best setting: one label for all of them.
    rec.hp_label = r.tune ? "tuned (TPE)" : fmt::format("lr={:g} wd={:g}", p.train.lr, p.train.weight_decay);
    store.create_run(rec);
    try {
      log.info(fmt::format("reuse {}: {} labels from {} with {}{}", rec.id, size, src.label, p.model.name,
                           r.tune ? " (tuning first)" : ""));
      Experiment e = prepare_experiment(p, seed, host, log);
      const auto labeled = pool_indices_for(src.pool, e.split, src.label);
      TrainConfig cfg = p.train;
      if (r.tune)
        cfg = run_search(p, e, labeled, p.train, seed, host, store, rec.id + "/" + std::to_string(size), rec.id, log)
                  .best_config;
      auto te = train_and_evaluate(e, cfg, labeled, mix_seed(static_cast<std::uint64_t>(seed), kSeedTrain,
                                                             static_cast<std::uint64_t>(size)), log);
      CycleRecord c;
      c.cycle = 0;
      c.labeled = size;
      c.test_accuracy = te.test.accuracy;
      c.test_nll = te.test.nll;
      c.test_ece = te.test.ece;
      c.val_accuracy = te.validation.accuracy;
      c.train_seconds = te.train.seconds;
      c.diverged = te.train.diverged;
      c.diverged_epoch = te.train.diverged_epoch;
      c.final_loss = te.train.final_loss;
      c.lr = cfg.lr;
      c.weight_decay = cfg.weight_decay;
      c.peak_rss_mb = peak_rss_mb();
      std::vector<Acquisition> acquired;
      for (std::size_t i = 0; i < labeled.size(); ++i)
        acquired.push_back({labeled[i], src.pool.train_indices[i], src.pool.cycles[i]});
      store.add_cycle(rec.id, c, acquired);
      store.set_run_status(rec.id, "finished");
      log.info(fmt::format("reuse {}: test acc {:.4f}, NLL {:.4f}{}", rec.id, c.test_accuracy, c.test_nll,
                           c.diverged ? " (diverged)" : ""));
    } catch (const std::exception& ex) {
      store.set_run_status(rec.id, "failed", ex.what());
      throw;
    }
    ids.push_back(rec.id);
  }
  return ids;
}

int cmd_reuse(const ReuseRequest& r, const GlobalOptions& g) {
  static SpdLogger log(console_logger());
  PluginHost host(log);
  discover_plugins(host, g, r.pipeline);
  std::string results;
  const auto ids = reuse_pools(r, host, log, &results);
  Store store(fs::path(results) / "quarry.db");
  std::cout << fmt::format("{:<48} {:<36} {:>7} {:>8} {:>8}\n", "REUSE RUN", "SOURCE", "LABELS", "TEST%", "NLL");
  for (const auto& id : ids) {
    const auto run = store.find_run(id);
    const auto cycles = store.cycles(id);
    if (!run || cycles.empty()) continue;
    std::cout << fmt::format("{:<48} {:<36} {:>7} {:>8.2f} {:>8.4f}\n", id, run->source_run.empty() ? "(file)" : run->source_run,
                             cycles[0].labeled, 100 * cycles[0].test_accuracy, cycles[0].test_nll);
  }
  store.export_csv(fs::path(results) / "csv");
  return 0;
}

}  // namespace quarry
