// Multi-fidelity search: ASHA / Hyperband rung bookkeeping against hand-worked examples,
// TPE's use of pruned trials, hpo.pruner config errors, the stored rungs (old stores stay
// readable), and a pruned search that is killed mid-trial and resumed.
#include "testing.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/hpo/fidelity.hpp"
#include "core/hpo/pruner.hpp"
#include "core/hpo/sampler.hpp"
#include "core/hpo/search.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_pruner {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::hpo::Pruner;
using quarry::hpo::PrunerOptions;
using quarry::hpo::Rung;
using quarry::hpo::TrialRungs;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {

PrunerOptions options(const std::string& kind, std::int64_t max, std::int64_t min, std::int64_t eta = 3,
                      std::int64_t brackets = 0) {
  PrunerOptions o;
  o.kind = kind;
  o.max_epochs = max;
  o.min_epochs = min;
  o.reduction_factor = eta;
  o.brackets = brackets;
  return o;
}

/// Trials run one after another through the pruner; value(trial, epoch) is what a rung measures.
/// Returns the epochs each trial stopped at (the last rung reached).
std::vector<std::int64_t> drive(const Pruner& pruner, int n_trials, const std::map<int, std::vector<double>>& values) {
  std::vector<TrialRungs> history;
  std::vector<std::int64_t> stop;
  for (int t = 0; t < n_trials; ++t) {
    const auto& ladder = pruner.rungs(pruner.bracket_of(t));
    TrialRungs mine{t, {}};
    for (std::size_t k = 0; k < ladder.size(); ++k) {
      mine.rungs.push_back({ladder[k], values.at(t).at(k)});
      if (k + 1 == ladder.size() || !pruner.promotes(t, ladder[k], values.at(t)[k], history)) break;
    }
    stop.push_back(mine.rungs.back().epoch);
    history.push_back(mine);
  }
  return stop;
}

Pipeline pruned_pipeline(const TempDir& dir, const std::string& hpo, std::int64_t epochs,
                         const std::vector<std::string>& sets = {}) {
  return parse_pipeline(synthetic_pipeline(dir.str(), "\n[hpo]\n" + hpo + "\n", 30, epochs), "t.toml", sets, &host());
}

std::string where_of(const std::string& text, const std::string& needle, int column) {
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find(needle)), '\n');
  return "t.toml:" + std::to_string(line) + ":" + std::to_string(column);
}

