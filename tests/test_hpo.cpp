// Hyper-parameter optimisation on labeled pools: validation splits, stored and
// resumable searches, the [hpo] stage of a DAL run, and `quarry tune`.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/hpo/search.hpp"
#include "core/hpo/splits.hpp"
#include "core/hpo/stage.hpp"
#include "core/hpo/train_space.hpp"
#include "core/hpo/tune.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_hpo {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::plugin_dir;
using quarry::testing::test_plugin_dir;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {

/// The synthetic pipeline with an [hpo] table; 1 epoch per training keeps searches quick.
Pipeline hpo_pipeline(const TempDir& dir, const std::string& hpo, std::int64_t budget = 30,
                      const std::vector<std::string>& sets = {}) {
  return parse_pipeline(synthetic_pipeline(dir.str(), "\n[hpo]\n" + hpo + "\n", budget, 1), "t.toml", sets, &host());
}

std::vector<std::int64_t> first_n(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_CASE("validation splits: disjoint, covering, seeded; K-fold partitions the pool") {
  HpoConfig h;  // 3 random splits of 10%
  const auto a = validation_splits(50, h, 7);
  REQUIRE(a.size() == 3);
  for (const auto& s : a) {
    CHECK(s.validation.size() == 5);
    CHECK(s.train.size() == 45);
    std::set<std::int64_t> all(s.train.begin(), s.train.end());
    for (auto i : s.validation) CHECK(all.insert(i).second);  // disjoint
    CHECK(all.size() == 50);                                   // together the whole pool
    CHECK(*all.begin() == 0);
    CHECK(*all.rbegin() == 49);
  }
  CHECK(a[0].validation != a[1].validation);  // independent draws
  const auto again = validation_splits(50, h, 7);
  for (std::size_t k = 0; k < 3; ++k) CHECK(again[k].validation == a[k].validation);
  CHECK(validation_splits(50, h, 8)[0].validation != a[0].validation);

  h.folds = 4;
  const auto f = validation_splits(50, h, 7);
  REQUIRE(f.size() == 4);
  std::vector<int> seen(50, 0);
  for (const auto& s : f) {
    CHECK((s.validation.size() == 12 || s.validation.size() == 13));
    CHECK(s.train.size() + s.validation.size() == 50);
    for (auto i : s.validation) ++seen[static_cast<std::size_t>(i)];
    std::set<std::int64_t> tr(s.train.begin(), s.train.end());
    for (auto i : s.validation) CHECK_FALSE(tr.count(i));
  }
  for (int c : seen) CHECK(c == 1);  // every image validated exactly once
  CHECK_THROWS_AS(validation_splits(1, HpoConfig{}, 1), Error);
  h.folds = 1;  // one "fold" would validate on the whole pool and train on nothing
  CHECK_THROWS_WITH_AS(validation_splits(50, h, 7), doctest::Contains("hpo.folds = 1"), Error);
  h.folds = -1;
  CHECK_THROWS_AS(validation_splits(50, h, 7), Error);
  h.folds = 2;
  CHECK(validation_splits(50, h, 7).size() == 2);
  h.folds = 60;
  CHECK_THROWS_WITH_AS(validation_splits(50, h, 1), doctest::Contains("more folds"), Error);
}

TEST_CASE("hpo.folds = 1 is rejected at parse, naming the key at file:line:column") {
  TempDir dir;
  const std::string text = synthetic_pipeline(dir.str(), "\n[hpo]\ntrials = 2\nfolds = 1\n", 30, 1);
  // The line of `folds = 1` in the text, counted here; its value starts at column 9.
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find("folds = 1")), '\n');
  REQUIRE(line > 30);
  const std::string where = "t.toml:" + std::to_string(line) + ":9: key 'hpo.folds'";
  CHECK_THROWS_WITH_AS(parse_pipeline(text, "t.toml", {}, &host()), doctest::Contains(where.c_str()), Error);
  CHECK_THROWS_WITH_AS(parse_pipeline(text, "t.toml", {}, &host()), doctest::Contains("folds >= 2"), Error);
  // From the command line: the override is named.
  const std::string ok = synthetic_pipeline(dir.str(), "\n[hpo]\ntrials = 2\n", 30, 1);
  CHECK_THROWS_WITH_AS(parse_pipeline(ok, "t.toml", {"hpo.folds=1"}, &host()), doctest::Contains("hpo.folds"), Error);
  // 0 (random splits) and 2 are fine.
  CHECK(parse_pipeline(ok, "t.toml", {}, &host()).hpo.folds == 0);
  CHECK(parse_pipeline(ok, "t.toml", {"hpo.folds=2"}, &host()).hpo.folds == 2);
}

