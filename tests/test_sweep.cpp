#include "testing.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/report/report.hpp"
#include "core/store/store.hpp"
#include "core/sweep/sweep.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_sweep {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {

const std::string kQuarry = quarry::testing::quarry_binary();

void write(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file) << text;
}

/// A temp folder with base.toml (the synthetic pipeline: budget 20, 2 epochs) and sweep.toml.
struct SweepDir {
  TempDir dir;
  std::string sweep_file;
  explicit SweepDir(const std::string& sweep_text) {
    write(dir.path() / "base.toml", synthetic_pipeline("unused-results", "", 20, 2));
    sweep_file = (dir.path() / "sweep.toml").string();
    write(sweep_file, sweep_text);
  }
  std::string results() const { return (dir.path() / "runs").string(); }
};

const std::string kSmall = R"([sweep]
name = "tiny"
base = "base.toml"
results = "runs"
[grid]
strategies = ["random", "entropy"]
seeds = [1, 2]
)";

std::string error_of(const std::string& sweep_text) {
  SweepDir d(sweep_text);
  try {
    load_sweep(d.sweep_file, &host());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// `sinfo` answers: a Slurm controller is up.
bool slurm_up() {
  FILE* f = ::popen("sinfo -h -o %P 2>/dev/null", "r");
  if (!f) return false;
  char buf[256];
  std::string out;
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  return ::pclose(f) == 0 && !out.empty();
}

// Whether the Slurm tests can run: false (with a message) when Slurm is not up, a failure
// when QUARRY_REQUIRE_SLURM=1 (CI) says it must be.
bool slurm_or_skip() {
  if (slurm_up()) return true;
  const char* req = std::getenv("QUARRY_REQUIRE_SLURM");
  if (req && std::string(req) == "1")
    FAIL("QUARRY_REQUIRE_SLURM=1 but `sinfo` does not answer; start Slurm with scripts/slurm-up.sh");
  MESSAGE("skipped: Slurm is not up (`sinfo` does not answer); scripts/slurm-up.sh starts a local one");
  return false;
}

}  // namespace

TEST_CASE("a sweep expands to the cartesian product with deterministic ids and its overrides") {
  SweepDir d(R"([sweep]
name = "grid"
base = "base.toml"
results = "out"
[grid]
strategies = ["random", "entropy", "coreset"]
seeds = [1, 2]
[[grid.hp]]
name = "HP1"
"train.lr" = 0.001
"train.weight_decay" = 0.05
[[grid.hp]]
name = "HP4"
train = { lr = 0.1, weight_decay = 0.005 }
[grid.set]
"model.width" = [8, 12]
"al.query_size" = 5
)");
  const Sweep s = load_sweep(d.sweep_file, &host());
  CHECK(s.name == "grid");
  CHECK(s.results == (d.dir.path() / "out").string());
  CHECK(s.base == (d.dir.path() / "base.toml").string());
  REQUIRE(s.cells.size() == 3 * 2 * 2 * 2);
  CHECK(s.cells[0].id == "grid-random-HP1-8-s1");
  CHECK(s.cells[1].id == "grid-random-HP1-8-s2");
  CHECK(s.cells[2].id == "grid-random-HP1-12-s1");
  CHECK(s.cells.back().id == "grid-coreset-HP4-12-s2");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < s.cells.size(); ++i) {
    CHECK(s.cells[i].index == i);
    CHECK(ids.insert(s.cells[i].id).second);
  }
  // The same file expands to the same ids in the same order.
  const Sweep again = load_sweep(d.sweep_file, &host());
  for (std::size_t i = 0; i < s.cells.size(); ++i) CHECK(again.cells[i].id == s.cells[i].id);

  // Overrides reach the cell's pipeline: hp setting, extra axes, seed, the shared store.
  const auto& c = s.cells[2 * 2 * 2 + 3];  // entropy, HP1, width 12, seed 2
  CHECK(c.id == "grid-entropy-HP1-12-s2");
  CHECK(c.hp == "HP1");
  Pipeline p = load_pipeline(s.base, c.sets, &host());
  CHECK(p.train.lr == doctest::Approx(0.001));
  CHECK(p.train.weight_decay == doctest::Approx(0.05));
  CHECK(p.model.params.get_int("width") == 12);
  CHECK(p.al.query_size == 5);
  CHECK(p.seeds == std::vector<std::int64_t>{2});
  CHECK(p.results == s.results);
  CHECK(p.name == "grid");
  // The nested-table form of [[grid.hp]] works the same.
  Pipeline p4 = load_pipeline(s.base, s.cells[4].sets, &host());
  CHECK(s.cells[4].id == "grid-random-HP4-8-s1");
  CHECK(p4.train.lr == doctest::Approx(0.1));
  CHECK(p4.train.weight_decay == doctest::Approx(0.005));
  // A strategy the base does not have becomes the cell's only strategy.
  Pipeline pc = load_pipeline(s.base, s.cells.back().sets, &host());
  REQUIRE(pc.strategies.size() == 1);
  CHECK(pc.strategies[0].name == "coreset");

  // The command line a local child gets.
  const auto args = cell_arguments(s, c, 3, {});
  const std::vector<std::string> head = {"run", s.base, "--strategy", "entropy", "--seed", "2", "--run-id", c.id};
  CHECK(std::vector<std::string>(args.begin(), args.begin() + 8) == head);
  CHECK(args.back() == "--set=run.threads=3");
  CHECK(std::find(args.begin(), args.end(), "--set=train.lr=0.001") != args.end());

  // Job array script: finished cells left out, options as asked.
  SlurmOptions so;
  so.quarry_exe = "/opt/quarry/bin/quarry";
  so.partition = "gpu";
  so.time = "12:00:00";
  so.gpus = 1;
  so.jobs = 2;
  const std::string script = slurm_script(s, so, {0, 1, 3, 4, 5, 9});
  CHECK(script.find("#SBATCH --array=0-1,3-5,9%2\n") != std::string::npos);
  CHECK(script.find("#SBATCH --partition=gpu\n") != std::string::npos);
  CHECK(script.find("#SBATCH --time=12:00:00\n") != std::string::npos);
  CHECK(script.find("#SBATCH --gres=gpu:1\n") != std::string::npos);
  CHECK(script.find("#SBATCH --output=" + s.results + "/slurm/grid-%A_%a.out\n") != std::string::npos);
  CHECK(script.find("#SBATCH --error=" + s.results + "/slurm/grid-%A_%a.err\n") != std::string::npos);
  CHECK(script.find("exec /opt/quarry/bin/quarry sweep " + s.file + " --cell \"$SLURM_ARRAY_TASK_ID\"") !=
        std::string::npos);
}

