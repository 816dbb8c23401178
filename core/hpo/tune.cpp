#include "core/hpo/tune.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/data/device_data.hpp"
#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/trainer.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;
using hpo::Assignment;
using hpo::Dimension;
using hpo::SearchSpace;

// ---------------------------------------------------------------- validation splits

std::vector<ValidationSplit> validation_splits(std::int64_t n, const HpoConfig& hpo, std::uint64_t seed) {
  if (n < 2) throw Error("hyper-parameter search: a pool of " + std::to_string(n) + " labels cannot be split for validation");
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::vector<std::vector<std::int64_t>> validations;
  if (hpo.folds >= 2) {
    if (hpo.folds > n)
      throw Error(fmt::format("hpo.folds = {}: more folds than the {} labels of the pool", hpo.folds, n));
    std::mt19937_64 rng(mix_seed(seed, kSeedHpoSplit, 0));
    const auto order = sample_without_replacement(all, n, rng);
    for (std::int64_t k = 0; k < hpo.folds; ++k)
      validations.emplace_back(order.begin() + k * n / hpo.folds, order.begin() + (k + 1) * n / hpo.folds);
  } else {
    const auto m = std::clamp<std::int64_t>(std::llround(hpo.split_fraction * static_cast<double>(n)), 1, n - 1);
    for (std::int64_t k = 0; k < hpo.splits; ++k) {
      std::mt19937_64 rng(mix_seed(seed, kSeedHpoSplit, static_cast<std::uint64_t>(k)));
      validations.push_back(sample_without_replacement(all, m, rng));
    }
  }
  std::vector<ValidationSplit> out;
  for (auto& v : validations) {
    std::sort(v.begin(), v.end());
    ValidationSplit s;
    std::set_difference(all.begin(), all.end(), v.begin(), v.end(), std::back_inserter(s.train));
    s.validation = std::move(v);
    out.push_back(std::move(s));
  }
  return out;
}

// ---------------------------------------------------------------- the space and [train]

namespace {

bool is_bool_key(const std::string& k) { return k == "nesterov" || k == "augment"; }
bool is_int_key(const std::string& k) { return k == "epochs" || k == "batch_size" || k == "warmup_epochs"; }

double numeric_field(const TrainConfig& c, const std::string& k) {
  if (k == "lr") return c.lr;
  if (k == "weight_decay") return c.weight_decay;
  if (k == "momentum") return c.momentum;
  if (k == "epochs") return static_cast<double>(c.epochs);
  if (k == "batch_size") return static_cast<double>(c.batch_size);
  if (k == "warmup_epochs") return static_cast<double>(c.warmup_epochs);
  throw Error("hpo.space." + k + ": not a numeric [train] key");
}

void set_numeric(TrainConfig& c, const std::string& k, double v) {
  if (k == "lr") c.lr = v;
  else if (k == "weight_decay") c.weight_decay = v;
  else if (k == "momentum") c.momentum = v;
  else if (k == "epochs") c.epochs = std::llround(v);
  else if (k == "batch_size") c.batch_size = std::llround(v);
  else if (k == "warmup_epochs") c.warmup_epochs = std::llround(v);
  else throw Error("hpo.space." + k + ": not a numeric [train] key");
}

std::string text_field(const TrainConfig& c, const std::string& k) {
  if (k == "nesterov") return c.nesterov ? "true" : "false";
  if (k == "augment") return c.augment ? "true" : "false";
  if (k == "epoch_mode") return c.epoch_mode;
  return fmt::format("{:g}", numeric_field(c, k));
}

/// A categorical choice's text set into [train]; throws naming the key on bad text.
void set_text(TrainConfig& c, const std::string& k, const std::string& v) {
  if (is_bool_key(k)) {
    if (v != "true" && v != "false") throw Error("hpo.space." + k + ": choice '" + v + "' is not \"true\" or \"false\"");
    (k == "nesterov" ? c.nesterov : c.augment) = v == "true";
  } else if (k == "epoch_mode") {
    if (v != "sampled" && v != "shuffled")
      throw Error("hpo.space.epoch_mode: choice '" + v + "' is not \"sampled\" or \"shuffled\"");
    c.epoch_mode = v;
  } else {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || v.empty()) throw Error("hpo.space." + k + ": choice '" + v + "' is not a number");
    set_numeric(c, k, x);
  }
}

}  // namespace