TEST_CASE("search space from [hpo.space]; assignments set [train] keys and read back from JSON") {
  TempDir dir;
  auto p = hpo_pipeline(dir, "[hpo.space]\nlr = { type = \"log_uniform\", low = 1e-4, high = 1.0 }\n"
                             "batch_size = { type = \"int\", low = 8, high = 64, log = true }\n"
                             "nesterov = { type = \"categorical\", choices = [\"true\", \"false\"] }\n");
  const auto space = search_space_of(p.hpo);
  REQUIRE(space.size() == 3);
  auto a = assignment_of(space, p.train);
  REQUIRE(a.has_value());
  CHECK(params_json(space, *a) == R"({"batch_size":16,"lr":0.05,"nesterov":"false"})");
  hpo::Assignment b = space.parse("lr=0.003 batch_size=32 nesterov=true");
  const auto cfg = apply_assignment(space, b, p.train);
  CHECK(cfg.lr == 0.003);
  CHECK(cfg.batch_size == 32);
  CHECK(cfg.nesterov);
  CHECK(cfg.weight_decay == p.train.weight_decay);  // keys outside the space keep the pipeline's value
  CHECK(assignment_from_json(space, params_json(space, b)) == b);
  CHECK_THROWS_WITH_AS(assignment_from_json(space, R"({"lr":0.1})"), doctest::Contains("do not fit"), Error);
  // Without [hpo.space]: the protocol's lr/weight_decay space.
  CHECK(search_space_of(HpoConfig{}).size() == 2);
  CHECK(search_space_of(HpoConfig{})[1].name == "weight_decay");
}

TEST_CASE("a search stores every trial and its result; trial 0 is the pipeline's setting") {
  TempDir dir;
  auto p = hpo_pipeline(dir, "trials = 4\nstartup_trials = 2\nsplits = 2\nsplit_fraction = 0.2");
  CaptureLogger log;
  Experiment e = prepare_experiment(p, 1, host(), log);
  const auto before = snapshot_weights(*e.model);
  Store store(dir.path() / "quarry.db");
  const auto labeled = first_n(40);
  auto out = run_search(p, e, labeled, p.train, 1, host(), store, "r/40", "r", log);
  const auto trials = store.trials("r/40");
  REQUIRE(trials.size() == 4);
  CHECK(trials[0].params_json == R"({"lr":0.05,"weight_decay":0.0005})");
  std::set<std::string> distinct;
  for (const auto& t : trials) {
    CAPTURE(t.number);
    CHECK(t.state == "complete");
    // The mean accuracy over 2 splits of 8 validation images each (20% of 40): k / 16.
    CHECK(t.value * 16 == std::round(t.value * 16));
    CHECK(t.value >= 0.0);
    CHECK(t.value <= 1.0);
    CHECK(std::isfinite(t.val_nll));
    CHECK(t.val_nll > 0.0);
    CHECK(t.seconds > 0.0);
    distinct.insert(t.params_json);
  }
  CHECK(distinct.size() == 4);
  const auto results = store.search_results("r");
  REQUIRE(results.size() == 1);
  CHECK(results[0].search == "r/40");
  CHECK(results[0].pool_size == 40);
  CHECK(results[0].best_params_json == trials[static_cast<std::size_t>(out.best)].params_json);
  CHECK(results[0].best_value == trials[static_cast<std::size_t>(out.best)].value);
  for (const auto& t : trials) CHECK(t.value <= results[0].best_value);
  // The result stored is the retraining's, on all 40 labels, evaluated on the 120 test images.
  REQUIRE(out.retrained.has_value());
  CHECK(results[0].test_accuracy == out.retrained->test.accuracy);
  CHECK(results[0].test_nll == out.retrained->test.nll);
  CHECK(results[0].test_accuracy * 120 == doctest::Approx(std::round(results[0].test_accuracy * 120)));
  CHECK(results[0].test_accuracy > 0.0);
  CHECK(out.best_config.lr == assignment_from_json(search_space_of(p.hpo), results[0].best_params_json).values[0]);
  // The experiment's own model is left alone.
  const auto after = snapshot_weights(*e.model);
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
  // Called again: nothing is trained, the stored result comes back.
  auto again = run_search(p, e, labeled, p.train, 1, host(), store, "r/40", "r", log);
  CHECK(again.reused);
  CHECK(again.result.test_accuracy == results[0].test_accuracy);
}

