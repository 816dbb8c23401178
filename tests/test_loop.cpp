#include "testing.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "core/al/loop.hpp"
#include "core/al/pool_file.hpp"
#include "core/al/query_context.hpp"
#include "core/al/run_state.hpp"
#include "core/data/seeds.hpp"
#include "core/training/experiment.hpp"
#include "core/util/log.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_loop {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {
Pipeline pipeline(const TempDir& dir, const std::vector<std::string>& sets = {}, const std::string& extra = "") {
  return parse_pipeline(synthetic_pipeline(dir.str(), extra, 30), "t.toml", sets, &host());
}
}  // namespace

TEST_CASE("end-to-end loop on generated data: accounting, disjointness, one row per cycle") {
  TempDir dir;
  auto p = pipeline(dir);
  Store store(dir.path() / "quarry.db");
  for (std::size_t s = 0; s < p.strategies.size(); ++s) {
    auto out = run_active_learning(p, s, 1, host(), store);
    auto cycles = store.cycles(out.run_id);
    REQUIRE(cycles.size() == 3);  // 10 initial + 2 queries of 10 = budget 30
    CHECK(cycles[0].labeled == 10);
    CHECK(cycles[1].labeled == 20);
    CHECK(cycles[2].labeled == 30);
    CHECK(cycles[2].queried.empty());  // no query after the last training
    const auto acq = store.acquired(out.run_id);
    CHECK(acq.size() == 30);
    std::set<std::int64_t> seen;
    for (const auto& a : acq) CHECK(seen.insert(a.pool_index).second);  // nothing queried twice
    for (int c = 0; c < 2; ++c)
      for (auto i : cycles[c].queried) {
        // each queried index was unlabeled when queried: not in the pool of its own cycle
        int before = 0;
        for (const auto& a : acq)
          if (a.pool_index == i) before = static_cast<int>(a.cycle);
        CHECK(before == c + 1);
      }
    for (const auto& c : cycles) {
      // Accuracies over 120 test and 40 validation images: whole numbers of images, with a
      // validation split that is really there (-1 when it is not).
      CHECK(c.test_accuracy * 120 == doctest::Approx(std::round(c.test_accuracy * 120)));
      CHECK(c.val_accuracy * 40 == doctest::Approx(std::round(c.val_accuracy * 40)));
      CHECK(c.val_accuracy != -1.0);
      CHECK(std::isfinite(c.test_nll));
      CHECK(c.test_nll > 0.0);
      CHECK(c.train_seconds > 0.0);
      CHECK(c.lr == p.train.lr);
    }
    CHECK(store.find_run(out.run_id)->status == "finished");
  }
}

TEST_CASE("two runs with one seed query the same indices and give the same metrics") {
  TempDir dir;
  auto p = pipeline(dir);
  Store store(dir.path() / "quarry.db");
  auto a = run_active_learning(p, 1, 7, host(), store);
  auto b = run_active_learning(p, 1, 7, host(), store);
  auto ca = store.cycles(a.run_id), cb = store.cycles(b.run_id);
  REQUIRE(ca.size() == cb.size());
  for (std::size_t i = 0; i < ca.size(); ++i) {
    CHECK(ca[i].queried == cb[i].queried);
    CHECK(ca[i].test_accuracy == cb[i].test_accuracy);  // bit-identical on CPU
    CHECK(ca[i].test_nll == cb[i].test_nll);
  }
  // A different seed gives a different initial pool.
  auto c = run_active_learning(p, 1, 8, host(), store);
  CHECK(store.acquired(c.run_id)[0].pool_index != store.acquired(a.run_id)[0].pool_index);
}

TEST_CASE("a resumed run equals an uninterrupted one") {
  TempDir dir;
  auto p = pipeline(dir);
  Store store(dir.path() / "quarry.db");
  auto full = run_active_learning(p, 1, 3, host(), store);
  // "Kill" a run during cycle 1.
  std::string killed;
  CycleHook die = [&](Experiment&, const std::string& id, std::int64_t cycle, const std::vector<std::int64_t>&,
                      const TrainConfig&) -> std::optional<TrainConfig> {
    killed = id;
    if (cycle == 1) throw std::runtime_error("killed");  // cycle 0 is committed, cycle 1 is lost
    return std::nullopt;
  };
  CHECK_THROWS(run_active_learning(p, 1, 3, host(), store, "", die));
  CHECK(store.cycles(killed).size() == 1);
  auto resumed = run_active_learning(p, 1, 3, host(), store, killed);
  auto cf = store.cycles(full.run_id), cr = store.cycles(killed);
  REQUIRE(cf.size() == cr.size());
  for (std::size_t i = 0; i < cf.size(); ++i) {
    CHECK(cf[i].queried == cr[i].queried);
    CHECK(cf[i].test_accuracy == cr[i].test_accuracy);
  }
  CHECK(store.find_run(killed)->status == "finished");
}

