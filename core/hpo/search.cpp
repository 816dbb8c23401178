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
#include "core/hpo/fidelity.hpp"
#include "core/hpo/fused_trials.hpp"
#include "core/hpo/objective.hpp"
#include "core/hpo/pruner.hpp"
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
  if (s == "pruned") return hpo::TrialState::Pruned;
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
  o.constant_liar = hpo.parallel > 1 || (hpo.fuse > 1 && hpo.pruner == "none");
  return std::make_unique<hpo::TpeSampler>(o);
}


/// ", asha (rungs 7 21 63 200)" for the search's log line; "" without a pruner.
std::string pruner_label(const hpo::Pruner& pruner) {
  if (!pruner.active()) return "";
  std::string s = ", " + pruner.options().kind;
  for (int b = 0; b < pruner.brackets(); ++b) {
    s += b == 0 ? " (rungs" : ";";
    for (auto r : pruner.rungs(b)) s += " " + std::to_string(r);
  }
  return s + " epochs)";
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
  const hpo::Pruner pruner(hpo::pruner_options(hpo, base.epochs));

  std::vector<Assignment> enqueued;
  if (hpo.enqueue_current) {
    if (auto a = assignment_of(space, base)) enqueued.push_back(*a);
    else log.warn("search " + search_id + ": the current [train] setting is not a point of the space; nothing enqueued");
  }

  // What is stored already: finished trials stay, "running" ones (a crash) are redone.
  std::map<int, TrialRecord> records;
  std::vector<hpo::Trial> history;
  std::map<int, std::vector<hpo::Rung>> rung_log;  // the rungs of every trial, for the pruner
  std::map<int, TrialRecord> interrupted;          // "running" trials: their rungs are reused
  for (const auto& t : store.trials(search_id)) {
    if (t.number >= n_trials) continue;
    if (t.state == "running") {
      interrupted[static_cast<int>(t.number)] = t;
      continue;
    }
    hpo::Trial h;
    h.number = static_cast<int>(t.number);
    h.assignment = assignment_from_json(space, t.params_json);
    h.state = state_of(t.state);
    h.value = h.state == hpo::TrialState::Complete || h.state == hpo::TrialState::Pruned
                  ? t.value
                  : std::numeric_limits<double>::quiet_NaN();
    h.step = t.stop_epoch;
    history.push_back(h);
    records[h.number] = t;
    rung_log[h.number] = hpo::rungs_from_json(t.rungs);
  }
  std::vector<int> todo;
  for (int n = 0; n < n_trials; ++n)
    if (!records.count(n)) todo.push_back(n);

  SearchOutcome out;
  const auto previous = stored_search_result(store, run_id, search_id);
  log.info(fmt::format("search {}: {}{} on {} labels, {} trials ({} stored), {} x {} validation, space {}", search_id,
                       sampler->name(), pruner_label(pruner), labeled.size(), n_trials, records.size(), splits.size(),
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
    // hpo.fuse = K: a worker takes K trials at once and trains them as one fused model
    // (core/hpo/fused_trials.hpp). With a pruner each trial stops at its own rung: one by one.
    const auto fuse = pruner.active() ? std::size_t{1} : static_cast<std::size_t>(std::max<std::int64_t>(1, hpo.fuse));
    if (hpo.fuse > 1 && pruner.active())
      log.info(fmt::format("hpo.fuse = {}: trials are trained one by one under hpo.pruner = \"{}\" (each stops at its own rung)",
                           hpo.fuse, hpo.pruner));
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
          std::vector<TrainConfig> cfgs;
          for (std::size_t j = 0; j < numbers.size(); ++j) {
            if (hooks.before_trial) hooks.before_trial(numbers[j]);
            cfgs.push_back(apply_assignment(space, as[j], base));
          }
          const double t0 = now_seconds();
          std::vector<RungedTrial> ran(numbers.size());
          if (!pruner.active()) {
            const auto scores = score_trials(p, model, e, cfgs, labeled, splits, seed, log);
            for (std::size_t j = 0; j < numbers.size(); ++j) {
              ran[j].score = scores[j];
              ran[j].epochs_trained = cfgs[j].epochs * static_cast<std::int64_t>(splits.size());
            }
          } else {
            const int number = numbers[0];
            const std::string params = params_json(space, as[0]);
            std::vector<hpo::Rung> reuse;
            {
              std::lock_guard<std::mutex> lock(mu);
              const auto it = interrupted.find(number);
              if (it != interrupted.end() && it->second.params_json == params) reuse = hpo::rungs_from_json(it->second.rungs);
            }
            const auto measured = [&](const std::vector<hpo::Rung>& rungs) {
              std::lock_guard<std::mutex> lock(mu);
              store.add_trial({search_id, number, params, "running", 0, 0, 0, 0, hpo::rungs_json(rungs)});
              rung_log[number] = rungs;
              std::vector<hpo::TrialRungs> others;
              for (const auto& [n, r] : rung_log) others.push_back({n, r});
              return pruner.promotes(number, rungs.back().epoch, rungs.back().value, others);
            };
            const auto before_rung = [&](std::int64_t epochs) {
              if (hooks.before_rung) hooks.before_rung(number, epochs);
            };
            ran[0] = score_by_rungs(model, e, cfgs[0], labeled, splits, seed, pruner.rungs(pruner.bracket_of(number)),
                                    std::move(reuse), measured, before_rung);
          }
          const double seconds = (now_seconds() - t0) / static_cast<double>(numbers.size());
          const auto nan = std::numeric_limits<double>::quiet_NaN();
          std::lock_guard<std::mutex> lock(mu);
          for (std::size_t j = 0; j < numbers.size(); ++j) {
            const int number = numbers[j];
            const auto& a = as[j];
            const auto& score = ran[j].score;
            const bool pruned = ran[j].pruned;
            TrialRecord rec{search_id, number, params_json(space, a),
                            score.failed ? "failed" : pruned ? "pruned" : "complete",
                            score.failed ? nan : score.accuracy, score.failed || pruned ? nan : score.nll,
                            seconds, ran[j].stop_epoch, hpo::rungs_json(ran[j].rungs)};
            store.add_trial(rec);
            records[number] = rec;
            rung_log[number] = ran[j].rungs;
            out.epochs_trained += ran[j].epochs_trained;
            for (auto& h : history)
              if (h.number == number) {
                h.state = score.failed ? hpo::TrialState::Failed
                                       : pruned ? hpo::TrialState::Pruned : hpo::TrialState::Complete;
                h.value = rec.value;
                h.step = ran[j].stop_epoch;
                h.message = score.why;
              }
            progress.step(++done, score.failed ? fmt::format("| trial {} {} FAILED: {}", number, space.render(a), score.why)
                                  : pruned ? fmt::format("| trial {} {}: pruned at {} epochs (val acc {:.4f}), {:.1f}s",
                                                         number, space.render(a), ran[j].stop_epoch, score.accuracy,
                                                         rec.seconds)
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
  bool rungs = false;  // a multi-fidelity search: the rungs and where pruned trials stopped
  for (const auto& t : trials) {
    width = std::max(width, t.params_json.size());
    rungs |= !t.rungs.empty();
  }
  const auto state = [rungs](const std::string& s) { return rungs ? fmt::format("{:<8}", s) : s; };
  std::string out = fmt::format("  {:>5} {:<{}} {:>8} {:>8} {:>8}  {}{}\n", "trial", "params", width, "val%", "valNLL",
                                "secs", state("state"), rungs ? " stop  rungs (epochs:val%)" : "");
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    const bool ok = t.state == "complete";
    std::string extra;
    if (rungs)
      extra = fmt::format(" {:>4}  {}", t.state == "pruned" ? std::to_string(t.stop_epoch) : "-",
                          hpo::render_rungs(hpo::rungs_from_json(t.rungs)));
    out += fmt::format("{} {:>5} {:<{}} {:>8} {:>8} {:>8.1f}  {}{}\n", static_cast<int>(i) == best ? "*" : " ",
                       t.number, t.params_json, width,
                       ok || t.state == "pruned" ? fmt::format("{:.2f}", 100 * t.value) : "-",
                       ok ? fmt::format("{:.4f}", t.val_nll) : "-", t.seconds, state(t.state), extra);
  }
  return out;
}

}  // namespace quarry