std::vector<std::int64_t> first_n(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_CASE("pruner rungs: ASHA's ladder, Hyperband's brackets, the automatic first rung") {
  const Pruner asha(options("asha", 27, 1));
  CHECK(asha.brackets() == 1);
  CHECK(asha.rungs(0) == std::vector<std::int64_t>{1, 3, 9, 27});
  CHECK(asha.bracket_of(5) == 0);
  // min_epochs = 0: epochs / eta^3 = 200 / 27 = 7; rungs below 200, then the full training.
  const Pruner automatic(options("asha", 200, 0));
  CHECK(automatic.min_epochs() == 7);
  CHECK(automatic.rungs(0) == std::vector<std::int64_t>{7, 21, 63, 200});
  // A rung r goes on the ladder when r * eta fits: 2, 4 (8 * 2 > 10), then 10.
  CHECK(Pruner(options("asha", 10, 2, 2)).rungs(0) == std::vector<std::int64_t>{2, 4, 10});
  CHECK(Pruner(options("asha", 10, 6, 2)).rungs(0) == std::vector<std::int64_t>{6, 10});
  CHECK(Pruner(options("hyperband", 200, 0)).brackets() == 3);  // starts 7, 21, 63 (189 * 3 > 200)
  CHECK(Pruner(options("none", 10, 0)).rungs(0) == std::vector<std::int64_t>{10});

  // Hyperband, 27 epochs from 1 at eta 3: brackets start at 1, 3 and 9 (27 is the full training).
  const Pruner hb(options("hyperband", 27, 1));
  REQUIRE(hb.brackets() == 3);
  CHECK(hb.rungs(0) == std::vector<std::int64_t>{1, 3, 9, 27});
  CHECK(hb.rungs(1) == std::vector<std::int64_t>{3, 9, 27});
  CHECK(hb.rungs(2) == std::vector<std::int64_t>{9, 27});
  // Weights ceil(3 * 3^s / (s + 1)) for s = 2, 1, 0: 9, 5, 3 of every 17 trials. By hand, the
  // smooth weighted round robin (add the weights, take the largest, subtract 17 from it) gives:
  const std::vector<int> by_hand = {0, 1, 0, 2, 0, 1, 0, 2, 0, 1, 0, 1, 0, 2, 0, 1, 0};
  for (int t = 0; t < 34; ++t) {
    CAPTURE(t);
    CHECK(hb.bracket_of(t) == by_hand[static_cast<std::size_t>(t % 17)]);
  }
  // brackets = 2: the two most aggressive, weights ceil(2 * 3 / 2) = 3 and ceil(2 / 1) = 2.
  const Pruner two(options("hyperband", 27, 1, 3, 2));
  REQUIRE(two.brackets() == 2);
  CHECK(two.rungs(1) == std::vector<std::int64_t>{3, 9, 27});
  std::vector<int> got;
  for (int t = 0; t < 5; ++t) got.push_back(two.bracket_of(t));
  CHECK(got == std::vector<int>{0, 1, 0, 1, 0});

  CHECK_THROWS_AS(Pruner(options("asha", 9, 9)), Error);            // no rung below the full training
  CHECK_THROWS_AS(Pruner(options("hyperband", 27, 1, 3, 4)), Error);  // only 3 brackets fit
  CHECK_THROWS_AS(Pruner(options("median", 27, 1)), Error);
}

TEST_CASE("ASHA promotion order on a hand-worked example (eta = 3, rungs 1, 3, 9)") {
  const Pruner asha(options("asha", 9, 1));
  // value at epochs 1, 3, 9 of trials 0..8 (only the rungs a trial reaches are read).
  const std::map<int, std::vector<double>> v = {
      {0, {0.50, 0.60, 0.70}}, {1, {0.40, 0.0, 0.0}}, {2, {0.60, 0.55, 0.0}},
      {3, {0.55, 0.0, 0.0}},   {4, {0.30, 0.0, 0.0}}, {5, {0.58, 0.65, 0.72}},
      {6, {0.52, 0.0, 0.0}},   {7, {0.59, 0.50, 0.0}}, {8, {0.70, 0.66, 0.75}},
  };
  // Rung 1 as trials arrive, competing values (own included) -> the best max(1, n / 3) go on:
  //   t0 {.50} n=1: leads, on    t1 {.5 .4} n=2: not the leader    t2 .60 n=3: leads, on
  //   t3 .55 n=4: 1 goes on (.60)   t4 .30 n=5: no    t5 .58 n=6: 2 go on (.60 .58): on
  //   t6 .52 n=7: no    t7 .59 n=8: 2 (.60 .59): on    t8 .70 n=9: 3: on
  // Rung 3 (trials 0 2 5 7 8 arrive in that order):
  //   t0 .60 n=1: on   t2 .55 n=2: no   t5 .65 n=3: leads, on   t7 .50 n=4: no   t8 .66 n=5: leads, on
  const auto stop = drive(asha, 9, v);
  CHECK(stop == std::vector<std::int64_t>{9, 1, 3, 1, 1, 9, 1, 3, 9});

  // A NaN never goes on; a trial does not compete with itself.
  CHECK_FALSE(asha.promotes(0, 1, std::numeric_limits<double>::quiet_NaN(), {}));
  const std::vector<TrialRungs> self = {{0, {{1, 0.9}}}};
  CHECK(asha.promotes(0, 1, 0.1, self));
  CHECK_FALSE(asha.promotes(1, 1, 0.1, self));
  // Ties go on (Optuna's >=).
  CHECK(asha.promotes(1, 1, 0.9, self));
}

TEST_CASE("Hyperband: brackets compete only among themselves") {
  const Pruner hb(options("hyperband", 9, 1));
  REQUIRE(hb.brackets() == 2);  // {1 3 9} and {3 9}; weights ceil(2*3/2) = 3 and 2
  // Trials 0..4 -> brackets 0 1 0 1 0.
  std::vector<int> b;
  for (int t = 0; t < 5; ++t) b.push_back(hb.bracket_of(t));
  REQUIRE(b == std::vector<int>{0, 1, 0, 1, 0});
  const std::map<int, std::vector<double>> v = {
      {0, {0.5, 0.9, 0.9}},  // bracket 0: leads rung 1, leads rung 3
      {1, {0.2, 0.3}},       // bracket 1: first at its rung 3 (bracket 0's .9 does not count): on
      {2, {0.6, 0.8, 0.8}},  // bracket 0: leads rung 1 (.6 > .5); rung 3: .8 < .9, n=2: stops at 3
      {3, {0.1, 0.1}},       // bracket 1: .1 < .2 at rung 3: stops
      {4, {0.4, 0.0, 0.0}},  // bracket 0: rung 1 n=3 keeps 1 (.6): stops
  };
  CHECK(drive(hb, 5, v) == std::vector<std::int64_t>{9, 9, 3, 3, 1});
}

TEST_CASE("rungs as stored: JSON round trip, rendering, bad text") {
  const std::vector<Rung> r = {{7, 0.625}, {21, 0.75}};
  const auto j = hpo::rungs_json(r);
  CHECK(j == "[[7,0.625],[21,0.75]]");
  const auto back = hpo::rungs_from_json(j);
  REQUIRE(back.size() == 2);
  CHECK(back[1].epoch == 21);
  CHECK(back[1].value == 0.75);
  CHECK(hpo::rungs_from_json("").empty());
  CHECK(hpo::rungs_json({}).empty());
  CHECK(hpo::render_rungs(r) == "7:62.5 21:75.0");
  CHECK_THROWS_AS(hpo::rungs_from_json("[[7]]"), Error);
  CHECK_THROWS_AS(hpo::rungs_from_json("{\"a\": 1}"), Error);
  // The rung's schedule: the warm-up scales with the epochs.
  TrainConfig cfg;
  cfg.epochs = 200;
  cfg.warmup_epochs = 10;
  CHECK(rung_config(cfg, 60).warmup_epochs == 3);
  CHECK(rung_config(cfg, 60).epochs == 60);
  CHECK(rung_config(cfg, 7).warmup_epochs == 0);
  CHECK(rung_config(cfg, 200).warmup_epochs == 10);
}

TEST_CASE("TPE counts pruned trials: more epochs rank first, as in Optuna") {
  // One dimension on [0, 1]. Ten trials pruned late (at 9 epochs) near 0.9 with low rung
  // values, ten pruned early (at 1 epoch) near 0.1 with high ones. Optuna ranks pruned trials
  // by epochs first, so the good group (gamma(20) = 2 trials) lies near 0.9.
  hpo::SearchSpace space;
  space.add(hpo::Dimension::uniform("x", 0.0, 1.0));
  std::vector<hpo::Trial> history;
  for (int i = 0; i < 20; ++i) {
    hpo::Trial t;
    t.number = i;
    const bool late = i % 2 == 0;
    t.assignment.values = {late ? 0.88 + 0.002 * i : 0.08 + 0.002 * i};
    t.state = hpo::TrialState::Pruned;
    t.step = late ? 9 : 1;
    t.value = late ? 0.2 : 0.8;
    history.push_back(t);
  }
  hpo::TpeOptions o;
  o.seed = 3;
  o.direction = hpo::Direction::Maximize;
  o.n_startup_trials = 20;  // the 20 pruned trials count: TPE, not the random start-up
  const hpo::TpeSampler tpe(o);
  // l(x) / g(x) peaks just below the late cluster (g holds its other 8 trials): > 0.5.
  int near_late = 0;
  for (int n = 20; n < 60; ++n) near_late += tpe.sample(space, history, n).values[0] > 0.5;
  CHECK(near_late >= 36);
  // The same history with the epochs swapped: the early cluster is now the deeper one.
  auto swapped = history;
  for (auto& t : swapped) t.step = 10 - t.step;
  int near_early = 0;
  for (int n = 20; n < 60; ++n) near_early += tpe.sample(space, swapped, n).values[0] < 0.5;
  CHECK(near_early >= 36);
  // Complete trials rank before any pruned one: two at 0.5 with a value below every rung's
  // fill gamma(22) = 3 with one late pruned trial, and TPE goes to 0.5.
  for (int i = 0; i < 2; ++i) {
    hpo::Trial t;
    t.number = 20 + i;
    t.assignment.values = {0.5 + 0.01 * i};
    t.state = hpo::TrialState::Complete;
    t.value = 0.1;
    history.push_back(t);
  }
  int near_complete = 0;
  for (int n = 22; n < 62; ++n) near_complete += std::abs(tpe.sample(space, history, n).values[0] - 0.5) < 0.1;
  CHECK(near_complete >= 24);
}

TEST_CASE("hpo.pruner config errors name file:line:column and key") {
  TempDir dir;
  const auto parse = [&](const std::string& hpo, std::int64_t epochs = 9) {
    return parse_pipeline(synthetic_pipeline(dir.str(), "\n[hpo]\n" + hpo + "\n", 30, epochs), "t.toml", {}, &host());
  };
  const auto text = [&](const std::string& hpo, std::int64_t epochs = 9) {
    return synthetic_pipeline(dir.str(), "\n[hpo]\n" + hpo + "\n", 30, epochs);
  };
  // Accepted, with the defaults.
  auto ok = parse("pruner = \"hyperband\"\nmin_epochs = 1");
  CHECK(ok.hpo.pruner == "hyperband");
  CHECK(ok.hpo.reduction_factor == 3);
  CHECK(parse("trials = 2").hpo.pruner == "none");

  const std::string unknown = "pruner = \"median\"";
  CHECK_THROWS_WITH_AS(parse(unknown), doctest::Contains((where_of(text(unknown), unknown, 10) + ": key 'hpo.pruner'").c_str()),
                       Error);
  // The first rung must be below the full training: 9 epochs, min_epochs 9.
  const std::string too_long = "pruner = \"asha\"\nmin_epochs = 9";
  CHECK_THROWS_WITH_AS(parse(too_long),
                       doctest::Contains((where_of(text(too_long), "min_epochs = 9", 14) + ": key 'hpo.min_epochs'").c_str()),
                       Error);
  CHECK_THROWS_WITH_AS(parse(too_long), doctest::Contains("below train.epochs (9)"), Error);
  // Automatic first rung on 2 epochs: 2 / 27 -> 1 < 2 fits; on 1 epoch nothing fits, named at hpo.pruner.
  CHECK(parse("pruner = \"asha\"", 2).hpo.pruner == "asha");
  const std::string one = "pruner = \"asha\"";
  CHECK_THROWS_WITH_AS(parse(one, 1), doctest::Contains((where_of(text(one, 1), one, 10) + ": key 'hpo.pruner'").c_str()),
                       Error);
  // Too many brackets: 9 epochs from 1 at eta 3 fit 2.
  const std::string many = "pruner = \"hyperband\"\nmin_epochs = 1\nbrackets = 3";
  CHECK_THROWS_WITH_AS(parse(many), doctest::Contains((where_of(text(many), "brackets = 3", 12) + ": key 'hpo.brackets'").c_str()),
                       Error);
  CHECK_THROWS_WITH_AS(parse(many), doctest::Contains("at most 2"), Error);
  // Without a pruner (a sweep may turn it off) its parameters are kept and not checked.
  CHECK(parse("pruner = \"none\"\nmin_epochs = 30\nbrackets = 5").hpo.min_epochs == 30);
  CHECK_THROWS_WITH_AS(parse("reduction_factor = 1\npruner = \"asha\""), doctest::Contains("key 'hpo.reduction_factor'"),
                       Error);
  // A tuned epochs has no fixed full training to measure rungs against.
  CHECK_THROWS_WITH_AS(parse("pruner = \"asha\"\nmin_epochs = 1\n[hpo.space]\nepochs = { type = \"int\", low = 3, high = 9 }"),
                       doctest::Contains("remove epochs from [hpo.space]"), Error);
  // From the command line.
  CHECK_THROWS_WITH_AS(parse_pipeline(text("trials = 2"), "t.toml", {"hpo.pruner=asha", "hpo.min_epochs=20"}, &host()),
                       doctest::Contains("hpo.min_epochs"), Error);
}

TEST_CASE("stores from before multi-fidelity search stay readable and gain the rung columns") {
  TempDir dir;
  const auto db = dir.path() / "old.db";
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.string().c_str(), &h) == SQLITE_OK);
    const char* old_schema =
        "CREATE TABLE trials(search TEXT NOT NULL, number INTEGER NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,"
        " value REAL, val_nll REAL, seconds REAL, PRIMARY KEY(search, number));"
        "INSERT INTO trials VALUES('r/40', 0, '{\"lr\": 0.01}', 'complete', 0.5, 1.2, 3.0);";
    REQUIRE(sqlite3_exec(h, old_schema, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  Store store(db);
  auto trials = store.trials("r/40");
  REQUIRE(trials.size() == 1);
  CHECK(trials[0].value == 0.5);
  CHECK(trials[0].stop_epoch == 0);
  CHECK(trials[0].rungs.empty());
  store.add_trial({"r/40", 1, "{\"lr\": 0.02}", "pruned", 0.25, 0, 1.0, 3, "[[1,0.2],[3,0.25]]"});
  trials = store.trials("r/40");
  REQUIRE(trials.size() == 2);
  CHECK(trials[1].state == "pruned");
  CHECK(trials[1].stop_epoch == 3);
  CHECK(trials[1].rungs == "[[1,0.2],[3,0.25]]");
  const auto table = trials_table(trials);
  CHECK(table.find("rungs (epochs:val%)") != std::string::npos);
  CHECK(table.find("pruned      3  1:20.0 3:25.0") != std::string::npos);
  // Opening it again does not add the columns twice.
  Store again(db);
  CHECK(again.trials("r/40").size() == 2);
}

TEST_CASE("a pruned search killed mid-trial resumes with its rungs and equals an uninterrupted one") {
  TempDir dir;
  auto p = pruned_pipeline(dir, "trials = 10\nstartup_trials = 3\nsplits = 1\nsplit_fraction = 0.25\n"
                                "pruner = \"asha\"\nmin_epochs = 1\nreduction_factor = 3",
                           9);
  CaptureLogger log;
  Experiment e = prepare_experiment(p, 2, host(), log);
  const auto labeled = first_n(40);
  Store store(dir.path() / "quarry.db");
  std::vector<std::pair<int, std::int64_t>> full_rungs;
  SearchHooks watch;
  watch.before_rung = [&](int n, std::int64_t epochs) { full_rungs.push_back({n, epochs}); };
  const auto full = run_search(p, e, labeled, p.train, 2, host(), store, "full/40", "full", log, watch);
  int pruned = 0, complete = 0;
  for (const auto& t : full.trials) {
    pruned += t.state == "pruned";
    complete += t.state == "complete";
    CHECK(!t.rungs.empty());
  }
  REQUIRE(pruned >= 2);  // the example must prune and promote
  REQUIRE(complete >= 1);
  // Fewer epochs than 10 trials x 9: each rung trains its own full schedule.
  std::int64_t epochs = 0;
  for (const auto& r : full_rungs) epochs += r.second;
  CHECK(full.epochs_trained == epochs);
  CHECK(full.epochs_trained < 10 * 9);
  // Stop epochs: a pruned trial's last rung.
  for (const auto& t : full.trials)
    if (t.state == "pruned") CHECK(t.stop_epoch == hpo::rungs_from_json(t.rungs).back().epoch);

  // Kill the first trial after the start-up that trains a second rung, as that rung starts.
  int victim = -1;
  for (const auto& [n, ep] : full_rungs)
    if (n >= 3 && ep == 3) {
      victim = n;
      break;
    }
  REQUIRE(victim >= 0);
  SearchHooks kill;
  kill.before_rung = [victim](int n, std::int64_t ep) {
    if (n == victim && ep == 3) throw std::runtime_error("killed");
  };
  CHECK_THROWS_WITH(run_search(p, e, labeled, p.train, 2, host(), store, "k/40", "k", log, kill), "killed");
  const auto stored = store.trials("k/40");
  REQUIRE(static_cast<int>(stored.size()) == victim + 1);
  CHECK(stored.back().state == "running");
  CHECK(hpo::rungs_from_json(stored.back().rungs).size() == 1);  // its first rung is stored

  // Resumed: the victim's first rung is not trained again; everything else as uninterrupted.
  std::vector<std::pair<int, std::int64_t>> resumed_rungs;
  SearchHooks count;
  count.before_rung = [&](int n, std::int64_t ep) { resumed_rungs.push_back({n, ep}); };
  const auto resumed = run_search(p, e, labeled, p.train, 2, host(), store, "k/40", "k", log, count);
  std::vector<std::pair<int, std::int64_t>> expected;
  for (const auto& r : full_rungs)
    if (r.first > victim || (r.first == victim && r.second > 1)) expected.push_back(r);
  CHECK(resumed_rungs == expected);
  REQUIRE(resumed.trials.size() == full.trials.size());
  for (std::size_t i = 0; i < full.trials.size(); ++i) {
    CAPTURE(i);
    CHECK(resumed.trials[i].params_json == full.trials[i].params_json);
    CHECK(resumed.trials[i].state == full.trials[i].state);
    CHECK(resumed.trials[i].stop_epoch == full.trials[i].stop_epoch);
    CHECK(resumed.trials[i].rungs == full.trials[i].rungs);  // bit-identical values on CPU
    CHECK(resumed.trials[i].value == full.trials[i].value);
  }
  CHECK(resumed.result.best_params_json == full.result.best_params_json);
  CHECK(resumed.result.test_accuracy == full.result.test_accuracy);
}

TEST_CASE("a Hyperband search stores each trial's bracket ladder and shows pruned trials") {
  TempDir dir;
  auto p = pruned_pipeline(dir, "trials = 6\nstartup_trials = 2\nsplits = 2\nsplit_fraction = 0.25\n"
                                "pruner = \"hyperband\"\nmin_epochs = 1",
                           9);
  CaptureLogger log;
  Experiment e = prepare_experiment(p, 1, host(), log);
  Store store(dir.path() / "quarry.db");
  const auto out = run_search(p, e, first_n(40), p.train, 1, host(), store, "h/40", "h", log);
  const Pruner pruner(hpo::pruner_options(p.hpo, p.train.epochs));
  REQUIRE(pruner.brackets() == 2);
  std::int64_t epochs = 0;
  for (const auto& t : out.trials) {
    CAPTURE(t.number);
    const auto rungs = hpo::rungs_from_json(t.rungs);
    REQUIRE(!rungs.empty());
    const auto& ladder = pruner.rungs(pruner.bracket_of(static_cast<int>(t.number)));
    CHECK(rungs.front().epoch == ladder.front());  // bracket 1 starts at 3 epochs
    for (std::size_t k = 0; k < rungs.size(); ++k) CHECK(rungs[k].epoch == ladder[k]);
    CHECK((t.state == "complete") == (rungs.back().epoch == 9));
    for (const auto& r : rungs) epochs += 2 * r.epoch;  // two splits
  }
  CHECK(out.epochs_trained == epochs);
  const auto table = trials_table(out.trials, out.best);
  CHECK(table.find("stop") != std::string::npos);
}

}  // namespace test_pruner
