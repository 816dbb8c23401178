#include "core/al/loop.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

/// What a strategy sees of the host during one query.
class HostQueryContext : public QueryContext {
 public:
  HostQueryContext(Experiment& e, const TrainConfig& cfg, std::vector<std::int64_t> labeled,
                   std::vector<std::int64_t> unlabeled, std::vector<std::int64_t> candidates, std::int64_t k,
                   std::int64_t memory_budget, std::uint64_t seed, Logger& log)
      : e_(e), cfg_(cfg), labeled_(std::move(labeled)), unlabeled_(std::move(unlabeled)),
        candidates_(std::move(candidates)), k_(k), memory_(memory_budget), rng_(seed), log_(log) {}

  const std::vector<std::int64_t>& labeled() const override { return labeled_; }
  const std::vector<std::int64_t>& unlabeled() const override { return unlabeled_; }
  const std::vector<std::int64_t>& candidates() const override { return candidates_; }
  std::int64_t query_size() const override { return k_; }
  std::int64_t num_classes() const override { return e_.data.num_classes; }
  torch::Device device() const override { return e_.device; }
  std::int64_t memory_budget_bytes() const override { return memory_; }
  std::mt19937_64& rng() override { return rng_; }
  Logger& log() override { return log_; }

  Predictions predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) override {
    for (auto i : indices)
      if (i < 0 || i >= e_.data.pool.size())
        throw Error("strategy asked for predictions of pool index " + std::to_string(i) + ", outside the pool [0, " +
                    std::to_string(e_.data.pool.size()) + ")");
    Predictions out;
    if (indices.empty()) return out;
    auto o = quarry::predict(*e_.model, e_.data.pool, e_.data.mean, e_.data.std, indices, cfg_.predict_batch_size,
                             features, cfg_.mixed_precision);
    // A diverged model gives NaN; strategies then see an uninformative model, not NaN.
    if (probabilities) {
      auto p = o.probabilities;
      auto bad = p.isnan().any(1, true);
      out.probabilities = torch::where(bad, torch::full_like(p, 1.0 / static_cast<double>(p.size(1))), p);
    }
    if (features) out.features = torch::nan_to_num(o.features, 0.0, 0.0, 0.0);
    return out;
  }

 private:
  Experiment& e_;
  const TrainConfig& cfg_;
  std::vector<std::int64_t> labeled_, unlabeled_, candidates_;
  std::int64_t k_, memory_;
  std::mt19937_64 rng_;
  Logger& log_;
};

void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (f) f << "5";  // resets VmHWM, so each cycle reports its own peak
}

std::vector<std::int64_t> initial_pool(const Pipeline& p, const Experiment& e, std::int64_t seed) {
  const auto n_pool = e.data.pool.size();
  if (!p.al.initial_pool.empty())
    return pool_indices_for(read_pool_file(p.al.initial_pool), e.split, p.al.initial_pool);
  std::vector<std::int64_t> all(n_pool);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(mix_seed(static_cast<std::uint64_t>(seed), kSeedInitial));
  if (!p.al.class_balanced) return sample_without_replacement(all, p.al.initial, rng);
  // Class-balanced: a random order, then round-robin over classes.
  auto order = sample_without_replacement(all, n_pool, rng);
  const auto* labels = e.data.pool_labels_cpu.data_ptr<std::int64_t>();
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(e.data.num_classes));
  for (auto i : order) by_class[static_cast<std::size_t>(labels[i])].push_back(i);
  std::vector<std::int64_t> out;
  for (std::size_t r = 0; static_cast<std::int64_t>(out.size()) < p.al.initial; ++r)
    for (auto& c : by_class)
      if (r < c.size() && static_cast<std::int64_t>(out.size()) < p.al.initial) out.push_back(c[r]);
  return out;
}

void save_checkpoint(torch::nn::Module& model, const fs::path& file) {
  torch::serialize::OutputArchive archive;
  model.save(archive);
  const auto tmp = file.string() + ".tmp";
  archive.save_to(tmp);
  fs::rename(tmp, file);  // a crash never leaves a half-written checkpoint under the real name
}

}  // namespace

std::optional<std::string> check_query(const std::vector<std::int64_t>& picked, std::int64_t expected,
                                       std::int64_t pool_size, const std::vector<char>& is_labeled) {
  if (static_cast<std::int64_t>(picked.size()) != expected)
    return "returned " + std::to_string(picked.size()) + " indices, expected exactly " + std::to_string(expected);
  std::vector<char> seen(static_cast<std::size_t>(pool_size), 0);
  for (auto i : picked) {
    if (i < 0 || i >= pool_size)
      return "returned index " + std::to_string(i) + ", outside the pool [0, " + std::to_string(pool_size) + ")";
    if (is_labeled[static_cast<std::size_t>(i)]) return "returned index " + std::to_string(i) + ", which is already labeled";
    if (seen[static_cast<std::size_t>(i)]++) return "returned index " + std::to_string(i) + " twice";
  }
  return std::nullopt;
}