TEST_CASE("a killed search resumes without redoing finished trials and equals an uninterrupted one") {
  TempDir dir;
  auto p = hpo_pipeline(dir, "trials = 6\nstartup_trials = 3\nsplits = 1\nsplit_fraction = 0.25");
  CaptureLogger log;
  Experiment e = prepare_experiment(p, 2, host(), log);
  Store store(dir.path() / "quarry.db");
  const auto labeled = first_n(32);
  auto full = run_search(p, e, labeled, p.train, 2, host(), store, "full/32", "full", log);

  SearchHooks kill;
  kill.before_trial = [](int n) {
    if (n == 3) throw std::runtime_error("killed");
  };
  CHECK_THROWS_WITH(run_search(p, e, labeled, p.train, 2, host(), store, "k/32", "k", log, kill), "killed");
  auto stored = store.trials("k/32");
  REQUIRE(stored.size() == 4);
  CHECK(stored[3].state == "running");  // the trial the crash interrupted
  CHECK(store.search_results("k").empty());

  std::vector<int> ran;
  SearchHooks count;
  count.before_trial = [&](int n) { ran.push_back(n); };
  auto resumed = run_search(p, e, labeled, p.train, 2, host(), store, "k/32", "k", log, count);
  CHECK(ran == std::vector<int>{3, 4, 5});  // 0-2 were not redone; 3 was redone with its number
  REQUIRE(resumed.trials.size() == full.trials.size());
  for (std::size_t i = 0; i < full.trials.size(); ++i) {
    CAPTURE(i);
    CHECK(resumed.trials[i].params_json == full.trials[i].params_json);
    CHECK(resumed.trials[i].value == full.trials[i].value);  // bit-identical on CPU
    CHECK(resumed.trials[i].state == "complete");
  }
  CHECK(resumed.result.best_params_json == full.result.best_params_json);
  CHECK(resumed.result.test_accuracy == full.result.test_accuracy);

  // More trials on the same search id: only the new ones run.
  ran.clear();
  auto more = hpo_pipeline(dir, "trials = 7\nstartup_trials = 3\nsplits = 1\nsplit_fraction = 0.25");
  run_search(more, e, labeled, more.train, 2, host(), store, "k/32", "k", log, count);
  CHECK(ran == std::vector<int>{6});
  CHECK(store.trials("k/32").size() == 7);
}