SearchSpace search_space_of(const HpoConfig& hpo) {
  if (hpo.space.empty()) return hpo::default_space();
  SearchSpace space;
  for (const auto& d : hpo.space) {
    const std::string key = "hpo.space." + d.name;
    if ((is_bool_key(d.name) || d.name == "epoch_mode") && d.type != "categorical")
      throw Error(key + ": a " + (d.name == "epoch_mode" ? "text" : "true/false") +
                  " key needs type = \"categorical\" with choices");
    if (d.type == "log_uniform") space.add(Dimension::log_uniform(d.name, d.low, d.high));
    else if (d.type == "uniform") space.add(Dimension::uniform(d.name, d.low, d.high));
    else if (d.type == "int") space.add(Dimension::integer(d.name, std::llround(d.low), std::llround(d.high), d.log));
    else if (d.type == "categorical") space.add(Dimension::categorical(d.name, d.choices));
    else throw Error(key + ": unknown type '" + d.type + "' (log_uniform | uniform | int | categorical)");
    if (d.type == "categorical") {  // every choice must be a value the key can take
      TrainConfig probe;
      for (const auto& c : d.choices) set_text(probe, d.name, c);
    }
  }
  return space;
}

TrainConfig apply_assignment(const SearchSpace& space, const Assignment& a, TrainConfig base) {
  space.check(a);
  for (std::size_t i = 0; i < space.size(); ++i) {
    const auto& d = space[i];
    if (d.kind == hpo::DimensionKind::Categorical) set_text(base, d.name, d.choices.at(a.choice(i)));
    else set_numeric(base, d.name, a.values[i]);
  }
  return base;
}

std::optional<Assignment> assignment_of(const SearchSpace& space, const TrainConfig& cfg) {
  Assignment a;
  for (const auto& d : space.dimensions()) {
    if (d.kind == hpo::DimensionKind::Categorical) {
      const auto text = text_field(cfg, d.name);
      std::optional<std::size_t> found;
      for (std::size_t c = 0; c < d.choices.size() && !found; ++c) {
        TrainConfig probe = cfg;
        set_text(probe, d.name, d.choices[c]);
        if (text_field(probe, d.name) == text) found = c;
      }
      if (!found) return std::nullopt;
      a.values.push_back(static_cast<double>(*found));
    } else {
      double v = std::clamp(numeric_field(cfg, d.name), d.low, d.high);
      if (d.kind == hpo::DimensionKind::Int) v = std::round(v);
      a.values.push_back(v);
    }
  }
  return a;
}

std::string params_json(const SearchSpace& space, const Assignment& a) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < space.size(); ++i) {
    const auto& d = space[i];
    if (d.kind == hpo::DimensionKind::Categorical) j[d.name] = d.choices.at(a.choice(i));
    else if (d.kind == hpo::DimensionKind::Int) j[d.name] = static_cast<long long>(std::llround(a.values[i]));
    else j[d.name] = a.values[i];  // nlohmann writes the shortest text that reads back to the same double
  }
  return j.dump();
}

Assignment assignment_from_json(const SearchSpace& space, const std::string& text) {
  Assignment a;
  try {
    const auto j = nlohmann::json::parse(text);
    for (const auto& d : space.dimensions()) {
      if (!j.contains(d.name)) throw Error("no value for '" + d.name + "'");
      const auto& v = j.at(d.name);
      if (d.kind == hpo::DimensionKind::Categorical) {
        const auto s = v.is_string() ? v.get<std::string>() : v.dump();
        const auto it = std::find(d.choices.begin(), d.choices.end(), s);
        if (it == d.choices.end()) throw Error("'" + s + "' is not a choice of '" + d.name + "'");
        a.values.push_back(static_cast<double>(it - d.choices.begin()));
      } else {
        a.values.push_back(v.get<double>());
      }
    }
    space.check(a);
  } catch (const std::exception& e) {
    throw Error("stored trial parameters " + text + " do not fit the search space (" + e.what() +
                "); a search resumes only with the [hpo] space it started with");
  }
  return a;
}

// ---------------------------------------------------------------- the search

