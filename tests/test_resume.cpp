// Resume under SIGKILL: the real `quarry` executable is killed at random moments
// and resumed with `quarry run --resume RUN --results DIR` until it finishes; the
// result must equal an uninterrupted run's, and no kill may leave a partial cycle.
#include "testing.hpp"

#include <fstream>
#include <random>

#include "core/store/store.hpp"
#include "process.hpp"
#include "store_checks.hpp"
#include "support.hpp"

using namespace quarry;
using namespace quarry::testing;

namespace {

constexpr std::int64_t kQuerySize = 10;  // synthetic_pipeline's [al] query_size

/// A pipeline of one strategy (entropy), 6 cycles (10 -> 60 labels), 150 short epochs each
/// (so most of a run is cycles, not process start-up, and kills land inside them).
std::string write_pipeline(const TempDir& dir, const std::string& results) {
  auto text = synthetic_pipeline(results, "", 60, 150);
  text.erase(text.find("[[strategies]]\nname = \"random\"\n"), std::string("[[strategies]]\nname = \"random\"\n").size());
  const auto file = (dir.path() / "resume.toml").string();
  std::ofstream(file) << text;
  return file;
}

/// Cycles committed so far by the (only) run in the store at `db`; 0 while there is none.
std::size_t committed_cycles(const std::filesystem::path& db) {
  if (!std::filesystem::exists(db)) return 0;
  Store store(db);
  const auto runs = store.runs();
  return runs.empty() ? 0 : store.cycles(runs[0].id).size();
}

std::string only_run(const Store& store) {
  const auto runs = store.runs();
  REQUIRE(runs.size() == 1);
  return runs[0].id;
}

void check_store(const std::filesystem::path& db, const std::string& when) {
  CAPTURE(when);
  Store store(db);
  CHECK(integrity_check(store) == "ok");
  for (const auto& r : store.runs()) CHECK(partial_cycle_problem(store, r.id, kQuerySize) == "");
}

}  // namespace

TEST_CASE("a run SIGKILLed at random moments and resumed equals an uninterrupted run") {
  TempDir dir;
  const auto full_results = (dir.path() / "full").string();
  const auto killed_results = (dir.path() / "killed").string();

  // The reference: one uninterrupted run.
  const auto full_pipeline = write_pipeline(dir, full_results);
  auto ref = run_process({quarry_binary(), "run", full_pipeline}, dir.path() / "full.log", 120);
  INFO(ref.output);
  REQUIRE(ref.exited);
  REQUIRE(ref.exit_code == 0);
  REQUIRE_FALSE(ref.crashed());
  const double full_seconds = ref.seconds;
  Store full_store(std::filesystem::path(full_results) / "quarry.db");
  const auto full_id = only_run(full_store);
  const auto expected = full_store.cycles(full_id);
  REQUIRE(expected.size() == 6);

  // The same pipeline, killed at seeded random moments, resumed after each kill.
  const auto pipeline = write_pipeline(dir, killed_results);
  const auto db = std::filesystem::path(killed_results) / "quarry.db";
  std::mt19937_64 rng(20261127);
  // Kill moments: in the first half of a whole run's time, or just after a cycle is committed.
  std::uniform_real_distribution<double> delay(0.05, 0.5 * full_seconds);
  std::uniform_real_distribution<double> in_cycle(0.0, 0.25);
  int kills = 0, mid_run_kills = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 14 && !finished; ++attempt) {
    std::vector<std::string> args = {quarry_binary(), "run", pipeline};
    if (std::filesystem::exists(db)) {
      Store store(db);
      if (!store.runs().empty()) args = {quarry_binary(), "run", "--resume", only_run(store), "--results", killed_results};
    }
    const auto log = dir.path() / ("attempt-" + std::to_string(attempt) + ".log");
    Process proc(args, log);
    // Attempts 0-1: a kill at a random moment, most likely during start-up. Attempts 2-7:
    // wait for the next cycle to be committed, then kill at a random moment of the one after
    // (a cycle takes ~0.3 s here). Then let it finish.
    double wait = 300.0;
    if (attempt < 2) {
      wait = delay(rng);
    } else if (attempt < 8) {
      const auto committed_before = committed_cycles(db);
      while (!proc.wait_for(0.01) && committed_cycles(db) <= committed_before) {
      }
      wait = in_cycle(rng);
    }
    if (proc.wait_for(wait)) {
      INFO(proc.result().output);
      REQUIRE(proc.result().exited);
      REQUIRE(proc.result().exit_code == 0);
      CHECK_FALSE(proc.result().crashed());
      finished = true;
    } else {
      // A reader beside the running writer never sees a partial cycle either.
      if (std::filesystem::exists(db)) check_store(db, "while running, attempt " + std::to_string(attempt));
      proc.kill_now();
      ++kills;
      if (std::filesystem::exists(db)) {
        check_store(db, "after kill " + std::to_string(kills));
        Store store(db);
        const auto runs = store.runs();
        const auto committed = runs.empty() ? 0 : store.cycles(runs[0].id).size();
        MESSAGE("kill " << kills << " after " << wait << " s: " << committed << " cycle(s) committed");
        if (committed > 0 && committed < expected.size()) ++mid_run_kills;
      }
    }
  }
  REQUIRE(finished);
  MESSAGE("killed " << kills << " times (a whole run takes " << full_seconds << " s)");
  CHECK(kills >= 3);
  CHECK(mid_run_kills >= 2);  // some kills landed between committed cycles, not only at start-up

  Store store(db);
  CHECK(integrity_check(store) == "ok");
  const auto id = only_run(store);
  CHECK(store.find_run(id)->status == "finished");
  CHECK(partial_cycle_problem(store, id, kQuerySize) == "");
  const auto got = store.cycles(id);
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].labeled == expected[i].labeled);
    CHECK(got[i].queried == expected[i].queried);
    CHECK(got[i].queried_train == expected[i].queried_train);
    // Bit-identical on the CPU: the same seeds give the same training in any process.
    CHECK(got[i].test_accuracy == expected[i].test_accuracy);
    CHECK(got[i].test_nll == expected[i].test_nll);
    CHECK(got[i].test_ece == expected[i].test_ece);
    CHECK(got[i].val_accuracy == expected[i].val_accuracy);
    CHECK(got[i].final_loss == expected[i].final_loss);
    CHECK(got[i].diverged == expected[i].diverged);
  }
  const auto a = store.acquired(id), b = full_store.acquired(full_id);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].pool_index == b[i].pool_index);
    CHECK(a[i].cycle == b[i].cycle);
  }
}