TEST_CASE("hpo.parallel = 2 gives exactly the serial search (wide_resnet with dropout)") {
  TempDir dir;
  // The random sampler: its suggestion for trial n depends only on (seed, n). TPE with
  // parallel > 1 uses Optuna's constant liar, whose suggestions depend on which trials are
  // still running when one is asked for, i.e. on timing: it would not be comparable.
  std::string text = synthetic_pipeline(dir.str(),
                                        "\n[hpo]\nsampler = \"random\"\ntrials = 4\nsplits = 1\nsplit_fraction = 0.25\n",
                                        30, 2);
  const std::string small = "name = \"small_cnn\"\nwidth = 8\nfeature_dim = 16\n";
  REQUIRE(text.find(small) != std::string::npos);
  // Dropout draws inside every training: reproducible only with per-training generators.
  text.replace(text.find(small), small.size(), "name = \"wide_resnet\"\ndepth = 10\nwiden = 1\ndropout = 0.3\n");
  const auto serial = parse_pipeline(text, "t.toml", {}, &host());
  const auto parallel = parse_pipeline(text, "t.toml", {"hpo.parallel=2"}, &host());
  REQUIRE(serial.hpo.parallel == 1);
  REQUIRE(parallel.hpo.parallel == 2);
  REQUIRE(serial.model.name == "wide_resnet");
  CaptureLogger log;
  Experiment e = prepare_experiment(serial, 1, host(), log);
  Store s1(dir.path() / "serial.db"), s2(dir.path() / "parallel.db");
  const auto labeled = first_n(40);
  const auto a = run_search(serial, e, labeled, serial.train, 1, host(), s1, "s/40", "s", log);
  const auto b = run_search(parallel, e, labeled, parallel.train, 1, host(), s2, "s/40", "s", log);
  const auto ta = s1.trials("s/40"), tb = s2.trials("s/40");
  REQUIRE(ta.size() == 4);
  REQUIRE(tb.size() == 4);
  std::set<std::string> distinct;
  for (std::size_t i = 0; i < ta.size(); ++i) {
    CAPTURE(i);
    CHECK(ta[i].number == static_cast<std::int64_t>(i));
    CHECK(tb[i].number == ta[i].number);
    CHECK(tb[i].params_json == ta[i].params_json);
    CHECK(ta[i].state == "complete");
    CHECK(tb[i].state == ta[i].state);
    CHECK(tb[i].value == ta[i].value);  // exact: on the CPU the same seed gives the same numbers
    // 2 epochs barely train, so accuracies on 10 images often coincide anyway; the NLL
    // is what tells a different training apart (it does when dropout shares one generator).
    CHECK(tb[i].val_nll == ta[i].val_nll);
    distinct.insert(ta[i].params_json);
  }
  CHECK(distinct.size() == 4);
  CHECK(ta[0].params_json == R"({"lr":0.05,"weight_decay":0.0005})");  // enqueued: the pipeline's setting
  CHECK(b.best == a.best);
  CHECK(b.result.best_params_json == a.result.best_params_json);
  CHECK(b.result.test_accuracy == a.result.test_accuracy);
  CHECK(b.result.test_nll == a.result.test_nll);
}

TEST_CASE("a diverged trial is a failed trial, not a crash") {
  TempDir dir;
  // Every trial trains with an absurd learning rate and weight decay: the weights blow up.
  auto p = hpo_pipeline(dir, "trials = 2\nsampler = \"random\"\nsplits = 1\nsplit_fraction = 0.25\n"
                             "[hpo.space]\nlr = { type = \"log_uniform\", low = 1e-3, high = 100.0 }",
                        30, {"train.lr=100", "train.weight_decay=10", "train.epochs=6"});
  CaptureLogger log;
  Experiment e = prepare_experiment(p, 1, host(), log);
  Store store(dir.path() / "quarry.db");
  SearchOutcome out;
  try {
    out = run_search(p, e, first_n(32), p.train, 1, host(), store, "d/32", "d", log);
  } catch (const Error& ex) {
    CHECK(std::string(ex.what()).find("none of its 2 trials completed") != std::string::npos);
  }
  const auto trials = store.trials("d/32");
  REQUIRE(trials.size() == 2);
  CHECK(trials[0].state == "failed");
}

