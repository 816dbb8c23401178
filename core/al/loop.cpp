#include "core/al/loop.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/al/query_context.hpp"
#include "core/al/run_record.hpp"
#include "core/al/run_state.hpp"
#include "core/data/seeds.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/experiment.hpp"
#include "core/util/log.hpp"
#include "core/util/memory.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

std::uint64_t seed_for(std::int64_t seed, SeedPurpose purpose, std::int64_t cycle) {
  return mix_seed(static_cast<std::uint64_t>(seed), purpose, static_cast<std::uint64_t>(cycle));
}

/// Train on the labeled pool (from the seed's initial weights unless init = "continue"),
/// then evaluate on the test set and the validation split.
CycleRecord train_and_evaluate_cycle(Experiment& e, const RunState& s, std::int64_t cycle, std::int64_t seed,
                                     Logger& log) {
  const TrainConfig& cfg = s.train;
  if (cfg.init == "same") restore_weights(*e.model, e.initial);
  CycleRecord rec;
  rec.cycle = cycle;
  rec.labeled = static_cast<std::int64_t>(s.labeled.size());
  rec.lr = cfg.lr;
  rec.weight_decay = cfg.weight_decay;
  const auto tr = train_model(*e.model, cfg, e.data.pool, e.data.mean, e.data.std, s.labeled,
                              seed_for(seed, kSeedTrain, cycle), &log);
  const auto test = evaluate(*e.model, e.data.test, e.data.mean, e.data.std, cfg.predict_batch_size, {},
                             autocast_dtype(cfg));
  rec.test_accuracy = test.accuracy;
  rec.test_nll = test.nll;
  rec.test_ece = test.ece;
  rec.val_accuracy = e.data.validation.size() > 0 ? evaluate(*e.model, e.data.validation, e.data.mean, e.data.std,
                                                             cfg.predict_batch_size, {}, autocast_dtype(cfg))
                                                        .accuracy
                                                  : -1.0;
  rec.train_seconds = tr.seconds;
  rec.diverged = tr.diverged;
  rec.diverged_epoch = tr.diverged_epoch;
  rec.final_loss = tr.final_loss;
  return rec;
}

/// Ask the strategy for `k` of this cycle's candidates (a seeded subset of the unlabeled
/// pool) and check its answer; a bad answer stops the run with a message naming the plugin.
std::vector<std::int64_t> query(const Pipeline& p, const ComponentConfig& sc, Strategy& strategy,
                                const std::string& strategy_file, Experiment& e, const RunState& s,
                                const std::vector<std::int64_t>& unlabeled, std::int64_t k, std::int64_t cycle,
                                std::int64_t seed, Logger& log) {
  std::mt19937_64 cand_rng(seed_for(seed, kSeedCandidates, cycle));
  auto candidates = p.al.candidate_subset > 0 ? sample_without_replacement(unlabeled, p.al.candidate_subset, cand_rng)
                                              : unlabeled;
  std::sort(candidates.begin(), candidates.end());
  HostQueryContext ctx(e, s.train, s.labeled, unlabeled, candidates, k, p.memory_budget_mb << 20,
                       seed_for(seed, kSeedQuery, cycle), log, sc.name, p.model.name);
  std::vector<std::int64_t> picked;
  try {
    picked = strategy.query(ctx);
  } catch (const std::exception& ex) {
    throw Error("strategy '" + sc.name + "' (" + strategy_file + ") threw while querying at cycle " +
                std::to_string(cycle) + ": " + ex.what());
  }
  if (auto problem = check_query(picked, k, e.data.pool.size(), s.is_labeled))
    throw Error("strategy '" + sc.name + "' (" + strategy_file + ") " + *problem + " at cycle " + std::to_string(cycle) +
                "; the run is stopped and nothing of this cycle was recorded");
  return picked;
}

/// Commit the cycle (metrics + queried indices in one transaction); with init = "continue"
/// its checkpoint is written first and the previous one removed after.
void commit_cycle(Store& store, const std::string& run_id, const fs::path& run_dir, Experiment& e, RunState& s,
                  const CycleRecord& rec) {
  const bool keep_model = s.train.init == "continue";
  if (keep_model) save_checkpoint(*e.model, checkpoint_file(run_dir, rec.cycle));
  store.add_cycle(run_id, rec, s.initial_record);
  s.initial_record.clear();
  if (keep_model) remove_checkpoints_except(run_dir, rec.cycle);
}

}  // namespace

std::int64_t cycles_to_budget(std::int64_t budget, std::size_t labeled, std::int64_t query_size) {
  // This cycle, plus one per query still needed (ceil(missing / query_size), with no
  // overflow for any query size).
  const auto missing = std::max<std::int64_t>(0, budget - static_cast<std::int64_t>(labeled));
  if (missing == 0) return 1;
  const auto queries = 1 + (missing - 1) / std::max<std::int64_t>(1, query_size);
  return queries < std::numeric_limits<std::int64_t>::max() ? 1 + queries : queries;
}