TEST_CASE("the host rejects a strategy's bad answer and stops the run") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"out_of_range", "outside the pool"},
      {"negative", "outside the pool"},
      {"duplicate", "twice"},
      {"labeled", "already labeled"},
      {"too_few", "expected exactly 10"},
      {"throw_query", "threw while querying"},
  };
  for (const auto& [mode, message] : cases) {
    CAPTURE(mode);
    TempDir dir;
    auto p = pipeline(dir, {}, "\n[[strategies]]\nname = \"misbehaving\"\nmode = \"" + mode + "\"\n");
    Store store(dir.path() / "quarry.db");
    try {
      run_active_learning(p, 2, 1, host(), store);
      FAIL("expected the run to be stopped");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(message) != std::string::npos);
      CHECK(std::string(e.what()).find("misbehaving") != std::string::npos);
    }
    auto runs = store.runs();
    REQUIRE(runs.size() == 1);
    CHECK(runs[0].status == "failed");
    CHECK(store.cycles(runs[0].id).empty());  // nothing of the bad cycle was recorded
  }
}

TEST_CASE("check_query") {
  std::vector<char> labeled(10, 0);
  labeled[3] = 1;
  CHECK_FALSE(check_query({0, 1, 2}, 3, 10, labeled).has_value());
  CHECK(check_query({0, 1}, 3, 10, labeled)->find("expected exactly 3") != std::string::npos);
  CHECK(check_query({0, 1, 10}, 3, 10, labeled)->find("outside the pool") != std::string::npos);
  CHECK(check_query({0, 1, 1}, 3, 10, labeled)->find("twice") != std::string::npos);
  CHECK(check_query({0, 1, 3}, 3, 10, labeled)->find("already labeled") != std::string::npos);
}

TEST_CASE("pools export and start a new run; a budget beyond the pool is an error") {
  TempDir dir;
  auto p = pipeline(dir);
  Store store(dir.path() / "quarry.db");
  auto src = run_active_learning(p, 1, 2, host(), store);
  auto pool = pool_of_run(store, src.run_id, 20);
  CHECK(pool.train_indices.size() == 20);
  CHECK(pool.cycles.front() == 0);
  CHECK(pool.cycles.back() == 1);
  const auto file = (dir.path() / "pool.json").string();
  write_pool_file(file, pool);
  auto back = read_pool_file(file);
  CHECK(back.train_indices == pool.train_indices);
  CHECK_THROWS_WITH_AS(pool_of_run(store, src.run_id, 25), doctest::Contains("never trained on 25 labels"), Error);
  // A run starting from the exported pool begins with exactly those images.
  auto reuse = pipeline(dir, {"al.initial_pool=" + file});
  auto r = run_active_learning(reuse, 0, 2, host(), store);
  auto acq = store.acquired(r.run_id);
  for (std::size_t i = 0; i < 20; ++i) CHECK(acq[i].train_index == pool.train_indices[i]);
  CHECK(store.cycles(r.run_id).front().labeled == 20);
  // Budget beyond the pool.
  auto big = pipeline(dir, {"al.budget=100000"});
  CHECK_THROWS_WITH_AS(run_active_learning(big, 0, 1, host(), store), doctest::Contains("exceed the pool of 360 images"), Error);
}

namespace {
/// Pool labels (class per pool index) of the synthetic dataset split for `seed`.
std::vector<std::int64_t> pool_labels(const Pipeline& p, std::int64_t seed) {
  CaptureLogger log;
  const Experiment e = prepare_experiment(p, seed, host(), log);
  const auto labels = e.data.pool_labels_cpu.contiguous();
  const auto* l = labels.data_ptr<std::int64_t>();
  return std::vector<std::int64_t>(l, l + labels.numel());
}
}  // namespace

