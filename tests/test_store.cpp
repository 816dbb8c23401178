#include "testing.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "core/store/store.hpp"
#include "support.hpp"

namespace test_store {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::TempDir;

TEST_CASE("store round trip: runs, cycles, queried indices, trials, CSV") {
  TempDir dir;
  Store s(dir.path() / "quarry.db");
  RunRecord r;
  r.id = "study-entropy-s1-abc";
  r.study = "study";
  r.kind = "al";
  r.strategy = "entropy";
  r.seed = 1;
  r.status = "running";
  s.create_run(r);
  CycleRecord c0;
  c0.cycle = 0;
  c0.labeled = 3;
  c0.test_accuracy = 0.5;
  c0.queried = {7, 8};
  c0.queried_train = {70, 80};
  s.add_cycle(r.id, c0, {{1, 10, 0}, {2, 20, 0}, {3, 30, 0}});
  CycleRecord c1;
  c1.cycle = 1;
  c1.labeled = 5;
  c1.test_accuracy = 0.6;
  c1.diverged = true;
  c1.diverged_epoch = 4;
  s.add_cycle(r.id, c1);
  auto cycles = s.cycles(r.id);
  REQUIRE(cycles.size() == 2);
  CHECK(cycles[0].queried == std::vector<std::int64_t>{7, 8});
  CHECK(cycles[0].queried_train == std::vector<std::int64_t>{70, 80});
  CHECK(cycles[1].diverged);
  CHECK(cycles[1].diverged_epoch == 4);
  auto acq = s.acquired(r.id);
  REQUIRE(acq.size() == 5);
  CHECK(acq[0].pool_index == 1);
  CHECK(acq[4].cycle == 1);
  CHECK(s.find_run("study-ent")->id == r.id);  // unique prefix
  std::string why;
  CHECK_FALSE(s.find_run("nope", &why).has_value());
  CHECK(why.find("no run 'nope'") != std::string::npos);
  // A cycle cannot be written twice.
  CHECK_THROWS(s.add_cycle(r.id, c1));
  CHECK(s.cycles(r.id).size() == 2);
  s.add_trial({"search-1", 0, "{\"lr\": 0.1}", "complete", 0.8, 0.5, 1.0});
  CHECK(s.trials("search-1").size() == 1);
  s.export_csv(dir.path() / "csv");
  std::ifstream in(dir.path() / "csv" / "cycles.csv");
  std::string header, row;
  std::getline(in, header);
  CHECK(header.rfind("run_id,cycle,labeled,test_accuracy", 0) == 0);
  int rows = 0;
  while (std::getline(in, row)) ++rows;
  CHECK(rows == 2);
}

TEST_CASE("several processes writing one store at once lose nothing") {
  TempDir dir;
  const auto db = dir.path() / "quarry.db";
  { Store init(db); }
  const int procs = 6, cycles = 25;
  std::vector<pid_t> pids;
  for (int p = 0; p < procs; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      try {
        Store s(db);
        RunRecord r;
        r.id = "run-" + std::to_string(p);
        r.study = "concurrency";
        r.kind = "al";
        s.create_run(r);
        for (int c = 0; c < cycles; ++c) {
          CycleRecord rec;
          rec.cycle = c;
          rec.labeled = c + 1;
          rec.queried = {c * 2, c * 2 + 1};
          rec.queried_train = rec.queried;
          s.add_cycle(r.id, rec);
        }
      } catch (...) {
        rc = 1;
      }
      _exit(rc);
    }
    pids.push_back(pid);
  }
  for (auto pid : pids) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Store s(db);
  CHECK(s.runs().size() == static_cast<std::size_t>(procs));
  for (int p = 0; p < procs; ++p) {
    CHECK(s.cycles("run-" + std::to_string(p)).size() == static_cast<std::size_t>(cycles));
    CHECK(s.acquired("run-" + std::to_string(p)).size() == static_cast<std::size_t>(2 * cycles));
  }
}

}  // namespace test_store