namespace {

hpo::TrialState state_of(const std::string& s) {
  if (s == "complete") return hpo::TrialState::Complete;
  if (s == "failed") return hpo::TrialState::Failed;
  return hpo::TrialState::Running;
}

/// Trials are compared on the protocol's objective; a stored NaN reads back as 0.
int best_record(const std::vector<TrialRecord>& trials) {
  int best = -1;
  for (std::size_t i = 0; i < trials.size(); ++i)
    if (trials[i].state == "complete" && (best < 0 || trials[i].value > trials[static_cast<std::size_t>(best)].value))
      best = static_cast<int>(i);
  return best;
}

std::unique_ptr<hpo::Sampler> make_sampler(const HpoConfig& hpo, std::uint64_t seed) {
  const auto s = mix_seed(seed, kSeedHpoSampler);
  if (hpo.sampler == "random") return std::make_unique<hpo::RandomSampler>(s, hpo::Direction::Maximize);
  hpo::TpeOptions o;
  o.seed = s;
  o.direction = hpo::Direction::Maximize;
  o.n_startup_trials = static_cast<int>(hpo.startup_trials);
  // Parallel workers spread out by counting running trials as bad (Optuna's constant
  // liar); a sequential search keeps suggestions a function of finished trials only.
  o.constant_liar = hpo.parallel > 1;
  return std::make_unique<hpo::TpeSampler>(o);
}

struct TrialScore {
  bool failed = false;
  std::string why;
  double accuracy = 0, nll = 0;
};

/// The objective: mean validation accuracy over the splits, each trained from the
/// seed's initial weights. Validation images are evaluated as they are (no
/// augmentation); the reference augmented them.
TrialScore score_trial(Model& model, const Experiment& e, const TrainConfig& cfg,
                       const std::vector<std::int64_t>& labeled, const std::vector<ValidationSplit>& splits,
                       std::uint64_t seed) {
  TrialScore s;
  for (std::size_t k = 0; k < splits.size(); ++k) {
    std::vector<std::int64_t> train, val;
    for (auto i : splits[k].train) train.push_back(labeled[static_cast<std::size_t>(i)]);
    for (auto i : splits[k].validation) val.push_back(labeled[static_cast<std::size_t>(i)]);
    restore_weights(model, e.initial);
    // The same training draws for every trial (common random numbers): trials differ only in their setting.
    const auto tr = train_model(model, cfg, e.data.pool, e.data.mean, e.data.std, train,
                                mix_seed(mix_seed(seed, kSeedHpoSplit, k), kSeedTrain));
    if (tr.diverged) {
      s.failed = true;
      s.why = fmt::format("diverged at epoch {} on split {}", tr.diverged_epoch, k);
      return s;
    }
    const auto ev = evaluate(model, e.data.pool, e.data.mean, e.data.std, cfg.predict_batch_size, val, cfg.mixed_precision);
    if (!std::isfinite(ev.accuracy)) {
      s.failed = true;
      s.why = fmt::format("non-finite validation accuracy on split {}", k);
      return s;
    }
    s.accuracy += ev.accuracy;
    s.nll += ev.nll;
  }
  s.accuracy /= static_cast<double>(splits.size());
  s.nll /= static_cast<double>(splits.size());
  return s;
}

std::optional<SearchResult> stored_result(const Store& store, const std::string& run_id, const std::string& search) {
  for (const auto& r : store.search_results(run_id))
    if (r.search == search) return r;
  return std::nullopt;
}

}  // namespace

