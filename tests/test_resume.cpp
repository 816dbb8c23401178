// Resume under SIGKILL: the real `quarry` executable is killed at random moments
// and resumed with `quarry run --resume RUN --results DIR` until it finishes; the
// result must equal an uninterrupted run's, and no kill may leave a partial cycle.
#include "testing.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <random>

#include "core/al/loop.hpp"
#include "core/al/run_record.hpp"
#include "core/al/run_state.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "process.hpp"
#include "store_checks.hpp"
#include "support.hpp"

namespace test_resume {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing;

namespace {

constexpr std::int64_t kQuerySize = 10;  // synthetic_pipeline's [al] query_size

/// A pipeline of one strategy (entropy), 6 cycles (10 -> 60 labels), 150 short epochs each
/// (so most of a run is cycles, not process start-up, and kills land inside them); `train`
/// is added to its [train] table.
std::string write_pipeline(const TempDir& dir, const std::string& results, const std::string& train = "") {
  auto text = synthetic_pipeline(results, "", 60, 150);
  text.erase(text.find("[[strategies]]\nname = \"random\"\n"), std::string("[[strategies]]\nname = \"random\"\n").size());
  text.replace(text.find("[train]\n"), 8, "[train]\n" + train);
  const auto file = (dir.path() / ("resume-" + std::filesystem::path(results).filename().string() + ".toml")).string();
  std::ofstream(file) << text;
  return file;
}

/// The checkpoint-*.pt files (and any .tmp left) in a run's folder, sorted.
std::vector<std::string> checkpoints(const std::filesystem::path& run_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(run_dir, ec))
    if (e.path().filename().string().rfind("checkpoint-", 0) == 0) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
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

/// Run the pipeline once uninterrupted, then again killed at seeded random moments and
/// resumed after each kill until it finishes; the two must be equal. `train` goes into [train].
void check_sigkill_and_resume(const std::string& train = "") {
  const bool continues = train.find("\"continue\"") != std::string::npos;
  TempDir dir;
  const auto full_results = (dir.path() / "full").string();
  const auto killed_results = (dir.path() / "killed").string();

  // The reference: one uninterrupted run.
  const auto full_pipeline = write_pipeline(dir, full_results, train);
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
  const auto pipeline = write_pipeline(dir, killed_results, train);
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
        // With init = "continue" the resume needs the last committed cycle's model.
        if (continues && committed > 0)
          CHECK(std::filesystem::exists(std::filesystem::path(killed_results) / runs[0].id /
                                        ("checkpoint-" + std::to_string(committed - 1) + ".pt")));
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
  // Only the last cycle's model is kept (and none without init = "continue").
  const std::vector<std::string> kept =
      continues ? std::vector<std::string>{"checkpoint-5.pt"} : std::vector<std::string>{};
  CHECK(checkpoints(std::filesystem::path(killed_results) / id) == kept);
  CHECK(checkpoints(std::filesystem::path(full_results) / full_id) == kept);
}

}  // namespace

TEST_CASE("a run SIGKILLed at random moments and resumed equals an uninterrupted run") { check_sigkill_and_resume(); }

TEST_CASE("train.init = continue: a run SIGKILLed at random moments and resumed equals an uninterrupted run") {
  check_sigkill_and_resume("init = \"continue\"\n");
}

namespace {

/// A cycle hook that throws at `at` (cycles before it are committed, it is lost), noting the run id.
CycleHook die_at(std::int64_t at, std::string& id) {
  return [at, &id](Experiment&, const std::string& run_id, std::int64_t cycle, const std::vector<std::int64_t>&,
                   const TrainConfig&) -> std::optional<TrainConfig> {
    id = run_id;
    if (cycle == at) throw std::runtime_error("killed");
    return std::nullopt;
  };
}

void check_same_cycles(const std::vector<CycleRecord>& got, const std::vector<CycleRecord>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].labeled == expected[i].labeled);
    CHECK(got[i].queried == expected[i].queried);
    CHECK(got[i].test_accuracy == expected[i].test_accuracy);
    CHECK(got[i].test_nll == expected[i].test_nll);
    CHECK(got[i].final_loss == expected[i].final_loss);
  }
}

}  // namespace