namespace {

std::string cycle_summary(const CycleRecord& r) {
  return fmt::format("| {} labels: test acc {:.4f}, NLL {:.4f}, ECE {:.4f}, val acc {:.4f}, train {:.1f}s, query {:.2f}s{}",
                     r.labeled, r.test_accuracy, r.test_nll, r.test_ece, r.val_accuracy, r.train_seconds,
                     r.query_seconds, r.diverged ? fmt::format(", DIVERGED at epoch {}", r.diverged_epoch) : "");
}

}  // namespace

RunOutcome run_active_learning(const Pipeline& p, std::size_t strategy_index, std::int64_t seed,
                               const PluginHost& host, Store& store, const std::string& run_id,
                               const CycleHook& hook, const ResumeHook& on_resume, const StartHook& on_start) {
  const ComponentConfig& sc = p.strategies.at(strategy_index);
  RunOutcome out;
  out.run_id = run_id.empty() ? new_run_id(p.name, sc.name, seed) : run_id;
  const auto stored = run_id.empty() ? std::nullopt : store.find_run(run_id);
  const bool resuming = stored && stored->id == run_id;
  const fs::path run_dir = fs::path(p.results) / out.run_id;
  if (resuming) {
    fs::create_directories(run_dir);
    store.set_run_status(out.run_id, "running");
  } else {
    create_run_folder(p, out.run_id);
    RunRecord r = new_run_record(p, "al", sc.name, seed, out.run_id);
    r.strategy = sc.name;
    r.strategy_index = static_cast<std::int64_t>(strategy_index);  // what a resume runs again
    store.create_run(r);
  }
  auto logger = make_run_logger(out.run_id, run_dir / "run.log");
  Logger& log = *logger;
  try {
    log.info(fmt::format("run {}: strategy {}, seed {}, {} on {}", out.run_id, sc.name, seed, p.model.name,
                         p.dataset.name));
    Experiment e = prepare_experiment(p, seed, host, log);
    const auto n_pool = e.data.pool.size();
    if (p.al.budget > n_pool)
      throw Error(p.where("al.budget") + ": key 'al.budget': " + std::to_string(p.al.budget) +
                  " labels exceed the pool of " + std::to_string(n_pool) + " images (lower al.budget, or raise the "
                  "dataset's size or pool_subset)");
    auto strategy = host.make_strategy(sc.name, sc.params);
    const auto& strategy_file = host.get(ComponentKind::Strategy, sc.name).file;

    RunState s = resuming ? resumed_state(p, e, store, out.run_id, run_dir) : RunState{};
    if (s.cycles.empty()) s = initial_state(p, e, seed);
    if (s.cycles.empty() && on_start) s.train = on_start(e, out.run_id, s.labeled, s.train);
    else if (!s.cycles.empty() && on_resume) s.train = on_resume(out.run_id, s.train);
    out.cycles = s.cycles;
    if (s.finished) {
      log.info("run " + out.run_id + " had already finished");
      store.set_run_status(out.run_id, "finished");
      return out;
    }
    if (!s.cycles.empty())
      log.info(fmt::format("resuming after cycle {} with {} labels", s.next_cycle - 1, s.labeled.size()));

    const auto budget = std::min<std::int64_t>(p.al.budget, n_pool);
    Progress progress(log, "cycle", s.next_cycle + cycles_to_budget(budget, s.labeled.size(), p.al.query_size), 0.0);

    for (std::int64_t cycle = s.next_cycle;; ++cycle) {
      reset_peak_rss();
      CycleRecord rec = train_and_evaluate_cycle(e, s, cycle, seed, log);
      std::vector<std::int64_t> unlabeled;
      for (std::int64_t i = 0; i < n_pool; ++i)
        if (!s.is_labeled[static_cast<std::size_t>(i)]) unlabeled.push_back(i);
      // Query, unless this was the last training.
      const auto k = std::min<std::int64_t>({p.al.query_size, budget - rec.labeled, static_cast<std::int64_t>(unlabeled.size())});
      if (k > 0) {
        const double q0 = now_seconds();
        rec.queried = query(p, sc, *strategy, strategy_file, e, s, unlabeled, k, cycle, seed, log);
        rec.query_seconds = now_seconds() - q0;
        for (auto i : rec.queried) rec.queried_train.push_back(e.split.pool[static_cast<std::size_t>(i)]);
      }
      rec.peak_rss_mb = peak_rss_mb();
      const auto next_train = hook ? hook(e, out.run_id, cycle, s.labeled, s.train) : std::nullopt;
      commit_cycle(store, out.run_id, run_dir, e, s, rec);
      out.cycles.push_back(rec);
      progress.step(cycle + 1, cycle_summary(rec));
      if (next_train) s.train = *next_train;
      if (k == 0) break;
      s.label(rec.queried);
    }
    store.set_run_status(out.run_id, "finished");
    log.info("run " + out.run_id + " finished");
  } catch (const std::exception& ex) {
    try {
      store.set_run_status(out.run_id, "failed", ex.what());
    } catch (...) {
    }
    log.warn(std::string("run ") + out.run_id + " failed: " + ex.what());
    throw;
  }
  return out;
}

}  // namespace quarry