TEST_CASE("without [grid] axes a sweep takes the base's strategies and seeds") {
  SweepDir d("[sweep]\nbase = \"base.toml\"\n");
  const Sweep s = load_sweep(d.sweep_file, &host());
  CHECK(s.name == "sweep");  // the file's stem
  REQUIRE(s.cells.size() == 2);
  CHECK(s.cells[0].id == "sweep-random-s1");
  CHECK(s.cells[1].id == "sweep-entropy-s1");
}

TEST_CASE("a bad sweep names file:line:column and the key") {
  auto has = [](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(msg.find(part) != std::string::npos);
  };
  // An unknown [grid] key.
  auto e = error_of(kSmall + "seed = [3]\n");
  has(e, "sweep.toml:8:8");
  has(e, "key 'grid.seed'");
  has(e, "unknown key");
  // A --set key the pipeline does not have: points at the setting in the sweep file.
  e = error_of(kSmall + "[[grid.hp]]\nname = \"HP1\"\n\"train.lrr\" = 0.1\n");
  has(e, "sweep.toml:10:15");
  has(e, "grid.hp[0].train.lrr");
  has(e, "unknown key");
  // A value of the wrong type in [grid.set].
  e = error_of(kSmall + "[grid.set]\n\"train.epochs\" = [2, \"many\"]\n");
  has(e, "sweep.toml:9:22");
  has(e, "grid.set.train.epochs");
  has(e, "expected");
  // Wrong types and missing keys of the sweep itself.
  e = error_of("[sweep]\nbase = \"base.toml\"\n[grid]\nseeds = \"1\"\n");
  has(e, "sweep.toml:4:9");
  has(e, "key 'grid.seeds'");
  e = error_of("[sweep]\nname = \"x\"\n");
  has(e, "sweep.toml:1:1");
  has(e, "key 'sweep.base'");
  e = error_of("[sweep]\nbase = \"nope.toml\"\n");
  has(e, "sweep.toml:2:8");
  has(e, "nope.toml");
  e = error_of(kSmall + "[[grid.hp]]\nname = \"A\"\n\"run.seeds\" = [4]\n");
  has(e, "sweep.toml:10:15");
  has(e, "[grid] seeds");
  e = error_of(kSmall + "[[grid.hp]]\nname = \"A\"\n\"train.lr\" = 0.1\n[[grid.hp]]\nname = \"A\"\n\"train.lr\" = 0.2\n");
  has(e, "sweep.toml:12:8");
  has(e, "defined twice");
  e = error_of(kSmall + "[grid.set]\n\"strategies.0.name\" = [\"badge\"]\n");
  has(e, "[grid] strategies");
  // A strategy no plugin provides.
  e = error_of("[sweep]\nbase = \"base.toml\"\n[grid]\nstrategies = [\"random\", \"nonesuch\"]\n");
  has(e, "sweep.toml:4:25");
  has(e, "nonesuch");
}