std::string new_run_id(const std::string& study, const std::string& what, std::int64_t seed) {
  std::random_device rd;
  char hex[8];
  std::snprintf(hex, sizeof hex, "%06x", static_cast<unsigned>(rd() & 0xffffff));
  return study + "-" + what + "-s" + std::to_string(seed) + "-" + hex;
}

RunOutcome run_active_learning(const Pipeline& p, std::size_t strategy_index, std::int64_t seed,
                               const PluginHost& host, Store& store, const std::string& run_id,
                               const CycleHook& hook, const ResumeHook& on_resume) {
  const ComponentConfig& sc = p.strategies.at(strategy_index);
  RunOutcome out;
  out.run_id = run_id.empty() ? new_run_id(p.name, sc.name, seed) : run_id;
  const bool resuming = !run_id.empty() && [&] {
    auto r = store.find_run(run_id);
    return r && r->id == run_id;
  }();
  const fs::path run_dir = fs::path(p.results) / out.run_id;
  fs::create_directories(run_dir);
  auto logger = make_run_logger(out.run_id, run_dir / "run.log");
  Logger& log = *logger;
  if (!resuming) {
    std::ofstream(run_dir / "pipeline.toml") << p.resolved_toml;
    RunRecord r;
    r.id = out.run_id;
    r.study = p.name;
    r.kind = "al";
    r.strategy = sc.name;
    r.seed = seed;
    r.dataset = p.dataset.name;
    r.model = p.model.name;
    r.status = "running";
    r.pipeline = p.resolved_toml;
    r.hp_label = fmt::format("lr={:g} wd={:g}", p.train.lr, p.train.weight_decay);
    store.create_run(r);
  } else {
    store.set_run_status(out.run_id, "running");
  }
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

    // The labeled pool: from the store when resuming, else the initial draw.
    std::vector<std::int64_t> labeled;
    std::vector<Acquisition> initial_record;
    std::int64_t start_cycle = 0;
    TrainConfig cfg = p.train;
    out.cycles = store.cycles(out.run_id);
    if (!out.cycles.empty()) {
      for (const auto& a : store.acquired(out.run_id)) labeled.push_back(a.pool_index);
      start_cycle = out.cycles.back().cycle + 1;
      cfg.lr = out.cycles.back().lr;
      cfg.weight_decay = out.cycles.back().weight_decay;
      if (on_resume) cfg = on_resume(out.run_id, cfg);
      if (static_cast<std::int64_t>(labeled.size()) == static_cast<std::int64_t>(out.cycles.back().labeled)) {
        log.info("run " + out.run_id + " had already finished");
        store.set_run_status(out.run_id, "finished");
        return out;
      }
      log.info(fmt::format("resuming after cycle {} with {} labels", start_cycle - 1, labeled.size()));
      if (p.train.init == "continue") {
        const auto ckpt = run_dir / ("checkpoint-" + std::to_string(start_cycle - 1) + ".pt");
        torch::serialize::InputArchive archive;
        archive.load_from(ckpt.string(), e.device);
        e.model->load(archive);
      }
    } else {
      labeled = initial_pool(p, e, seed);
      for (auto i : labeled) initial_record.push_back({i, e.split.pool[static_cast<std::size_t>(i)], 0});
    }
    std::vector<char> is_labeled(static_cast<std::size_t>(n_pool), 0);
    for (auto i : labeled) is_labeled[static_cast<std::size_t>(i)] = 1;

    const auto budget = std::min<std::int64_t>(p.al.budget, n_pool);
    // This cycle, plus one per query still needed to reach the budget.
    const auto missing = std::max<std::int64_t>(0, budget - static_cast<std::int64_t>(labeled.size()));
    const auto total_cycles = start_cycle + 1 + (missing + p.al.query_size - 1) / p.al.query_size;
    Progress progress(log, "cycle", total_cycles, 0.0);

    for (std::int64_t cycle = start_cycle;; ++cycle) {
      reset_peak_rss();
      // Train (from the seed's initial weights, unless init = "continue") and evaluate.
      if (cfg.init == "same") restore_weights(*e.model, e.initial);
      CycleRecord rec;
      rec.cycle = cycle;
      rec.labeled = static_cast<std::int64_t>(labeled.size());
      rec.lr = cfg.lr;
      rec.weight_decay = cfg.weight_decay;
      auto tr = train_model(*e.model, cfg, e.data.pool, e.data.mean, e.data.std, labeled,
                            mix_seed(static_cast<std::uint64_t>(seed), kSeedTrain, static_cast<std::uint64_t>(cycle)), &log);
      auto test = evaluate(*e.model, e.data.test, e.data.mean, e.data.std, cfg.predict_batch_size, {}, cfg.mixed_precision);
      rec.test_accuracy = test.accuracy;
      rec.test_nll = test.nll;
      rec.test_ece = test.ece;
      rec.val_accuracy = e.data.validation.size() > 0
                             ? evaluate(*e.model, e.data.validation, e.data.mean, e.data.std, cfg.predict_batch_size,
                                        {}, cfg.mixed_precision).accuracy
                             : -1.0;
      rec.train_seconds = tr.seconds;
      rec.diverged = tr.diverged;
      rec.diverged_epoch = tr.diverged_epoch;
      rec.final_loss = tr.final_loss;

      // Query, unless this was the last training.
      std::vector<std::int64_t> unlabeled;
      for (std::int64_t i = 0; i < n_pool; ++i)
        if (!is_labeled[static_cast<std::size_t>(i)]) unlabeled.push_back(i);
      const auto k = std::min<std::int64_t>({p.al.query_size, budget - rec.labeled, static_cast<std::int64_t>(unlabeled.size())});
      if (k > 0) {
        const double q0 = now_seconds();
        std::mt19937_64 cand_rng(mix_seed(static_cast<std::uint64_t>(seed), kSeedCandidates, static_cast<std::uint64_t>(cycle)));
        auto candidates = p.al.candidate_subset > 0 ? sample_without_replacement(unlabeled, p.al.candidate_subset, cand_rng)
                                                    : unlabeled;
        std::sort(candidates.begin(), candidates.end());
        HostQueryContext ctx(e, cfg, labeled, unlabeled, candidates, k, p.memory_budget_mb << 20,
                             mix_seed(static_cast<std::uint64_t>(seed), kSeedQuery, static_cast<std::uint64_t>(cycle)), log);
        std::vector<std::int64_t> picked;
        try {
          picked = strategy->query(ctx);
        } catch (const std::exception& ex) {
          throw Error("strategy '" + sc.name + "' (" + strategy_file + ") threw while querying at cycle " +
                      std::to_string(cycle) + ": " + ex.what());
        }
        if (auto problem = check_query(picked, k, n_pool, is_labeled))
          throw Error("strategy '" + sc.name + "' (" + strategy_file + ") " + *problem + " at cycle " +
                      std::to_string(cycle) + "; the run is stopped and nothing of this cycle was recorded");
        rec.query_seconds = now_seconds() - q0;
        rec.queried = picked;
        for (auto i : picked) rec.queried_train.push_back(e.split.pool[static_cast<std::size_t>(i)]);
      }
      rec.peak_rss_mb = peak_rss_mb();
      std::optional<TrainConfig> next_cfg;
      if (hook) next_cfg = hook(e, out.run_id, cycle, labeled, cfg);
      if (cfg.init == "continue") save_checkpoint(*e.model, run_dir / ("checkpoint-" + std::to_string(cycle) + ".pt"));
      store.add_cycle(out.run_id, rec, initial_record);  // one transaction: metrics + queried indices
      initial_record.clear();
      if (cfg.init == "continue" && cycle > 0) fs::remove(run_dir / ("checkpoint-" + std::to_string(cycle - 1) + ".pt"));
      out.cycles.push_back(rec);
      progress.step(cycle + 1, fmt::format("| {} labels: test acc {:.4f}, NLL {:.4f}, ECE {:.4f}, val acc {:.4f}, train {:.1f}s, query {:.2f}s{}",
                                           rec.labeled, rec.test_accuracy, rec.test_nll, rec.test_ece, rec.val_accuracy,
                                           rec.train_seconds, rec.query_seconds,
                                           rec.diverged ? fmt::format(", DIVERGED at epoch {}", rec.diverged_epoch) : ""));
      if (next_cfg) cfg = *next_cfg;
      if (k == 0) break;
      for (auto i : rec.queried) {
        is_labeled[static_cast<std::size_t>(i)] = 1;
        labeled.push_back(i);
      }
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

PoolFile read_pool_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the pool file");
  PoolFile pf;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    pf.source_run = j.value("source_run", "");
    pf.dataset = j.value("dataset", "");
    pf.seed = j.value("seed", std::int64_t{0});
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
  j["seed"] = pool.seed;
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

}  // namespace quarry