TEST_CASE("train.init = continue: only the last committed cycle's checkpoint is kept; a resume without it fails") {
  TempDir dir;
  auto p = parse_pipeline(synthetic_pipeline(dir.str(), "", 40, 3), "t.toml", {"train.init=continue"}, &host());
  REQUIRE(p.train.init == "continue");
  Store store(dir.path() / "quarry.db");

  // After each cycle (seen from the next one's hook, before it commits) only the previous
  // cycle's checkpoint is there.
  std::map<std::int64_t, std::vector<std::string>> seen;
  CycleHook look = [&](Experiment&, const std::string& id, std::int64_t cycle, const std::vector<std::int64_t>&,
                       const TrainConfig&) -> std::optional<TrainConfig> {
    seen[cycle] = checkpoints(dir.path() / id);
    return std::nullopt;
  };
  const auto full = run_active_learning(p, 1, 3, host(), store, "", look);
  const auto full_cycles = store.cycles(full.run_id);
  REQUIRE(full_cycles.size() == 4);
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].empty());
  for (std::int64_t c = 1; c < 4; ++c) {
    CAPTURE(c);
    CHECK(seen[c] == std::vector<std::string>{"checkpoint-" + std::to_string(c - 1) + ".pt"});
  }
  CHECK(checkpoints(dir.path() / full.run_id) == std::vector<std::string>{"checkpoint-3.pt"});

  // "continue" really trains on from the last model: after cycle 0 it differs from "same".
  auto same = p;
  same.train.init = "same";
  const auto s = run_active_learning(same, 1, 3, host(), store);
  const auto same_cycles = store.cycles(s.run_id);
  REQUIRE(same_cycles.size() == 4);
  CHECK(same_cycles[0].test_nll == full_cycles[0].test_nll);
  CHECK(same_cycles[1].final_loss != full_cycles[1].final_loss);
  CHECK(checkpoints(dir.path() / s.run_id).empty());

  // Killed during cycle 2: cycles 0 and 1 committed, cycle 1's model kept; the resume loads it.
  std::string killed;
  CHECK_THROWS(run_active_learning(p, 1, 3, host(), store, "", die_at(2, killed)));
  REQUIRE(store.cycles(killed).size() == 2);
  CHECK(checkpoints(dir.path() / killed) == std::vector<std::string>{"checkpoint-1.pt"});
  run_active_learning(p, 1, 3, host(), store, killed);
  check_same_cycles(store.cycles(killed), full_cycles);
  CHECK(checkpoints(dir.path() / killed) == std::vector<std::string>{"checkpoint-3.pt"});

  // The same with that checkpoint deleted: the resume stops, naming the file.
  std::string lost;
  CHECK_THROWS(run_active_learning(p, 1, 3, host(), store, "", die_at(2, lost)));
  const auto missing = checkpoint_file(dir.path() / lost, 1);
  REQUIRE(std::filesystem::remove(missing));
  CHECK_THROWS_WITH_AS(run_active_learning(p, 1, 3, host(), store, lost),
                       doctest::Contains(("checkpoint " + missing.string() + " is missing").c_str()), Error);
  CHECK(store.find_run(lost)->status == "failed");
  CHECK(store.find_run(lost)->message.find(missing.string()) != std::string::npos);
  CHECK(store.cycles(lost).size() == 2);  // nothing more was recorded
}

