// HPO as an experimental factor: the regimes of an active-learning run (fixed [train],
// hpo.at_initial, hpo.every, hpo.from_run), their resume after a stop, and their config errors.
#include "testing.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/al/loop.hpp"
#include "core/hpo/regime.hpp"
#include "core/hpo/train_space.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/report/report.hpp"
#include "core/store/store.hpp"
#include "core/sweep/sweep.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_hpo_regimes {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace fs = std::filesystem;

namespace {

// A space of three dimensions, one of them (momentum) not kept in the cycle records: a resume
// that lost the tuned setting would train with the pipeline's momentum and differ.
const std::string kSearch =
    "trials = 3\nsampler = \"random\"\nenqueue_current = false\nsplits = 1\nsplit_fraction = 0.25\n"
    "[hpo.space]\nlr = { type = \"log_uniform\", low = 1e-3, high = 1e-2 }\n"
    "weight_decay = { type = \"log_uniform\", low = 1e-5, high = 1e-3 }\n"
    "momentum = { type = \"uniform\", low = 0.3, high = 0.6 }\n";

Pipeline regime_pipeline(const TempDir& dir, const std::string& hpo, std::int64_t budget = 30) {
  return parse_pipeline(synthetic_pipeline(dir.str(), "\n[hpo]\n" + hpo + "\n", budget, 2), "t.toml", {}, &host());
}

RunOutcome run(const Pipeline& p, Store& store, const std::string& id = "", const SearchHooks& search = {},
               const CycleHook& wrap = {}) {
  const auto h = hpo_hooks(p, 1, host(), store, search);
  return run_active_learning(p, 0, 1, host(), store, id, wrap ? wrap : h.cycle, h.resume, h.start);
}

/// The stage of `p`, but throwing "killed" at cycle `at`; `id` gets the run's id.
CycleHook die_at(const Pipeline& p, Store& store, std::int64_t at, std::string& id) {
  auto stage = hpo_hooks(p, 1, host(), store).cycle;
  return [stage, at, &id](Experiment& e, const std::string& run_id, std::int64_t cycle,
                          const std::vector<std::int64_t>& l, const TrainConfig& c) -> std::optional<TrainConfig> {
    id = run_id;
    if (cycle == at) throw std::runtime_error("killed");
    return stage(e, run_id, cycle, l, c);
  };
}

void check_same_cycles(const std::vector<CycleRecord>& a, const std::vector<CycleRecord>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(a[i].labeled == b[i].labeled);
    CHECK(a[i].lr == b[i].lr);
    CHECK(a[i].weight_decay == b[i].weight_decay);
    CHECK(a[i].test_accuracy == b[i].test_accuracy);
    CHECK(a[i].test_nll == b[i].test_nll);
    CHECK(a[i].queried == b[i].queried);
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("hpo regimes: config errors name the key and file:line:column") {
  TempDir dir;
  const auto parse = [&](const std::string& hpo) {
    return error_of([&] { regime_pipeline(dir, hpo); });
  };
  auto e = parse("at_initial = true\nfrom_run = \"other\"");
  CHECK(e.find("key 'hpo.from_run'") != std::string::npos);
  CHECK(e.find("drop one of the two") != std::string::npos);
  CHECK(e.rfind("t.toml:", 0) == 0);
  e = parse("from_store = \"elsewhere\"");
  CHECK(e.find("key 'hpo.from_store'") != std::string::npos);
  CHECK(e.find("hpo.from_run, which is not set") != std::string::npos);
  for (const auto* bad : {"@40", "r@", "r@4x", "r@-1"}) {
    CAPTURE(bad);
    e = parse(std::string("from_run = \"") + bad + "\"");
    CHECK(e.find("key 'hpo.from_run'") != std::string::npos);
    CHECK(e.find("RUN@SIZE") != std::string::npos);
  }
  CHECK(parse("at_initial = 1").find("key 'hpo.at_initial'") != std::string::npos);
  CHECK(parse("at_initial = true\nevery = 2").empty());  // tuned at the start, then every 2 cycles
  CHECK(parse("from_run = \"r@40\"\nevery = 2").empty());
}

TEST_CASE("hpo.at_initial: DAL trains with the initial pool's tuned setting from cycle 0 on") {
  TempDir dir;
  const auto p = regime_pipeline(dir, "at_initial = true\n" + kSearch);
  Store store(dir.path() / "quarry.db");
  const auto full = run(p, store);
  const auto results = store.search_results(full.run_id);
  REQUIRE(results.size() == 1);  // at_initial alone: one search, on the initial pool
  CHECK(results[0].search == search_id_of(full.run_id, 10));
  CHECK(results[0].pool_size == 10);
  // The search's best is its best complete trial.
  const auto trials = store.trials(results[0].search);
  REQUIRE(trials.size() == 3);
  double best = -1;
  std::string best_params;
  for (const auto& t : trials)
    if (t.state == "complete" && t.value > best) best = t.value, best_params = t.params_json;
  CHECK(results[0].best_params_json == best_params);
  const auto tuned = nlohmann::json::parse(best_params);
  CHECK(tuned.at("lr").get<double>() != p.train.lr);  // the space excludes the pipeline's setting
  const auto cycles = store.cycles(full.run_id);
  REQUIRE(cycles.size() == 3);  // 10, 20, 30 labels
  for (const auto& c : cycles) {
    CAPTURE(c.cycle);
    CHECK(c.lr == tuned.at("lr").get<double>());
    CHECK(c.weight_decay == tuned.at("weight_decay").get<double>());
  }
  // The fixed regime (the same [hpo] table without at_initial) trains with [train].
  TempDir fixed_dir;
  const auto fixed = regime_pipeline(fixed_dir, kSearch);
  Store fixed_store(fixed_dir.path() / "quarry.db");
  const auto f = run(fixed, fixed_store);
  CHECK(fixed_store.search_results(f.run_id).empty());
  for (const auto& c : fixed_store.cycles(f.run_id)) CHECK(c.lr == p.train.lr);
}

TEST_CASE("hpo.at_initial: a run stopped during or after the initial search resumes exactly") {
  TempDir dir;
  const auto p = regime_pipeline(dir, "at_initial = true\n" + kSearch);
  Store store(dir.path() / "quarry.db");
  const auto full = run(p, store);
  const auto full_trials = store.trials(search_id_of(full.run_id, 10));

  SUBCASE("stopped in the search: the stored trials stay, the rest is trained, then DAL") {
    std::string killed;
    SearchHooks stop;
    stop.before_trial = [](int n) {
      if (n == 1) throw std::runtime_error("killed in trial 1");
    };
    CHECK_THROWS_WITH(run(p, store, "", stop), "killed in trial 1");
    // The stop comes before any cycle: the run's id is the one other run in the store.
    for (const auto& r : store.runs())
      if (r.id != full.run_id) killed = r.id;
    REQUIRE_FALSE(killed.empty());
    CHECK(store.cycles(killed).empty());
    CHECK(store.find_run(killed)->status == "failed");
    std::vector<int> trained;
    SearchHooks count;
    count.before_trial = [&](int n) { trained.push_back(n); };
    const auto resumed = run(p, store, killed, count);
    CHECK(resumed.run_id == killed);
    CHECK(trained == std::vector<int>{1, 2});  // trial 0 was stored complete, 1 was "running"
    const auto trials = store.trials(search_id_of(killed, 10));
    REQUIRE(trials.size() == full_trials.size());
    for (std::size_t i = 0; i < trials.size(); ++i) {
      CHECK(trials[i].params_json == full_trials[i].params_json);
      CHECK(trials[i].value == full_trials[i].value);
    }
    check_same_cycles(store.cycles(killed), store.cycles(full.run_id));
  }
  SUBCASE("stopped after cycle 0: no trial again, the later cycles train with the tuned setting") {
    std::string killed;
    CHECK_THROWS_WITH(run(p, store, "", {}, die_at(p, store, 1, killed)), "killed");
    REQUIRE(store.cycles(killed).size() == 1);
    std::vector<int> trained;
    SearchHooks count;
    count.before_trial = [&](int n) { trained.push_back(n); };
    run(p, store, killed, count);
    CHECK(trained.empty());
    CHECK(store.find_run(killed)->status == "finished");
    check_same_cycles(store.cycles(killed), store.cycles(full.run_id));
    CHECK(store.search_results(killed).size() == 1);
  }
  SUBCASE("what the resume hook is for: without it the resumed cycles lose the tuned momentum") {
    std::string killed;
    CHECK_THROWS_WITH(run(p, store, "", {}, die_at(p, store, 1, killed)), "killed");
    const auto h = hpo_hooks(p, 1, host(), store);
    run_active_learning(p, 0, 1, host(), store, killed, h.cycle, {}, h.start);
    const auto a = store.cycles(killed), b = store.cycles(full.run_id);
    REQUIRE(a.size() == 3);
    CHECK(a[1].lr == b[1].lr);                // kept in the cycle record
    CHECK(a[1].test_nll != b[1].test_nll);    // momentum was not
  }
}

TEST_CASE("hpo.from_run: every cycle trains with the other run's tuned setting") {
  TempDir dir;
  const auto src_p = regime_pipeline(dir, "at_initial = true\n" + kSearch);
  Store store(dir.path() / "quarry.db");
  const auto src = run(src_p, store);
  const auto src_result = store.search_results(src.run_id).at(0);

  // Same seed, strategy and initial pool as the source: the transferred setting (momentum
  // included, which the target's own [hpo] space does not have) reproduces its run exactly.
  const auto p = regime_pipeline(dir, "from_run = \"" + src.run_id + "\"\ntrials = 2");
  const auto target = run(p, store);
  CHECK(store.search_results(target.run_id).empty());  // nothing tuned here
  check_same_cycles(store.cycles(target.run_id), store.cycles(src.run_id));
  const auto pin = nlohmann::json::parse(std::ifstream(dir.path() / target.run_id / "transferred.json"));
  CHECK(pin.at("run") == src.run_id);
  CHECK(pin.at("search") == src_result.search);
  CHECK(pin.at("params") == src_result.best_params_json);

  SUBCASE("RUN@SIZE and a store elsewhere (hpo.from_store, a results folder)") {
    TempDir other;
    auto q = parse_pipeline(synthetic_pipeline(other.str(), "\n[hpo]\nfrom_run = \"" + src.run_id +
                                                                "@10\"\nfrom_store = \"" + dir.str() + "\"\n",
                                               30, 2),
                            "t.toml", {}, &host());
    Store other_store(other.path() / "quarry.db");
    const auto r = run(q, other_store);
    check_same_cycles(other_store.cycles(r.run_id), store.cycles(src.run_id));
  }
  SUBCASE("stopped after cycle 0, resumed with the pinned setting though the source tuned again since") {
    std::string killed;
    CHECK_THROWS_WITH(run(p, store, "", {}, die_at(p, store, 1, killed)), "killed");
    REQUIRE(store.cycles(killed).size() == 1);
    SearchResult later = src_result;  // a later, larger search of the source, with another setting
    later.search = search_id_of(src.run_id, 400);
    later.pool_size = 400;
    later.best_params_json = R"({"lr":0.002,"weight_decay":0.0001,"momentum":0.5})";
    store.add_search_result(later);
    CHECK(transferred_setting(p, p.train).search.search == later.search);  // what a new run would take
    run(p, store, killed);
    check_same_cycles(store.cycles(killed), store.cycles(src.run_id));
  }
}

TEST_CASE("hpo.from_run: a missing store, run or finished search is an error naming the key and place") {
  TempDir dir;
  Store store(dir.path() / "quarry.db");
  const auto fixed = regime_pipeline(dir, "sizes = [20]\ntrials = 2\nsplits = 1\nsplit_fraction = 0.25");
  const auto plain = run_active_learning(fixed, 0, 1, host(), store);  // no search at all

  const auto fails = [&](const std::string& hpo) {
    const auto p = regime_pipeline(dir, hpo);
    const auto e = error_of([&] { run(p, store); });
    CHECK(e.rfind("t.toml:", 0) == 0);  // where from_run was written
    CHECK(e.find("key 'hpo.from_run'") != std::string::npos);
    return e;
  };
  CHECK(fails("from_run = \"nosuchrun\"").find("nosuchrun") != std::string::npos);
  CHECK(fails("from_run = \"" + plain.run_id + "\"").find("has no finished search") != std::string::npos);
  CHECK(fails("from_run = \"" + plain.run_id + "\"\nfrom_store = \"" + (dir.path() / "nowhere").string() + "\"")
            .find("no results store") != std::string::npos);

  // A run with a search on 20 labels: another size is named as missing, with the sizes it has.
  const auto hp = regime_pipeline(dir, "sizes = [20]\ntrials = 2\nsplits = 1\nsplit_fraction = 0.25");
  const auto tuned = run(hp, store);
  const auto e = fails("from_run = \"" + tuned.run_id + "@30\"");
  CHECK(e.find("no finished search on 30 labels (its searches: 20 labels)") != std::string::npos);
  const auto ok = regime_pipeline(dir, "from_run = \"" + tuned.run_id + "@20\"");
  CHECK(transferred_setting(ok, ok.train).search.pool_size == 20);
}

TEST_CASE("hpo regimes in a sweep: {seed} in from_run, cells wait for their source, the report compares regimes") {
  TempDir dir;
  std::ofstream(dir.path() / "base.toml") << synthetic_pipeline(
      "unused", "\n[hpo]\ntrials = 2\nsampler = \"random\"\nsplits = 1\nsplit_fraction = 0.25\n", 20, 2);
  const auto sweep_text = [](const std::string& from) {
    return "[sweep]\nname = \"reg\"\nbase = \"base.toml\"\nresults = \"runs\"\n[grid]\n"
           "strategies = [\"random\", \"entropy\"]\nseeds = [1]\n"
           "[[grid.hp]]\nname = \"fixed\"\n\"hpo.at_initial\" = false\n"
           "[[grid.hp]]\nname = \"at_initial\"\n\"hpo.at_initial\" = true\n"
           "[[grid.hp]]\nname = \"every1\"\n\"hpo.every\" = 1\n"
           "[[grid.hp]]\nname = \"from\"\n\"hpo.from_run\" = \"" + from + "\"\n";
  };
  const auto file = (dir.path() / "sweep.toml").string();
  std::ofstream(file) << sweep_text("{sweep}-random-from-s{seed}");
  CHECK_THROWS_WITH_AS(load_sweep(file, &host()), doctest::Contains("names the cell itself"), Error);
  std::ofstream(file) << sweep_text("{sweep}-random-at_initial-s{seed}");
  const Sweep s = load_sweep(file, &host());
  REQUIRE(s.cells.size() == 8);
  const SweepCell& src = s.cells[1];
  CHECK(src.id == "reg-random-at_initial-s1");
  for (std::size_t i : {3, 7}) {
    CAPTURE(s.cells[i].id);
    CHECK(s.cells[i].after == std::vector<std::size_t>{1});
    CHECK(std::find(s.cells[i].sets.begin(), s.cells[i].sets.end(), "hpo.from_run='reg-random-at_initial-s1'") !=
          s.cells[i].sets.end());
  }
  CHECK(s.cells[5].after.empty());

  LocalOptions opts;
  opts.quarry_exe = quarry::testing::quarry_binary();
  opts.jobs = 2;
  std::ostringstream out;
  const auto sum = run_sweep_local(s, opts, out);
  INFO(out.str());
  REQUIRE(sum.finished == 8);  // the from cells started after their source had tuned
  Store store(fs::path(s.results) / "quarry.db");
  const auto tuned = nlohmann::json::parse(store.search_results(src.id).at(0).best_params_json);
  for (const auto* id : {"reg-random-from-s1", "reg-entropy-from-s1"})
    for (const auto& c : store.cycles(id)) {
      CAPTURE(id);
      CHECK(c.lr == tuned.at("lr").get<double>());
    }
  for (const auto& c : store.cycles("reg-entropy-fixed-s1")) CHECK(c.lr == 0.05);

  const auto data = report::load({s.results}, {"reg"});
  const auto rows = report::regime_table(data);
  REQUIRE(rows.size() == 4);  // entropy under each regime
  const std::vector<std::string> regimes = {"fixed", "at_initial", "every 1", "from reg-random-at_initial-s{seed}"};
  const std::vector<double> trials = {0, 2, 2, 0};  // every 1 at budget 20: one re-tuning, after cycle 1
  const std::vector<std::string> hp = {"fixed", "at_initial", "every1", "from"};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CAPTURE(i);
    CHECK(rows[i].strategy == "entropy");
    CHECK(rows[i].regime == regimes[i]);
    CHECK(rows[i].trials.mean == trials[i]);
    REQUIRE(rows[i].pairs == 1);
    const auto e = store.cycles("reg-entropy-" + hp[i] + "-s1"), r = store.cycles("reg-random-" + hp[i] + "-s1");
    CHECK(rows[i].final_gain.mean == doctest::Approx(e.back().test_accuracy - r.back().test_accuracy));
    CHECK(rows[i].to == 20);
  }
  CHECK(report::regimes_markdown(rows).find("| from reg-random-at_initial-s{seed} | 0 |") != std::string::npos);
  CHECK(report::regimes_svg(rows).size() == 1);
}

TEST_CASE("hpo regimes in the report: regime names, trials spent, seed-free from_run values") {
  using report::regime_of;
  using report::regime_trials;
  CHECK(regime_of({{"train.lr", "0.1"}}) == "fixed");  // no [hpo]
  CHECK(regime_of({{"hpo.trials", "5"}, {"hpo.at_initial", "false"}, {"hpo.every", "0"}}) == "fixed");
  CHECK(regime_of({{"hpo.trials", "5"}, {"hpo.at_initial", "true"}, {"hpo.every", "0"}}) == "at_initial");
  CHECK(regime_of({{"hpo.trials", "5"}, {"hpo.at_initial", "true"}, {"hpo.every", "2"}}) == "at_initial + every 2");
  CHECK(regime_of({{"hpo.trials", "5"}, {"hpo.every", "3"}, {"hpo.from_run", "x@40"}}) == "from x@40 + every 3");
  std::vector<CycleRecord> cycles(5);
  for (std::size_t i = 0; i < cycles.size(); ++i) cycles[i].cycle = static_cast<std::int64_t>(i);
  CHECK(regime_trials({{"hpo.trials", "5"}, {"hpo.at_initial", "true"}, {"hpo.every", "2"}}, cycles) == 15);  // 0, 2, 4
  CHECK(regime_trials({{"hpo.trials", "5"}, {"hpo.every", "3"}}, cycles) == 5);
  CHECK(regime_trials({{"hpo.trials", "5"}, {"hpo.from_run", "x"}}, cycles) == 0);
  CHECK(report::seed_free("reg-random-at_initial-s12", 12) == "reg-random-at_initial-s{seed}");
  CHECK(report::seed_free("reg-random-s12@300", 12) == "reg-random-s{seed}@300");
  CHECK(report::seed_free("reg-random-s12", 2) == "reg-random-s12");
  CHECK(report::seed_free("tune-abc", 1) == "tune-abc");
}

}  // namespace test_hpo_regimes
