#include "core/hpo/regime.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/hpo/stage.hpp"
#include "core/hpo/train_space.hpp"
#include "core/util/files.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

std::string from_run_error(const Pipeline& p, const std::string& what) {
  return p.where("hpo.from_run") + ": key 'hpo.from_run': " + what;
}

/// hpo.from_store as a store file: a folder means its quarry.db; empty: p's own store.
fs::path source_store_file(const Pipeline& p) {
  if (p.hpo.from_store.empty()) return fs::path(p.results) / "quarry.db";
  const fs::path s(p.hpo.from_store);
  std::error_code ec;
  return fs::is_directory(s, ec) ? s / "quarry.db" : s;
}

fs::path pin_file(const Pipeline& p, const std::string& run_id) {
  return fs::path(p.results) / run_id / "transferred.json";
}

/// What a from_run run read, kept in its run folder: a resume continues with the same setting
/// even if the source run has tuned again since.
void write_pin(const Pipeline& p, const std::string& run_id, const TransferredSetting& t) {
  nlohmann::json j;
  j["store"] = t.store;
  j["run"] = t.run.id;
  j["search"] = t.search.search;
  j["pool_size"] = t.search.pool_size;
  j["params"] = t.search.best_params_json;
  j["best_value"] = t.search.best_value;
  const auto file = pin_file(p, run_id);
  fs::create_directories(file.parent_path());
  const auto tmp = fs::path(file.string() + ".tmp");
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, file);
}

}  // namespace

std::string search_id_of(const std::string& run_id, std::int64_t size) { return run_id + "/" + std::to_string(size); }

TransferredSetting transferred_setting(const Pipeline& p, const TrainConfig& base) {
  const std::string& ref = p.hpo.from_run;
  const auto at = ref.rfind('@');
  const std::string run_ref = ref.substr(0, at);
  const std::int64_t size = at == std::string::npos ? -1 : std::stoll(ref.substr(at + 1));  // checked when read
  TransferredSetting t;
  const fs::path file = source_store_file(p);
  t.store = file.string();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw Error(from_run_error(p, "no results store " + t.store + " to read run '" + run_ref + "' from (" +
                                      (p.hpo.from_store.empty() ? "set hpo.from_store to the results folder that holds it"
                                                                : "hpo.from_store names a results folder or its quarry.db") +
                                      ")"));
  const Store store(file);
  std::string why;
  const auto run = store.find_run(run_ref, &why);
  if (!run) throw Error(from_run_error(p, why));
  t.run = *run;
  const auto results = store.search_results(run->id);
  const SearchResult* chosen = nullptr;
  std::string sizes;
  for (const auto& r : results) {
    sizes += (sizes.empty() ? "" : ", ") + std::to_string(r.pool_size);
    if (size >= 0 ? r.pool_size == size : (!chosen || r.pool_size >= chosen->pool_size)) chosen = &r;
  }
  if (!chosen) {
    if (results.empty())
      throw Error(from_run_error(p, "run " + run->id + " (" + run->status + ", in " + t.store +
                                        ") has no finished search: give a run with [hpo] at_initial, every or sizes, or "
                                        "tune its pool first (`quarry tune PIPELINE --pool " + run->id + "@SIZE`)"));
    throw Error(from_run_error(p, fmt::format("run {} has no finished search on {} labels (its searches: {} labels)",
                                              run->id, size, sizes)));
  }
  t.search = *chosen;
  try {
    t.train = apply_params_json(chosen->best_params_json, base);
  } catch (const Error& e) {
    throw Error(from_run_error(p, "search " + chosen->search + ": " + e.what()));
  }
  return t;
}

TrainConfig regime_start_setting(const Pipeline& p, Experiment& e, const std::vector<std::int64_t>& labeled,
                                 const TrainConfig& train, std::int64_t seed, const PluginHost& host, Store& store,
                                 const std::string& run_id, const SearchHooks& search) {
  if (!p.hpo.at_initial && p.hpo.from_run.empty()) return train;  // fixed (hpo.every starts from [train])
  const auto log = make_run_logger(run_id + "/hpo", fs::path(p.results) / run_id / "hpo.log");
  if (p.hpo.at_initial) {
    const auto size = static_cast<std::int64_t>(labeled.size());
    const auto out =
        run_search(p, e, labeled, train, seed, host, store, search_id_of(run_id, size), run_id, *log, search);
    log->info(fmt::format("hpo.at_initial: tuned on the initial {} labels; every cycle trains with {}", size,
                          out.result.best_params_json));
    return out.best_config;
  }
  const auto t = transferred_setting(p, train);
  write_pin(p, run_id, t);
  log->info(fmt::format("hpo.from_run: every cycle trains with {} of run {} (search {}, {} labels, val acc {:.4f})",
                        t.search.best_params_json, t.run.id, t.search.search, t.search.pool_size, t.search.best_value));
  return t.train;
}

TrainConfig regime_resume_setting(const Pipeline& p, const Store& store, const std::string& run_id,
                                  const TrainConfig& restored) {
  TrainConfig start = restored;
  if (p.hpo.at_initial) {
    // The initial search finished before cycle 0 trained, so a committed cycle 0 has its result.
    const auto cycles = store.cycles(run_id);
    const auto r = cycles.empty() ? std::nullopt : stored_search_result(store, run_id, search_id_of(run_id, cycles[0].labeled));
    if (!r)
      throw Error("run " + run_id + " (hpo.at_initial = true) has committed cycles but no stored search on its initial "
                  "pool; it cannot resume with the setting it trained with");
    start = apply_params_json(r->best_params_json, restored);
  } else if (!p.hpo.from_run.empty()) {
    const auto file = pin_file(p, run_id);
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(read_text_file(file.string(), "transferred setting"));
        start = apply_params_json(j.at("params").get<std::string>(), restored);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& ex) {
        throw Error(file.string() + ": not a transferred setting (" + ex.what() + ")");
      }
    } else {
      start = transferred_setting(p, restored).train;
    }
  }
  return tuned_setting_for_resume(p, store, run_id, start);
}

HpoHooks hpo_hooks(const Pipeline& p, std::int64_t seed, const PluginHost& host, Store& store,
                   const SearchHooks& search) {
  HpoHooks h;
  h.cycle = hpo_stage(p, seed, host, store);
  h.resume = [&p, &store](const std::string& id, const TrainConfig& restored) {
    return regime_resume_setting(p, store, id, restored);
  };
  h.start = [&p, seed, &host, &store, search](Experiment& e, const std::string& id,
                                               const std::vector<std::int64_t>& labeled, const TrainConfig& train) {
    return regime_start_setting(p, e, labeled, train, seed, host, store, id, search);
  };
  return h;
}

}  // namespace quarry