TEST_CASE("[hpo] sizes: a search on the labeled pool of those cycles, linked to the run") {
  TempDir dir;
  auto p = hpo_pipeline(dir, "sizes = [20]\ntrials = 2\nsplits = 1\nsplit_fraction = 0.25");
  Store store(dir.path() / "quarry.db");
  auto run = run_active_learning(p, 0, 1, host(), store, "", hpo_stage(p, 1, host(), store));
  const auto results = store.search_results(run.run_id);
  REQUIRE(results.size() == 1);
  CHECK(results[0].search == run.run_id + "/20");
  CHECK(results[0].pool_size == 20);
  CHECK(store.trials(run.run_id + "/20").size() == 2);
  REQUIRE(store.cycles(run.run_id).size() == 3);  // 10, 20, 30 labels
  for (const auto& c : store.cycles(run.run_id)) CHECK(c.lr == p.train.lr);  // sizes alone change nothing
}

TEST_CASE("[hpo] every = N: later cycles train with the tuned setting, also after a resume") {
  TempDir dir;
  // The space excludes the pipeline's lr (0.05), so the tuned setting must differ.
  auto p = hpo_pipeline(dir, "every = 2\ntrials = 2\nsampler = \"random\"\nenqueue_current = false\nsplits = 1\n"
                             "split_fraction = 0.25\n[hpo.space]\nlr = { type = \"log_uniform\", low = 1e-3, high = 1e-2 }",
                        40);
  Store store(dir.path() / "quarry.db");
  const auto resume_hook = [&](const std::string& id, const TrainConfig& restored) {
    return tuned_setting_for_resume(p, store, id, restored);
  };
  auto full = run_active_learning(p, 0, 1, host(), store, "", hpo_stage(p, 1, host(), store), resume_hook);
  const auto cf = store.cycles(full.run_id);
  REQUIRE(cf.size() == 4);  // 10, 20, 30, 40 labels; a search at cycle 2
  const auto results = store.search_results(full.run_id);
  REQUIRE(results.size() == 1);
  CHECK(results[0].pool_size == 30);
  const double tuned = assignment_from_json(search_space_of(p.hpo), results[0].best_params_json).values[0];
  CHECK(cf[0].lr == p.train.lr);
  CHECK(cf[2].lr == p.train.lr);
  CHECK(cf[3].lr == tuned);
  CHECK(tuned != p.train.lr);

  // Killed in cycle 3 (after cycle 2 and its search were committed), then resumed.
  auto stage = hpo_stage(p, 1, host(), store);
  std::string killed;
  CycleHook die = [&](Experiment& e, const std::string& id, std::int64_t cycle, const std::vector<std::int64_t>& l,
                      const TrainConfig& c) -> std::optional<TrainConfig> {
    killed = id;
    if (cycle == 3) throw std::runtime_error("killed");
    return stage(e, id, cycle, l, c);
  };
  CHECK_THROWS_WITH(run_active_learning(p, 0, 1, host(), store, "", die, resume_hook), "killed");
  REQUIRE_FALSE(killed.empty());
  REQUIRE(killed != full.run_id);
  const auto before = store.cycles(killed);
  REQUIRE(before.size() == 3);
  REQUIRE(store.search_results(killed).size() == 1);  // cycle 2's search was committed with it
  CHECK(store.find_run(killed)->status == "failed");
  std::vector<std::int64_t> resumed_cycles;
  CycleHook counting = [&](Experiment& e, const std::string& id, std::int64_t cycle, const std::vector<std::int64_t>& l,
                           const TrainConfig& c) -> std::optional<TrainConfig> {
    resumed_cycles.push_back(cycle);
    CHECK(c.lr == tuned);  // the setting the resumed cycle trained with
    return stage(e, id, cycle, l, c);
  };
  const auto resumed = run_active_learning(p, 0, 1, host(), store, killed, counting, resume_hook);
  CHECK(resumed.run_id == killed);
  CHECK(resumed_cycles == std::vector<std::int64_t>{3});  // a resume: cycles 0-2 were not run again
  CHECK(store.find_run(killed)->status == "finished");
  const auto cr = store.cycles(killed);
  REQUIRE(cr.size() == 4);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(cr[i].test_accuracy == before[i].test_accuracy);
    CHECK(cr[i].lr == cf[i].lr);
  }
  CHECK(cr[3].lr == tuned);
  CHECK(cr[3].test_accuracy == cf[3].test_accuracy);
  CHECK(cr[3].test_nll == cf[3].test_nll);
  // The search was not redone, and none was added (cycle 3 is not an `every` cycle).
  CHECK(store.trials(killed + "/30").size() == 2);
  CHECK(store.search_results(killed).size() == 1);

  // What the resume hook is for: without it, the resumed cycle trains with the setting
  // restored from cycle 2's record, the pipeline's lr.
  std::string killed2;
  CycleHook die2 = [&](Experiment& e, const std::string& id, std::int64_t cycle, const std::vector<std::int64_t>& l,
                       const TrainConfig& c) -> std::optional<TrainConfig> {
    killed2 = id;
    if (cycle == 3) throw std::runtime_error("killed");
    return stage(e, id, cycle, l, c);
  };
  CHECK_THROWS_WITH(run_active_learning(p, 0, 1, host(), store, "", die2, resume_hook), "killed");
  REQUIRE(store.cycles(killed2).size() == 3);
  run_active_learning(p, 0, 1, host(), store, killed2, stage);
  const auto cn = store.cycles(killed2);
  REQUIRE(cn.size() == 4);
  CHECK(cn[3].lr == p.train.lr);
}

