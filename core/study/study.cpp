#include "core/study/study.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/al/run_record.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/hpo/regime.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

RunOutcome run_with_hpo_stage(const Pipeline& p, std::size_t strategy, std::int64_t seed, const PluginHost& host,
                              Store& store, const std::string& run_id) {
  if (!p.hpo.enabled) return run_active_learning(p, strategy, seed, host, store, run_id);
  const auto hooks = hpo_hooks(p, seed, host, store);
  return run_active_learning(p, strategy, seed, host, store, run_id, hooks.cycle, hooks.resume, hooks.start);
}

namespace {

/// A stored al run continued with its stored, fully resolved pipeline.
StudyOutcome resume_run(const RunRequest& req, PluginHost& host) {
  const auto db = fs::path(req.results) / "quarry.db";
  if (!fs::exists(db))
    throw Error("no results store at " + db.string() + " (run a pipeline first, or pass --results DIR where one was written)");
  Store store(db);
  std::string why;
  auto run = store.find_run(req.resume, &why);
  if (!run) throw Error(why);
  if (run->kind != "al")
    throw Error("run " + run->id + " is a '" + run->kind + "' run; only active-learning runs resume with `quarry run "
                "--resume` (use `quarry tune` again to resume a search)");
  StudyOutcome out;
  out.pipeline =
      parse_stored_pipeline(run->pipeline, (fs::path(req.results) / run->id / "pipeline.toml").string(), host);
  Pipeline& p = out.pipeline;
  p.results = req.results;
  run_with_hpo_stage(p, strategy_index_of(p, *run), run->seed, host, store, run->id);
  out.run_ids.push_back(run->id);
  return out;
}

}  // namespace

StudyOutcome run_study(const RunRequest& req, PluginHost& host, Logger& log) {
  if (!req.resume.empty()) return resume_run(req, host);
  StudyOutcome out;
  out.pipeline = load_pipeline(req.pipeline, req.sets, &host);
  const Pipeline& p = out.pipeline;
  Store store(fs::path(p.results) / "quarry.db");
  // (strategy entry, seed) pairs, in pipeline order.
  std::vector<std::pair<std::size_t, std::int64_t>> plan;
  for (std::size_t s = 0; s < p.strategies.size(); ++s) {
    if (!req.strategies.empty() &&
        std::find(req.strategies.begin(), req.strategies.end(), p.strategies[s].name) == req.strategies.end())
      continue;
    for (auto seed : p.seeds)
      if (req.seeds.empty() || std::find(req.seeds.begin(), req.seeds.end(), seed) != req.seeds.end())
        plan.emplace_back(s, seed);
  }
  if (plan.empty()) throw Error("nothing to run: --strategy/--seed select no (strategy, seed) pair of the pipeline");
  if (!req.run_id.empty()) {
    // One fixed run (a sweep cell): skip it when finished, resume it when not.
    if (plan.size() != 1)
      throw Error("--run-id needs exactly one (strategy, seed) pair; select one with --strategy and --seed");
    if (auto existing = store.find_run(req.run_id);
        existing && existing->id == req.run_id && existing->status == "finished") {
      log.info("run " + req.run_id + " already finished; nothing to do");
      out.already_finished = true;
      return out;
    }
    run_with_hpo_stage(p, plan[0].first, plan[0].second, host, store, req.run_id);
    out.run_ids.push_back(req.run_id);
    store.export_csv(fs::path(p.results) / "csv");
    return out;
  }
  log.info(fmt::format("study '{}': {} run(s) ({} strategies x {} seeds), results in {}", p.name, plan.size(),
                       p.strategies.size(), p.seeds.size(), (fs::path(p.results) / "quarry.db").string()));
  Progress progress(log, "study progress: runs", static_cast<std::int64_t>(plan.size()), 0.0);
  for (std::size_t i = 0; i < plan.size(); ++i) {
    out.run_ids.push_back(run_with_hpo_stage(p, plan[i].first, plan[i].second, host, store).run_id);
    progress.step(static_cast<std::int64_t>(i + 1));
  }
  store.export_csv(fs::path(p.results) / "csv");
  return out;
}

}  // namespace quarry
