#include "core/hpo/stage.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/hpo/search.hpp"
#include "core/hpo/train_space.hpp"
#include "core/util/log.hpp"

namespace quarry {

namespace fs = std::filesystem;

CycleHook hpo_stage(const Pipeline& p, std::int64_t seed, const PluginHost& host, Store& store) {
  return [&p, seed, &host, &store](Experiment& e, const std::string& run_id, std::int64_t cycle,
                                   const std::vector<std::int64_t>& labeled,
                                   const TrainConfig& current) -> std::optional<TrainConfig> {
    const auto size = static_cast<std::int64_t>(labeled.size());
    const bool at_size = std::find(p.hpo.sizes.begin(), p.hpo.sizes.end(), size) != p.hpo.sizes.end();
    const bool retune = p.hpo.every > 0 && cycle > 0 && cycle % p.hpo.every == 0;
    if (!at_size && !retune) return std::nullopt;
    auto log = make_run_logger(run_id + "/hpo", fs::path(p.results) / run_id / "hpo.log");
    auto out = run_search(p, e, labeled, current, seed, host, store, run_id + "/" + std::to_string(size), run_id, *log);
    if (!retune) return std::nullopt;
    log->info(fmt::format("cycle {}: the following cycles train with {}", cycle, out.result.best_params_json));
    return out.best_config;
  };
}

TrainConfig tuned_setting_for_resume(const Pipeline& p, const Store& store, const std::string& run_id,
                                     const TrainConfig& restored) {
  if (p.hpo.every <= 0) return restored;
  const auto cycles = store.cycles(run_id);
  for (auto c = cycles.rbegin(); c != cycles.rend(); ++c) {
    if (c->cycle == 0 || c->cycle % p.hpo.every != 0) continue;
    // The hook runs before its cycle is committed, so a committed `every` cycle has its result.
    const auto r = stored_search_result(store, run_id, run_id + "/" + std::to_string(c->labeled));
    if (!r) return restored;
    const auto space = search_space_of(p.hpo);
    return apply_assignment(space, assignment_from_json(space, r->best_params_json), restored);
  }
  return restored;
}

}  // namespace quarry