TEST_CASE("quarry tune: a tune run on a run's pool, stored and resumable") {
  TempDir dir;
  const std::string toml = synthetic_pipeline(dir.str(), "\n[hpo]\ntrials = 3\nstartup_trials = 2\nsplits = 1\n"
                                                         "split_fraction = 0.25\n", 20, 1);
  const auto file = (dir.path() / "t.toml").string();
  std::ofstream(file) << toml;
  auto p = parse_pipeline(toml, file, {}, &host());
  std::string source;
  {
    Store store(dir.path() / "quarry.db");
    source = run_active_learning(p, 0, 1, host(), store).run_id;
  }
  CaptureLogger tune_log;
  PluginHost tune_host(tune_log);
  discover_plugins(tune_host, {plugin_dir().string(), test_plugin_dir().string()});
  TuneRequest r;
  r.pipeline = file;
  r.pool = source + "@20";
  std::string tune_id;
  CHECK_NOTHROW(tune_id = tune_pool(r, tune_host).run.id);
  Store store(dir.path() / "quarry.db");
  const auto run = store.find_run(tune_id);
  REQUIRE(run.has_value());
  CHECK(run->kind == "tune");
  CHECK(run->status == "finished");
  CHECK(run->source_run == source);
  CHECK(run->source_size == 20);
  CHECK(run->seed == 1);
  CHECK_FALSE(run->hp_label.empty());
  const auto results = store.search_results(tune_id);
  REQUIRE(results.size() == 1);
  CHECK(results[0].search == tune_id + "/20");
  CHECK(store.trials(tune_id + "/20").size() == 3);
  // Resuming a finished search trains nothing and keeps the result.
  TuneRequest again;
  again.resume = tune_id;
  again.results = dir.str();
  CHECK_NOTHROW(tune_pool(again, tune_host));
  CHECK(store.search_results(tune_id)[0].test_accuracy == results[0].test_accuracy);
  // Exactly one pool source.
  TuneRequest bad;
  bad.pipeline = file;
  CHECK_THROWS_WITH_AS(tune_pool(bad, tune_host), doctest::Contains("exactly one of --pool"), Error);
}

}  // namespace test_hpo