TEST_CASE("the local executor runs every cell into one store, resumes and skips") {
  SweepDir d(kSmall);
  const Sweep s = load_sweep(d.sweep_file, &host());
  REQUIRE(s.cells.size() == 4);
  // Interrupt one cell after its first cycle, as a killed process would leave it.
  {
    std::filesystem::create_directories(s.results);
    Store store(std::filesystem::path(s.results) / "quarry.db");
    const auto& c = s.cells[1];
    Pipeline p = load_pipeline(s.base, c.sets, &host());
    CycleHook die = [](Experiment&, const std::string&, std::int64_t cycle, const std::vector<std::int64_t>&,
                       const TrainConfig&) -> std::optional<TrainConfig> {
      if (cycle == 1) throw std::runtime_error("killed");
      return std::nullopt;
    };
    CHECK_THROWS(run_active_learning(p, 0, c.seed, host(), store, c.id, die));
    CHECK(store.cycles(c.id).size() == 1);
  }
  LocalOptions opts;
  opts.quarry_exe = kQuarry;
  opts.jobs = 2;
  std::ostringstream out;
  const auto sum = run_sweep_local(s, opts, out);
  INFO(out.str());
  CHECK(sum.finished == 4);
  CHECK(sum.failed == 0);
  CHECK(sum.skipped == 0);
  CHECK(sum.exit_code() == 0);
  CHECK(out.str().find("resuming") != std::string::npos);
  CHECK(out.str().find("ETA") != std::string::npos);
  {
    Store store(std::filesystem::path(s.results) / "quarry.db");
    CHECK(store.runs().size() == 4);
    for (const auto& c : s.cells) {
      auto run = store.find_run(c.id);
      REQUIRE(run.has_value());
      CHECK(run->id == c.id);
      CHECK(run->status == "finished");
      CHECK(run->strategy == c.strategy);
      CHECK(run->seed == c.seed);
      CHECK(run->study == "tiny");
      const auto cycles = store.cycles(c.id);
      REQUIRE(cycles.size() == 2);  // 10 initial + 1 query of 10 = budget 20
      CHECK(cycles.back().labeled == 20);
    }
  }
  CHECK(std::filesystem::exists(std::filesystem::path(s.results) / "csv" / "cycles.csv"));
  for (const auto& st : cell_statuses(s)) CHECK(st == "finished");
  // Running it again does nothing.
  std::ostringstream again;
  const auto sum2 = run_sweep_local(s, opts, again);
  CHECK(sum2.finished == 0);
  CHECK(sum2.skipped == 4);
  CHECK(sum2.exit_code() == 0);
  CHECK(again.str().find("nothing to run") != std::string::npos);
}