TEST_CASE("a resumed run re-runs its own [[strategies]] entry (by position) through `quarry run --resume`") {
  TempDir dir;
  const auto results = (dir.path() / "results").string();
  // One strategy listed twice with other parameters: entry 0 and entry 1 share a name.
  auto text = synthetic_pipeline(results, "", 50, 3);
  text = text.substr(0, text.find("[[strategies]]")) +
         "[[strategies]]\nname = \"ranked\"\nmethod = \"most_confident\"\n\n"
         "[[strategies]]\nname = \"ranked\"\nmethod = \"most_uncertain\"\n";
  const auto file = (dir.path() / "twice.toml").string();
  std::ofstream(file) << text;
  auto p = load_pipeline(file, {}, &host());
  REQUIRE(p.strategies.size() == 2);
  REQUIRE(p.strategies[0].name == p.strategies[1].name);
  REQUIRE(p.strategies[1].params.get_string("method") == "most_uncertain");
  Store store(std::filesystem::path(results) / "quarry.db");

  const auto entry1 = store.cycles(run_active_learning(p, 1, 3, host(), store).run_id);
  const auto entry0 = store.cycles(run_active_learning(p, 0, 3, host(), store).run_id);
  REQUIRE(entry1.size() == 5);
  REQUIRE(entry0.size() == 5);
  for (std::size_t c = 0; c + 1 < entry1.size(); ++c) CHECK(entry1[c].queried != entry0[c].queried);

  // Entry 1 killed during cycle 2, then continued by the executable.
  const auto resume = [&](const std::string& id, const std::string& log) {
    const auto r = run_process({quarry_binary(), "--plugin-path", test_plugin_dir().string(), "run", "--resume", id,
                                "--results", results},
                               dir.path() / log, 300);
    INFO(r.output);
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.crashed());
  };
  std::string killed;
  CHECK_THROWS(run_active_learning(p, 1, 3, host(), store, "", die_at(2, killed)));
  REQUIRE(store.cycles(killed).size() == 2);
  auto rec = store.find_run(killed);
  REQUIRE(rec.has_value());
  CHECK(rec->strategy == "ranked");
  CHECK(rec->strategy_index == 1);
  CHECK(strategy_index_of(p, *rec) == 1);
  resume(killed, "resume.log");
  CHECK(store.find_run(killed)->status == "finished");
  check_same_cycles(store.cycles(killed), entry1);

  // Runs stored before positions were (strategy_index NULL, read as -1) take the first entry
  // of their strategy's name: continued, such a run queries as entry 0 from then on.
  RunRecord old = *rec;
  old.strategy_index = -1;
  CHECK(strategy_index_of(p, old) == 0);
  old.strategy_index = 7;  // out of range
  CHECK(strategy_index_of(p, old) == 0);
  auto renamed = p;
  renamed.strategies[1].name = "entropy";  // the recorded position names another strategy
  old.strategy_index = 1;
  CHECK(strategy_index_of(renamed, old) == 0);
  old.strategy = "margin";
  CHECK_THROWS_WITH_AS(strategy_index_of(p, old), doctest::Contains("its strategy 'margin' is not in its stored pipeline"),
                       Error);

  std::string legacy;
  CHECK_THROWS(run_active_learning(p, 1, 3, host(), store, "", die_at(2, legacy)));
  REQUIRE(store.cycles(legacy).size() == 2);
  REQUIRE(sqlite3_exec(store.handle(), ("UPDATE runs SET strategy_index = NULL WHERE id = '" + legacy + "'").c_str(),
                       nullptr, nullptr, nullptr) == SQLITE_OK);
  CHECK(store.find_run(legacy)->strategy_index == -1);
  resume(legacy, "legacy.log");
  const auto got = store.cycles(legacy);
  REQUIRE(got.size() == 5);
  CHECK(got[0].queried == entry1[0].queried);  // cycles 0 and 1 ran as entry 1
  CHECK(got[1].queried == entry1[1].queried);
  CHECK(got[2].queried != entry1[2].queried);  // then on as entry 0 (most confident)
}

}  // namespace test_resume