TEST_CASE("al.class_balanced: the initial pool has initial/num_classes labels of each class") {
  // initial -> labels per class (4 classes), sorted
  const std::vector<std::pair<std::int64_t, std::vector<std::int64_t>>> cases = {
      {12, {3, 3, 3, 3}}, {10, {2, 2, 3, 3}}, {7, {1, 2, 2, 2}}};
  for (const auto& [initial, expected] : cases) {
    CAPTURE(initial);
    TempDir dir;
    const auto n = std::to_string(initial);
    auto p = pipeline(dir, {"al.class_balanced=true", "al.initial=" + n, "al.budget=" + n});
    Store store(dir.path() / "quarry.db");
    const auto run = run_active_learning(p, 0, 3, host(), store);
    const auto labels = pool_labels(p, 3);
    const auto acq = store.acquired(run.run_id);
    REQUIRE(static_cast<std::int64_t>(acq.size()) == initial);
    std::map<std::int64_t, std::int64_t> per_class;
    for (const auto& a : acq) {
      CHECK(a.cycle == 0);
      ++per_class[labels.at(static_cast<std::size_t>(a.pool_index))];
    }
    std::vector<std::int64_t> counts;
    for (const auto& [c, k] : per_class) counts.push_back(k);
    std::sort(counts.begin(), counts.end());
    CHECK(counts == expected);
  }
  // Without class_balanced the same seed's 12 labels are not balanced (the check above can tell).
  TempDir dir;
  auto p = pipeline(dir, {"al.initial=12", "al.budget=12"});
  Store store(dir.path() / "quarry.db");
  const auto run = run_active_learning(p, 0, 3, host(), store);
  const auto labels = pool_labels(p, 3);
  std::map<std::int64_t, std::int64_t> per_class;
  for (const auto& a : store.acquired(run.run_id)) ++per_class[labels.at(static_cast<std::size_t>(a.pool_index))];
  bool all_three = per_class.size() == 4;
  for (const auto& [c, k] : per_class) all_three = all_three && k == 3;
  CHECK_FALSE(all_three);
}

namespace {
/// The candidate subset of `cycle` of run `run_id` (seed `seed`), rebuilt from its stored
/// acquisitions: the pool indices unlabeled at that cycle, drawn as the loop draws them.
std::vector<std::int64_t> candidates_of(const Store& store, const std::string& run_id, std::int64_t seed,
                                        std::int64_t cycle, std::int64_t n_pool, std::int64_t subset) {
  std::vector<char> labeled(static_cast<std::size_t>(n_pool), 0);
  for (const auto& a : store.acquired(run_id))
    if (a.cycle <= cycle) labeled[static_cast<std::size_t>(a.pool_index)] = 1;
  std::vector<std::int64_t> unlabeled;
  for (std::int64_t i = 0; i < n_pool; ++i)
    if (!labeled[static_cast<std::size_t>(i)]) unlabeled.push_back(i);
  std::mt19937_64 rng(mix_seed(static_cast<std::uint64_t>(seed), kSeedCandidates, static_cast<std::uint64_t>(cycle)));
  auto c = sample_without_replacement(unlabeled, subset, rng);
  std::sort(c.begin(), c.end());
  return c;
}
}  // namespace