SearchOutcome run_search(const Pipeline& p, Experiment& e, const std::vector<std::int64_t>& labeled,
                         const TrainConfig& base, std::int64_t seed_in, const PluginHost& host, Store& store,
                         const std::string& search_id, const std::string& run_id, Logger& log,
                         const SearchHooks& hooks) {
  const HpoConfig& hpo = p.hpo;
  const auto seed = static_cast<std::uint64_t>(seed_in);
  const SearchSpace space = search_space_of(hpo);
  const auto sampler = make_sampler(hpo, seed);
  const auto splits = validation_splits(static_cast<std::int64_t>(labeled.size()), hpo, seed);
  const int n_trials = static_cast<int>(hpo.trials);

  std::vector<Assignment> enqueued;
  if (hpo.enqueue_current) {
    if (auto a = assignment_of(space, base)) enqueued.push_back(*a);
    else log.warn("search " + search_id + ": the current [train] setting is not a point of the space; nothing enqueued");
  }

  // What is stored already: finished trials stay, "running" ones (a crash) are redone.
  std::map<int, TrialRecord> records;
  std::vector<hpo::Trial> history;
  for (const auto& t : store.trials(search_id)) {
    if (t.number >= n_trials || t.state == "running") continue;
    hpo::Trial h;
    h.number = static_cast<int>(t.number);
    h.assignment = assignment_from_json(space, t.params_json);
    h.state = state_of(t.state);
    h.value = h.state == hpo::TrialState::Complete ? t.value : std::numeric_limits<double>::quiet_NaN();
    history.push_back(h);
    records[h.number] = t;
  }
  std::vector<int> todo;
  for (int n = 0; n < n_trials; ++n)
    if (!records.count(n)) todo.push_back(n);

  SearchOutcome out;
  const auto previous = stored_result(store, run_id, search_id);
  log.info(fmt::format("search {}: {} on {} labels, {} trials ({} stored), {} x {} validation, space {}", search_id,
                       sampler->name(), labeled.size(), n_trials, records.size(), splits.size(),
                       hpo.folds >= 2 ? "fold" : fmt::format("{:g}%", 100 * hpo.split_fraction),
                       [&] {
                         std::string s;
                         for (const auto& d : space.dimensions())
                           s += (s.empty() ? "" : ", ") + d.name + " (" + to_string(d.kind) + ")";
                         return s;
                       }()));

  if (!todo.empty()) {
    std::mutex mu;  // guards history, records, the store and `next`
    std::size_t next = 0;
    std::int64_t done = 0;
    std::exception_ptr error;
    Progress progress(log, "search " + search_id + " trial", static_cast<std::int64_t>(todo.size()), 0.0);
    auto worker = [&](Model& model) {
      for (;;) {
        int number = 0;
        Assignment a;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (error || next >= todo.size()) return;
          number = todo[next++];
          try {
            a = hpo::suggest(space, *sampler, history, number, enqueued);
            store.add_trial({search_id, number, params_json(space, a), "running", 0, 0, 0});
          } catch (...) {
            error = std::current_exception();
            return;
          }
          hpo::Trial running;
          running.number = number;
          running.assignment = a;
          history.push_back(running);
        }
        try {
          if (hooks.before_trial) hooks.before_trial(number);
          const double t0 = now_seconds();
          const auto cfg = apply_assignment(space, a, base);
          const auto score = score_trial(model, e, cfg, labeled, splits, seed);
          TrialRecord rec{search_id, number, params_json(space, a), score.failed ? "failed" : "complete",
                          score.failed ? std::numeric_limits<double>::quiet_NaN() : score.accuracy,
                          score.failed ? std::numeric_limits<double>::quiet_NaN() : score.nll, now_seconds() - t0};
          std::lock_guard<std::mutex> lock(mu);
          store.add_trial(rec);
          records[number] = rec;
          for (auto& h : history)
            if (h.number == number) {
              h.state = score.failed ? hpo::TrialState::Failed : hpo::TrialState::Complete;
              h.value = rec.value;
              h.message = score.why;
            }
          progress.step(++done, score.failed ? fmt::format("| trial {} {} FAILED: {}", number, space.render(a), score.why)
                                             : fmt::format("| trial {} {}: val acc {:.4f}, val NLL {:.4f}, {:.1f}s",
                                                           number, space.render(a), score.accuracy, score.nll,
                                                           rec.seconds));
        } catch (...) {
          std::lock_guard<std::mutex> lock(mu);
          if (!error) error = std::current_exception();
          return;
        }
      }
    };
    const auto n_workers = std::max<std::int64_t>(1, std::min<std::int64_t>(hpo.parallel, static_cast<std::int64_t>(todo.size())));
    std::vector<std::shared_ptr<Model>> models;
    for (std::int64_t w = 0; w < n_workers; ++w) {
      models.push_back(make_model(p, e.spec, seed_in, host, e.device));
      restore_weights(*models.back(), e.initial);
    }
    if (n_workers == 1) {
      worker(*models[0]);
    } else {
      std::vector<std::thread> threads;
      for (auto& m : models) threads.emplace_back([&worker, m] { worker(*m); });
      for (auto& t : threads) t.join();
    }
    if (error) std::rethrow_exception(error);
  }

  for (auto& [n, r] : records) out.trials.push_back(r);
  out.best = best_record(out.trials);
  if (out.best < 0)
    throw Error(fmt::format("search {}: none of its {} trials completed (all diverged?); narrow [hpo.space], e.g. a "
                            "lower lr bound",
                            search_id, out.trials.size()));
  const auto& best = out.trials[static_cast<std::size_t>(out.best)];
  out.best_config = apply_assignment(space, assignment_from_json(space, best.params_json), base);

  if (todo.empty() && previous && previous->best_params_json == best.params_json) {
    out.result = *previous;  // finished before: the retraining is not redone
    out.reused = true;
    log.info("search " + search_id + " had already finished");
    return out;
  }
  // Retrain on the whole pool with the best setting, on a model of its own.
  log.info(fmt::format("search {}: best trial {} ({}, val acc {:.4f}); retraining on all {} labels", search_id,
                       best.number, best.params_json, best.value, labeled.size()));
  Experiment scratch = e;
  scratch.model = make_model(p, e.spec, seed_in, host, e.device);
  const auto te = train_and_evaluate(scratch, out.best_config, labeled,
                                     mix_seed(seed, kSeedTrain, static_cast<std::uint64_t>(labeled.size())), log);
  out.result.search = search_id;
  out.result.run_id = run_id;
  out.result.pool_size = static_cast<std::int64_t>(labeled.size());
  out.result.best_params_json = best.params_json;
  out.result.best_value = best.value;
  out.result.test_accuracy = te.test.accuracy;
  out.result.test_nll = te.test.nll;
  if (te.train.diverged) log.warn("search " + search_id + ": the retraining with the best setting diverged");
  store.add_search_result(out.result);
  log.info(fmt::format("search {}: test acc {:.4f}, NLL {:.4f} with {}", search_id, te.test.accuracy, te.test.nll,
                       best.params_json));
  return out;
}

