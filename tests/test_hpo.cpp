// Hyper-parameter optimisation on labeled pools: validation splits, stored and
// resumable searches, the [hpo] stage of a DAL run, and `quarry tune`.
#include "testing.hpp"

#include <fstream>
#include <set>

#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/hpo/tune.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

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
  h.folds = 60;
  CHECK_THROWS_WITH_AS(validation_splits(50, h, 1), doctest::Contains("more folds"), Error);
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
    CHECK(t.state == "complete");
    CHECK(t.value >= 0.0);
    CHECK(t.value <= 1.0);
    CHECK(t.val_nll > 0.0);
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
  CHECK_THROWS(run_active_learning(p, 0, 1, host(), store, "", die, resume_hook));
  REQUIRE(store.cycles(killed).size() == 3);
  run_active_learning(p, 0, 1, host(), store, killed, stage, resume_hook);
  const auto cr = store.cycles(killed);
  REQUIRE(cr.size() == 4);
  CHECK(cr[3].lr == tuned);  // without the resume hook it would be cycle 2's lr
  CHECK(cr[3].test_accuracy == cf[3].test_accuracy);
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
  GlobalOptions g;
  g.plugin_paths = {plugin_dir().string(), test_plugin_dir().string()};
  TuneRequest r;
  r.pipeline = file;
  r.pool = source + "@20";
  std::string tune_id;
  CHECK(cmd_tune(r, g, &tune_id) == 0);
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
  CHECK(cmd_tune(again, g) == 0);
  CHECK(store.search_results(tune_id)[0].test_accuracy == results[0].test_accuracy);
  // Exactly one pool source.
  TuneRequest bad;
  bad.pipeline = file;
  CHECK_THROWS_WITH_AS(cmd_tune(bad, g), doctest::Contains("exactly one of --pool"), Error);
}
