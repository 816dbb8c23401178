#include "core/hpo/tune.hpp"

#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "core/al/pool_file.hpp"
#include "core/al/run_record.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/experiment.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

struct TuneRun {
  Pipeline pipeline;
  PoolFile pool;
  RunRecord run;
  std::string results;
  std::unique_ptr<Store> store;
};

/// A stored tune run, with the pipeline and pool it was started with.
TuneRun resume_tune_run(const TuneRequest& req, PluginHost& host) {
  TuneRun t;
  t.results = req.results.empty() ? "runs" : req.results;
  const auto db = fs::path(t.results) / "quarry.db";
  if (!fs::exists(db)) throw Error("no results store at " + db.string() + " (pass --results DIR where the search was written)");
  t.store = std::make_unique<Store>(db);
  std::string why;
  auto found = t.store->find_run(req.resume, &why);
  if (!found) throw Error(why);
  if (found->kind != "tune")
    throw Error("run " + found->id + " is a '" + found->kind + "' run; `quarry tune --resume` continues tune runs");
  t.run = *found;
  t.pipeline =
      parse_stored_pipeline(t.run.pipeline, (fs::path(t.results) / t.run.id / "pipeline.toml").string(), host);
  t.pipeline.results = t.results;
  t.pool = read_pool_file((fs::path(t.results) / t.run.id / "pool.json").string());
  t.store->set_run_status(t.run.id, "running");
  return t;
}

/// A new tune run on the pool of --pool RUN[@SIZE] or --pool-file.
TuneRun new_tune_run(const TuneRequest& req, PluginHost& host) {
  if (req.pipeline.empty()) throw Error("quarry tune: give a pipeline file (or --resume TUNE_RUN)");
  if (req.pool.empty() == req.pool_file.empty())
    throw Error("quarry tune: give the labeled pool with exactly one of --pool RUN[@SIZE] or --pool-file FILE");
  TuneRun t;
  t.pipeline = load_pipeline(req.pipeline, req.sets, &host);
  const Pipeline& p = t.pipeline;
  if (!req.results.empty()) t.pipeline.results = req.results;
  t.results = p.results;
  t.store = std::make_unique<Store>(fs::path(t.results) / "quarry.db");
  std::int64_t seed = p.seeds.at(0);
  if (!req.pool.empty()) {
    const auto ref = parse_pool_ref(req.pool);
    t.pool = pool_of_run(*t.store, ref.run, ref.size);
    seed = t.pool.seed.value_or(seed);  // the seed of the run that collected the pool: its split, its initial weights
  } else {
    t.pool = read_pool_file(req.pool_file);
    seed = t.pool.seed.value_or(seed);
  }
  if (!t.pool.dataset.empty() && t.pool.dataset != p.dataset.name)
    throw Error("the pool was collected on dataset '" + t.pool.dataset + "' but " + req.pipeline + " uses '" +
                p.dataset.name + "'");
  t.run = new_run_record(p, "tune", "tune", seed);
  t.run.source_run = t.pool.source_run.empty() ? req.pool_file : t.pool.source_run;
  t.run.source_size = static_cast<std::int64_t>(t.pool.train_indices.size());
  const auto dir = create_run_folder(p, t.run.id);
  write_pool_file((dir / "pool.json").string(), t.pool);  // what --resume reads
  t.store->create_run(t.run);
  return t;
}

}  // namespace

TuneOutcome tune_pool(const TuneRequest& req, PluginHost& host) {
  TuneRun t = req.resume.empty() ? new_tune_run(req, host) : resume_tune_run(req, host);
  const Pipeline& p = t.pipeline;
  TuneOutcome out;
  out.run = t.run;
  out.results = t.results;
  out.size = static_cast<std::int64_t>(t.pool.train_indices.size());
  const auto run_dir = fs::path(t.results) / t.run.id;
  auto logger = make_run_logger(t.run.id, run_dir / "run.log");
  Logger& log = *logger;
  try {
    log.info(fmt::format("tune run {}: {} labels from {}, seed {}, {} on {}", t.run.id, out.size, t.run.source_run,
                         t.run.seed, p.model.name, p.dataset.name));
    Experiment e = prepare_experiment(p, t.run.seed, host, log);
    const auto labeled = pool_indices_for(t.pool, e.split, (run_dir / "pool.json").string());
    out.search = run_search(p, e, labeled, p.train, t.run.seed, host, *t.store,
                            t.run.id + "/" + std::to_string(out.size), t.run.id, log);
    t.store->set_run_status(t.run.id, "finished");
  } catch (const std::exception& ex) {
    try {
      t.store->set_run_status(t.run.id, "failed", ex.what());
    } catch (...) {
    }
    log.warn("tune run " + t.run.id + " failed: " + ex.what() + " (continue it with `quarry tune --resume " +
             t.run.id + " --results " + t.results + "`)");
    throw;
  }
  return out;
}

}  // namespace quarry