TEST_CASE("a sweep may vary any pipeline key, and the report groups its runs by what varies") {
  SweepDir d(R"([sweep]
name = "budget"
base = "base.toml"
results = "runs"
[grid]
strategies = ["random", "entropy"]
seeds = [1]
[grid.set]
"al.initial" = [10, 6]
"al.query_size" = [5, 10]
"train.epochs" = 1
)");
  const Sweep s = load_sweep(d.sweep_file, &host());
  REQUIRE(s.cells.size() == 8);
  CHECK(s.cells[0].id == "budget-random-10-5-s1");
  CHECK(s.cells[3].id == "budget-random-6-10-s1");
  const Pipeline p3 = load_pipeline(s.base, s.cells[3].sets, &host());
  CHECK(p3.al.initial == 6);
  CHECK(p3.al.query_size == 10);
  CHECK(p3.train.epochs == 1);
  LocalOptions opts;
  opts.quarry_exe = kQuarry;
  opts.jobs = 2;
  std::ostringstream out;
  const auto sum = run_sweep_local(s, opts, out);
  INFO(out.str());
  REQUIRE(sum.finished == 8);

  const auto data = report::load({s.results}, {"budget"});
  CHECK(data.varying == std::vector<std::string>{"al.initial", "al.query_size"});  // not the seed, strategy or id
  const auto curves = report::learning_curves(data, "auto");
  REQUIRE(curves.size() == 8);  // strategy x setting
  CHECK(curves[0].group == "random, al.initial=6 al.query_size=5");  // settings in numeric order
  CHECK(curves[3].group == "random, al.initial=10 al.query_size=10");
  std::vector<std::int64_t> labeled;
  for (const auto& pt : curves[0].points) labeled.push_back(pt.labeled);
  CHECK(labeled == std::vector<std::int64_t>{6, 11, 16, 20});  // budget 20: the last query takes 4
  CHECK(curves[3].points.size() == 2);
  const auto tables = report::table1(data);
  REQUIRE(tables.size() == 1);
  CHECK(tables[0].hps.size() == 4);
  const auto aubc = report::aubc_table(data);
  REQUIRE(aubc.size() == 8);
  CHECK(aubc[0].from == 6);
  CHECK(aubc[0].to == 20);
}

TEST_CASE("a failing cell makes the local sweep fail and is reported") {
  SweepDir d(kSmall);
  const Sweep s = load_sweep(d.sweep_file, &host());
  LocalOptions opts;
  opts.quarry_exe = "/bin/false";  // every child fails
  opts.jobs = 2;
  std::ostringstream out;
  const auto sum = run_sweep_local(s, opts, out);
  CHECK(sum.failed == 4);
  CHECK(sum.exit_code() != 0);
  CHECK(out.str().find("FAILED tiny-random-s1") != std::string::npos);
}