std::string trials_table(const std::vector<TrialRecord>& trials, int best) {
  if (best < 0) best = best_record(trials);
  std::size_t width = 6;
  for (const auto& t : trials) width = std::max(width, t.params_json.size());
  std::string out = fmt::format("  {:>5} {:<{}} {:>8} {:>8} {:>8}  {}\n", "trial", "params", width, "val%", "valNLL", "secs", "state");
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    const bool ok = t.state == "complete";
    out += fmt::format("{} {:>5} {:<{}} {:>8} {:>8} {:>8.1f}  {}\n", static_cast<int>(i) == best ? "*" : " ", t.number,
                       t.params_json, width, ok ? fmt::format("{:.2f}", 100 * t.value) : "-",
                       ok ? fmt::format("{:.4f}", t.val_nll) : "-", t.seconds, t.state);
  }
  return out;
}

// ---------------------------------------------------------------- the [hpo] stage of a DAL run

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
    const auto r = stored_result(store, run_id, run_id + "/" + std::to_string(c->labeled));
    if (!r) return restored;
    const auto space = search_space_of(p.hpo);
    return apply_assignment(space, assignment_from_json(space, r->best_params_json), restored);
  }
  return restored;
}

// ---------------------------------------------------------------- quarry tune

int cmd_tune(const TuneRequest& req, const GlobalOptions& g, std::string* run_id_out) {
  static SpdLogger console(console_logger());
  PluginHost host(console);
  Pipeline p;
  PoolFile pool;
  RunRecord run;
  std::string results;
  std::unique_ptr<Store> store;
  if (!req.resume.empty()) {
    results = req.results.empty() ? "runs" : req.results;
    const auto db = fs::path(results) / "quarry.db";
    if (!fs::exists(db)) throw Error("no results store at " + db.string() + " (pass --results DIR where the search was written)");
    store = std::make_unique<Store>(db);
    std::string why;
    auto found = store->find_run(req.resume, &why);
    if (!found) throw Error(why);
    if (found->kind != "tune")
      throw Error("run " + found->id + " is a '" + found->kind + "' run; `quarry tune --resume` continues tune runs");
    run = *found;
    discover_plugins(host, g);
    p = parse_pipeline(run.pipeline, (fs::path(results) / run.id / "pipeline.toml").string(), {}, &host);
    for (const auto& pp : p.plugin_paths) host.load_directory(pp);
    p.results = results;
    pool = read_pool_file((fs::path(results) / run.id / "pool.json").string());
    store->set_run_status(run.id, "running");
  } else {
    if (req.pipeline.empty()) throw Error("quarry tune: give a pipeline file (or --resume TUNE_RUN)");
    if (req.pool.empty() == req.pool_file.empty())
      throw Error("quarry tune: give the labeled pool with exactly one of --pool RUN[@SIZE] or --pool-file FILE");
    discover_plugins(host, g, req.pipeline);
    p = load_pipeline(req.pipeline, req.sets, &host);
    if (!req.results.empty()) p.results = req.results;
    results = p.results;
    store = std::make_unique<Store>(fs::path(results) / "quarry.db");
    std::int64_t seed = p.seeds.at(0);
    if (!req.pool.empty()) {
      const auto at = req.pool.rfind('@');
      std::int64_t size = 0;
      if (at != std::string::npos) {
        try {
          std::size_t used = 0;
          size = std::stoll(req.pool.substr(at + 1), &used);
          if (used != req.pool.size() - at - 1 || size <= 0) throw std::invalid_argument("size");
        } catch (const std::exception&) {
          throw Error("--pool " + req.pool + ": expected RUN or RUN@SIZE with SIZE a positive number of labels");
        }
      }
      pool = pool_of_run(*store, req.pool.substr(0, at), size);
      seed = pool.seed;  // the seed of the run that collected the pool: its split, its initial weights
    } else {
      pool = read_pool_file(req.pool_file);
      if (!pool.source_run.empty()) seed = pool.seed;
    }
    if (!pool.dataset.empty() && pool.dataset != p.dataset.name)
      throw Error("the pool was collected on dataset '" + pool.dataset + "' but " + req.pipeline + " uses '" +
                  p.dataset.name + "'");
    run.id = new_run_id(p.name, "tune", seed);
    run.study = p.name;
    run.kind = "tune";
    run.seed = seed;
    run.dataset = p.dataset.name;
    run.model = p.model.name;
    run.status = "running";
    run.pipeline = p.resolved_toml;
    run.source_run = pool.source_run.empty() ? req.pool_file : pool.source_run;
    run.source_size = static_cast<std::int64_t>(pool.train_indices.size());
    run.hp_label = fmt::format("lr={:g} wd={:g}", p.train.lr, p.train.weight_decay);
    fs::create_directories(fs::path(results) / run.id);
    std::ofstream(fs::path(results) / run.id / "pipeline.toml") << p.resolved_toml;
    write_pool_file((fs::path(results) / run.id / "pool.json").string(), pool);  // what --resume reads
    store->create_run(run);
  }
  if (run_id_out) *run_id_out = run.id;
  const auto run_dir = fs::path(results) / run.id;
  auto logger = make_run_logger(run.id, run_dir / "run.log");
  Logger& log = *logger;
  SearchOutcome out;
  const auto size = static_cast<std::int64_t>(pool.train_indices.size());
  try {
    log.info(fmt::format("tune run {}: {} labels from {}, seed {}, {} on {}", run.id, size, run.source_run, run.seed,
                         p.model.name, p.dataset.name));
    Experiment e = prepare_experiment(p, run.seed, host, log);
    const auto labeled = pool_indices_for(pool, e.split, (run_dir / "pool.json").string());
    out = run_search(p, e, labeled, p.train, run.seed, host, *store, run.id + "/" + std::to_string(size), run.id, log);
    store->set_run_status(run.id, "finished");
  } catch (const std::exception& ex) {
    try {
      store->set_run_status(run.id, "failed", ex.what());
    } catch (...) {
    }
    log.warn("tune run " + run.id + " failed: " + ex.what() + " (continue it with `quarry tune --resume " + run.id +
             " --results " + results + "`)");
    throw;
  }
  std::cout << "\nsearch " << out.result.search << " (" << size << " labels from " << run.source_run << "):\n"
            << trials_table(out.trials, out.best)
            << fmt::format("\nbest: {}  mean val acc {:.2f}%\nretrained on all {} labels: test acc {:.2f}%, NLL {:.4f}\n",
                           out.result.best_params_json, 100 * out.result.best_value, size,
                           100 * out.result.test_accuracy, out.result.test_nll)
            << "run " << run.id << " in " << (fs::path(results) / "quarry.db").string() << "; `quarry show " << run.id
            << " --results " << results << "`\n";
  return 0;
}

}  // namespace quarry
