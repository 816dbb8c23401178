#include "core/hpo/search.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/data/seeds.hpp"
#include "core/hpo/fused_trials.hpp"
#include "core/hpo/objective.hpp"
#include "core/hpo/splits.hpp"
#include "core/hpo/train_space.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/experiment.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace quarry {

using hpo::Assignment;
using hpo::SearchSpace;

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
  // Parallel workers (and fused trials) spread out by counting running trials as bad (Optuna's constant
  // liar); a sequential search keeps suggestions a function of finished trials only.
  o.constant_liar = hpo.parallel > 1 || hpo.fuse > 1;
  return std::make_unique<hpo::TpeSampler>(o);
}


}  // namespace

std::optional<SearchResult> stored_search_result(const Store& store, const std::string& run_id, const std::string& search) {
  for (const auto& r : store.search_results(run_id))
    if (r.search == search) return r;
  return std::nullopt;
}

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
  const auto previous = stored_search_result(store, run_id, search_id);
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
    // hpo.fuse = K: a worker takes K trials at once and trains them as one fused model.
    const auto fuse = static_cast<std::size_t>(std::max<std::int64_t>(1, hpo.fuse));
    auto worker = [&](Model& model) {
      for (;;) {
        std::vector<int> numbers;
        std::vector<Assignment> as;
        {
          std::lock_guard<std::mutex> lock(mu);
          while (!error && next < todo.size() && numbers.size() < fuse) {
            const int number = todo[next++];
            Assignment a;
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
            numbers.push_back(number);
            as.push_back(a);
          }
          if (numbers.empty()) return;
        }
        try {
          const double t0 = now_seconds();
          std::vector<TrainConfig> cfgs;
          for (std::size_t j = 0; j < numbers.size(); ++j) {
            if (hooks.before_trial) hooks.before_trial(numbers[j]);
            cfgs.push_back(apply_assignment(space, as[j], base));
          }
          const auto scores = score_trials(p, model, e, cfgs, labeled, splits, seed, log);
          const double seconds = (now_seconds() - t0) / static_cast<double>(numbers.size());
          std::lock_guard<std::mutex> lock(mu);
          for (std::size_t j = 0; j < numbers.size(); ++j) {
            const int number = numbers[j];
            const auto& a = as[j];
            const auto& score = scores[j];
            TrialRecord rec{search_id, number, params_json(space, a), score.failed ? "failed" : "complete",
                            score.failed ? std::numeric_limits<double>::quiet_NaN() : score.accuracy,
                            score.failed ? std::numeric_limits<double>::quiet_NaN() : score.nll, seconds};
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
          }
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
      models.push_back(make_model(p, e.spec, seed_in, host, e.device, e.dataset->mean, e.dataset->std));
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
  scratch.model = make_model(p, e.spec, seed_in, host, e.device, e.dataset->mean, e.dataset->std);
  const auto te = train_and_evaluate(scratch, out.best_config, labeled,
                                     mix_seed(seed, kSeedTrain, static_cast<std::uint64_t>(labeled.size())), log);
  out.retrained = te;
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

}  // namespace quarry
