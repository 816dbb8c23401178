#include "testing.hpp"

#include <set>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

using namespace quarry;
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
      CHECK(c.test_accuracy >= 0.0);
      CHECK(c.test_accuracy <= 1.0);
      CHECK(c.val_accuracy >= 0.0);
      CHECK(c.train_seconds > 0.0);
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