TEST_CASE("the slurm executor runs a job array into the store (needs a running Slurm)") {
  if (!slurm_or_skip()) return;
  SweepDir d(kSmall);
  const Sweep s = load_sweep(d.sweep_file, &host());
  // One cell finished beforehand is left out of the array.
  {
    LocalOptions lo;
    lo.quarry_exe = kQuarry;
    lo.jobs = 1;
    Sweep first = s;
    first.cells.resize(1);
    std::ostringstream o;
    REQUIRE(run_sweep_local(first, lo, o).finished == 1);
  }
  SlurmOptions opts;
  opts.quarry_exe = kQuarry;
  opts.wait = true;
  opts.poll_seconds = 1;
  opts.cpus_per_task = 1;
  std::ostringstream out;
  const auto sum = run_sweep_slurm(s, opts, out);
  INFO(out.str());
  CHECK(out.str().find("job id: ") != std::string::npos);
  CHECK(sum.skipped == 1);
  CHECK(sum.finished == 3);
  CHECK(sum.failed == 0);
  CHECK(sum.exit_code() == 0);
  std::ifstream script(std::filesystem::path(s.results) / "slurm" / "tiny.sbatch");
  std::stringstream text;
  text << script.rdbuf();
  CHECK(text.str().find("#SBATCH --array=1-3\n") != std::string::npos);
  Store store(std::filesystem::path(s.results) / "quarry.db");
  for (const auto& c : s.cells) {
    auto run = store.find_run(c.id);
    REQUIRE(run.has_value());
    CHECK(run->status == "finished");
    CHECK(store.cycles(c.id).size() == 2);
    CHECK(store.acquired(c.id).size() == 20);
  }
}

TEST_CASE("Ctrl-C while waiting on a slurm array cancels it (needs a running Slurm)") {
  if (!slurm_or_skip()) return;
  SweepDir d(kSmall);
  const Sweep s = load_sweep(d.sweep_file, &host());
  // Tasks that would run for minutes: a stand-in for quarry that only sleeps.
  const auto slow = std::filesystem::path(s.results).parent_path() / "slow-quarry.sh";
  std::ofstream(slow) << "#!/bin/sh\nexec sleep 300\n";
  std::filesystem::permissions(slow, std::filesystem::perms::owner_all);
  SlurmOptions opts;
  opts.quarry_exe = slow.string();
  opts.wait = true;
  opts.poll_seconds = 1;
  opts.cpus_per_task = 1;
  const auto script_file = std::filesystem::path(s.results) / "slurm" / "tiny.sbatch";
  // Ctrl-C once the array has been submitted (the script is written just before sbatch).
  std::thread ctrl_c([&] {
    for (int i = 0; i < 300 && !std::filesystem::exists(script_file); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::seconds(3));
    kill(getpid(), SIGINT);
  });
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  std::ostringstream out;
  const auto sum = run_sweep_slurm(s, opts, out);
  ctrl_c.join();
  INFO(out.str());
  CHECK(out.str().find("interrupted: cancelled job") != std::string::npos);
  CHECK(sum.interrupted == s.cells.size());
  CHECK(sum.failed == 0);
  CHECK(sum.exit_code() != 0);
  const auto text = out.str();
  const auto at = text.find("job id: ");
  REQUIRE(at != std::string::npos);
  const auto job = text.substr(at + 8, text.find('\n', at) - at - 8);
  FILE* q = popen(("squeue -h -j " + job + " -o %i 2>/dev/null").c_str(), "r");
  REQUIRE(q != nullptr);
  char buf[256];
  const bool listed = std::fgets(buf, sizeof buf, q) != nullptr;
  pclose(q);
  CHECK_FALSE(listed);  // cancelled, not left running
  // The SIGINT disposition from before the sweep is back.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  const bool restored = now.sa_handler == before.sa_handler;
  CHECK(restored);
}

TEST_CASE("a sweep file goes through the same character check as a pipeline") {
  // toml++ has undefined behaviour on some non-ASCII characters outside strings (found by the
  // pipeline fuzzer); sweep files are refused with the position as pipelines are.
  const auto e = error_of("[sweep]\nbase = \"base.toml\" \xc3\xa9\n");
  INFO(e);
  CHECK(e.find("sweep.toml:2:20") != std::string::npos);
  CHECK(e.find("U+00E9") != std::string::npos);
}

}  // namespace test_sweep
