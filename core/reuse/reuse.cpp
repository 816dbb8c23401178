#include "core/reuse/reuse.hpp"

#include <algorithm>
#include <filesystem>

#include "core/al/pool_file.hpp"
#include "core/al/run_record.hpp"
#include "core/data/seeds.hpp"
#include "core/util/memory.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/hpo/search.hpp"
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
    const auto [run, size] = parse_pool_ref(spec);
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
    const std::int64_t seed = src.pool.seed.value_or(p.seeds.front());  // seed 0 is a seed like any other
    const auto size = static_cast<std::int64_t>(src.pool.train_indices.size());
    auto source_run = src.pool.source_run.empty() ? std::optional<RunRecord>{} : store.find_run(src.pool.source_run);
    RunRecord rec = new_run_record(p, "reuse", "reuse-" + p.model.name, seed);
    rec.strategy = source_run ? source_run->strategy : "";
    rec.source_run = src.pool.source_run;
    rec.source_size = size;
    // Tuned reuse runs train each with their own best setting: one label for all of them.
    if (r.tune) rec.hp_label = "tuned (TPE)";
    store.create_run(rec);
    try {
      log.info(fmt::format("reuse {}: {} labels from {} with {}{}", rec.id, size, src.label, p.model.name,
                           r.tune ? " (tuning first)" : ""));
      Experiment e = prepare_experiment(p, seed, host, log);
      const auto labeled = pool_indices_for(src.pool, e.split, src.label);
      TrainConfig cfg = p.train;
      std::optional<TrainEval> trained;
      if (r.tune) {
        auto search = run_search(p, e, labeled, p.train, seed, host, store, rec.id + "/" + std::to_string(size),
                                 rec.id, log);
        cfg = search.best_config;
        // The search's retraining on the whole pool is this run's training (same setting and
        // seed): it is not done twice.
        trained = std::move(search.retrained);
      }
      if (!trained)
        trained = train_and_evaluate(e, cfg, labeled, mix_seed(static_cast<std::uint64_t>(seed), kSeedTrain,
                                                               static_cast<std::uint64_t>(size)), log);
      const TrainEval& te = *trained;
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

}  // namespace quarry