TEST_CASE("candidate_subset: each cycle queries from its own seeded subset of the unlabeled pool") {
  TempDir dir;
  auto p = pipeline(dir, {"al.budget=50"});
  REQUIRE(p.al.candidate_subset == 100);
  REQUIRE(p.strategies[1].name == "entropy");
  CaptureLogger log;
  const auto n_pool = static_cast<std::int64_t>(prepare_experiment(p, 1, host(), log).data.pool.size());
  REQUIRE(n_pool == 360);
  Store store(dir.path() / "quarry.db");
  const auto run = run_active_learning(p, 1, 1, host(), store);
  const auto cycles = store.cycles(run.run_id);
  REQUIRE(cycles.size() == 5);
  for (const auto& c : cycles) {
    CAPTURE(c.cycle);
    if (c.cycle + 1 == static_cast<std::int64_t>(cycles.size())) {
      CHECK(c.queried.empty());
      continue;
    }
    REQUIRE(c.queried.size() == 10);
    const auto cand = candidates_of(store, run.run_id, 1, c.cycle, n_pool, 100);
    REQUIRE(cand.size() == 100);
    for (auto i : c.queried) CHECK(std::binary_search(cand.begin(), cand.end(), i));
  }

  // With a subset as large as the query the strategy has no choice: its answer is the subset.
  auto exact = pipeline(dir, {"al.budget=50", "al.candidate_subset=10"});
  std::vector<std::vector<std::int64_t>> first_subsets;
  for (const std::int64_t seed : {1, 2}) {
    CAPTURE(seed);
    const auto r = run_active_learning(exact, 1, seed, host(), store);
    const auto cs = store.cycles(r.run_id);
    REQUIRE(cs.size() == 5);
    for (std::size_t k = 0; k + 1 < cs.size(); ++k) {
      CAPTURE(k);
      auto picked = cs[k].queried;
      std::sort(picked.begin(), picked.end());
      const auto cand = candidates_of(store, r.run_id, seed, static_cast<std::int64_t>(k), n_pool, 10);
      CHECK(picked == cand);
      // Another seed draws another subset from the same unlabeled pool.
      CHECK(candidates_of(store, r.run_id, seed + 100, static_cast<std::int64_t>(k), n_pool, 10) != cand);
    }
    first_subsets.push_back(cs[0].queried);
  }
  CHECK(first_subsets[0] != first_subsets[1]);
}

TEST_CASE("a query size beyond any budget: one query to the budget, no percentage over 100%, no negative ETA") {
  CHECK(cycles_to_budget(40, 10, std::numeric_limits<std::int64_t>::max()) == 2);
  CHECK(cycles_to_budget(40, 40, 10) == 1);
  CHECK(cycles_to_budget(40, 10, 10) == 4);
  CHECK(cycles_to_budget(41, 10, 10) == 5);
  CHECK(cycles_to_budget(40, 50, 10) == 1);
  CHECK(cycles_to_budget(std::numeric_limits<std::int64_t>::max(), 0, std::numeric_limits<std::int64_t>::max()) == 2);

  {
    CaptureLogger log;
    Progress progress(log, "cycle", 1, 0.0);
    progress.step(2);
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].rfind("info: cycle 2/2 (100%) ", 0) == 0);
    CHECK(log.lines[0].find("ETA 0.0s") != std::string::npos);
    progress.step(-1);
    REQUIRE(log.lines.size() == 2);
    CHECK(log.lines[1].rfind("info: cycle 0/1 (0%) ", 0) == 0);
  }

  TempDir dir;
  auto text = synthetic_pipeline(dir.str(), "", 40);
  REQUIRE(text.find("query_size = 10\n") != std::string::npos);
  text.replace(text.find("query_size = 10\n"), 16, "query_size = 9223372036854775807\n");
  auto p = parse_pipeline(text, "t.toml", {}, &host());
  REQUIRE(p.al.query_size == std::numeric_limits<std::int64_t>::max());
  Store store(dir.path() / "quarry.db");
  const auto run = run_active_learning(p, 1, 1, host(), store);
  const auto cycles = store.cycles(run.run_id);
  REQUIRE(cycles.size() == 2);
  CHECK(cycles[0].labeled == 10);
  CHECK(cycles[0].queried.size() == 30);
  CHECK(cycles[1].labeled == 40);
  CHECK(cycles[1].queried.empty());
  CHECK(store.find_run(run.run_id)->status == "finished");

  std::ifstream in(dir.path() / run.run_id / "run.log");
  REQUIRE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string log = buf.str();
  INFO(log);
  CHECK(log.find("cycle 1/2 (50%)") != std::string::npos);
  CHECK(log.find("cycle 2/2 (100%)") != std::string::npos);
  CHECK(log.find("ETA -") == std::string::npos);
  const std::regex percent(R"(\((-?[0-9]+)%\))");
  int percentages = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), percent); it != std::sregex_iterator(); ++it) {
    ++percentages;
    const auto v = std::stoll((*it)[1].str());
    CHECK(v >= 0);
    CHECK(v <= 100);
  }
  // The two cycle lines and, per training, its first and last epoch (3 epochs, at most one line per 10 s).
  CHECK(percentages >= 2 + 2 * 2);
}

}  // namespace test_loop
