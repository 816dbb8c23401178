#include "core/al/pool_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/util/files.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

PoolFile read_pool_file(const std::string& path) {
  const std::string text = read_text_file(path, "pool file");
  PoolFile pf;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    pf.source_run = j.value("source_run", "");
    pf.dataset = j.value("dataset", "");
    if (j.contains("seed") && !j.at("seed").is_null()) pf.seed = j.at("seed").get<std::int64_t>();
    for (const auto& item : j.at("labels")) {
      pf.train_indices.push_back(item.at("train_index").get<std::int64_t>());
      pf.cycles.push_back(item.value("cycle", std::int64_t{0}));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not a valid pool file (" + e.what() +
                "); expected {\"labels\": [{\"train_index\": N, \"cycle\": C}, ...]} as written by `quarry pool export`");
  }
  if (pf.train_indices.empty()) throw Error(path + ": the pool file holds no labels");
  return pf;
}

void write_pool_file(const std::string& path, const PoolFile& pool) {
  nlohmann::json j;
  j["source_run"] = pool.source_run;
  j["dataset"] = pool.dataset;
  if (pool.seed) j["seed"] = *pool.seed;
  else j["seed"] = nullptr;
  j["size"] = pool.train_indices.size();
  j["labels"] = nlohmann::json::array();
  for (std::size_t i = 0; i < pool.train_indices.size(); ++i)
    j["labels"].push_back({{"train_index", pool.train_indices[i]}, {"cycle", pool.cycles[i]}});
  const auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw Error(path + ": cannot write the pool file");
    out << j.dump(1) << "\n";
  }
  fs::rename(tmp, path);
}

PoolFile pool_of_run(const Store& store, const std::string& run_id, std::int64_t size) {
  std::string why;
  auto run = store.find_run(run_id, &why);
  if (!run) throw Error(why);
  PoolFile pf;
  pf.source_run = run->id;
  pf.dataset = run->dataset;
  pf.seed = run->seed;
  const auto acq = store.acquired(run->id);
  const auto cycles = store.cycles(run->id);
  if (size > 0) {
    // Only pools some cycle actually trained on are exported.
    bool trained = false;
    for (const auto& c : cycles) trained = trained || c.labeled == size;
    if (!trained) {
      std::string sizes;
      for (const auto& c : cycles) sizes += (sizes.empty() ? "" : ", ") + std::to_string(c.labeled);
      throw Error("run " + run->id + " never trained on " + std::to_string(size) + " labels (sizes: " + sizes + ")");
    }
  }
  std::int64_t last_trained = cycles.empty() ? 0 : cycles.back().labeled;
  const auto limit = size > 0 ? size : last_trained;
  for (const auto& a : acq) {
    if (static_cast<std::int64_t>(pf.train_indices.size()) >= limit) break;
    pf.train_indices.push_back(a.train_index);
    pf.cycles.push_back(a.cycle);
  }
  return pf;
}

std::vector<std::int64_t> pool_indices_for(const PoolFile& pool, const PoolSplit& split, const std::string& file) {
  std::vector<std::int64_t> out;
  out.reserve(pool.train_indices.size());
  std::vector<char> seen(split.pool.size(), 0);
  for (auto t : pool.train_indices) {
    auto it = std::lower_bound(split.pool.begin(), split.pool.end(), t);
    if (it == split.pool.end() || *it != t)
      throw Error(file + ": train image " + std::to_string(t) +
                  " is not in this run's pool (held out for validation, or outside pool_subset); reuse a pool with the "
                  "seed, validation_fraction and pool_subset of the run that collected it");
    const auto pos = static_cast<std::int64_t>(it - split.pool.begin());
    if (seen[static_cast<std::size_t>(pos)]++) throw Error(file + ": train image " + std::to_string(t) + " is listed twice");
    out.push_back(pos);
  }
  return out;
}

PoolRef parse_pool_ref(const std::string& spec, const std::string& option) {
  PoolRef r;
  const auto at = spec.rfind('@');
  r.run = spec.substr(0, at);
  const auto bad = [&] {
    return Error(option + " " + spec + ": expected RUN or RUN@SIZE with SIZE a positive number of labels");
  };
  if (r.run.empty()) throw bad();
  if (at == std::string::npos) return r;
  const std::string size = spec.substr(at + 1);
  if (size.empty() || size.size() > 18 || !std::all_of(size.begin(), size.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw bad();
  r.size = std::stoll(size);
  if (r.size <= 0) throw bad();
  return r;
}

}  // namespace quarry
