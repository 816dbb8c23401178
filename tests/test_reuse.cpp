#include "testing.hpp"

#include <cmath>
#include <fstream>

#include "core/al/loop.hpp"
#include "core/al/pool_file.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/util/log.hpp"
#include "core/reuse/reuse.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_reuse {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

TEST_CASE("a saved pool trains another architecture, linked to its source run and size") {
  TempDir dir;
  const auto file = (dir.path() / "p.toml").string();
  std::ofstream(file) << synthetic_pipeline(dir.str(), "", 30);
  auto p = load_pipeline(file, {}, &host());
  Store store(dir.path() / "quarry.db");
  auto src = run_active_learning(p, 1, 4, host(), store);

  // The target pipeline: the same data and protocol, another architecture.
  auto text = synthetic_pipeline(dir.str(), "", 30);
  const std::string cnn = "name = \"small_cnn\"\nwidth = 8\nfeature_dim = 16";
  REQUIRE(text.find(cnn) != std::string::npos);
  text.replace(text.find(cnn), cnn.size(), "name = \"wide_resnet\"\ndepth = 10\nwiden = 1");
  const auto target = (dir.path() / "wrn.toml").string();
  std::ofstream(target) << text;
  quarry::testing::CaptureLogger log;
  ReuseRequest r;
  r.pipeline = target;
  r.pools = {src.run_id + "@20", src.run_id};
  auto ids = reuse_pools(r, host(), log);
  REQUIRE(ids.size() == 2);
  auto run = store.find_run(ids[0]);
  REQUIRE(run.has_value());
  CHECK(run->kind == "reuse");
  CHECK(run->model == "wide_resnet");
  CHECK(run->source_run == src.run_id);
  CHECK(run->source_size == 20);
  CHECK(run->strategy == "entropy");
  CHECK(run->status == "finished");
  auto cycles = store.cycles(ids[0]);
  REQUIRE(cycles.size() == 1);
  CHECK(cycles[0].labeled == 20);
  // An accuracy over the 120 test images: a whole number of them.
  CHECK(cycles[0].test_accuracy * 120 == doctest::Approx(std::round(cycles[0].test_accuracy * 120)));
  // The reused pool is exactly the source's first 20 labels, with their acquisition cycles.
  auto src_acq = store.acquired(src.run_id);
  auto acq = store.acquired(ids[0]);
  REQUIRE(acq.size() == 20);
  for (std::size_t i = 0; i < acq.size(); ++i) {
    CHECK(acq[i].train_index == src_acq[i].train_index);
    CHECK(acq[i].cycle == src_acq[i].cycle);
  }
  CHECK(store.cycles(ids[1])[0].labeled == 30);

  // A study name stands for every active-learning run of the study (not the reuse runs).
  ReuseRequest study = r;
  study.pools = {p.name + "@20"};
  const auto by_study = reuse_pools(study, host(), log);
  REQUIRE(by_study.size() == 1);
  CHECK(store.find_run(by_study[0])->source_run == src.run_id);
  CHECK(store.find_run(by_study[0])->hp_label == "lr=0.05 wd=0.0005");
  // The same pool, seed and setting train the same model: bit-identical on the CPU.
  CHECK(store.cycles(by_study[0])[0].test_accuracy == cycles[0].test_accuracy);
  CHECK(store.cycles(by_study[0])[0].test_nll == cycles[0].test_nll);

  ReuseRequest bad = r;
  bad.pools = {src.run_id + "@25"};
  CHECK_THROWS_WITH_AS(reuse_pools(bad, host(), log), doctest::Contains("never trained on 25 labels"), Error);
  bad.pools = {src.run_id + "@many"};
  CHECK_THROWS_WITH_AS(reuse_pools(bad, host(), log), doctest::Contains("expected RUN or RUN@SIZE"), Error);
}

namespace {
/// Lines of `log` containing `needle`.
int count_lines(const quarry::testing::CaptureLogger& log, const std::string& needle) {
  int n = 0;
  for (const auto& l : log.lines)
    if (l.find(needle) != std::string::npos) ++n;
  return n;
}
}  // namespace

TEST_CASE("reuse --tune trains the final model once: the search's retraining is the reuse run's result") {
  TempDir dir;
  Store store(dir.path() / "quarry.db");
  auto src_p = parse_pipeline(synthetic_pipeline(dir.str(), "", 20, 1), "src.toml", {}, &host());
  const auto src = run_active_learning(src_p, 1, 4, host(), store);
  // The target: the same protocol with 2 epochs and a small random search.
  const auto target = (dir.path() / "tuned.toml").string();
  std::ofstream(target) << synthetic_pipeline(dir.str(),
                                              "\n[hpo]\ntrials = 2\nsampler = \"random\"\nsplits = 1\n"
                                              "split_fraction = 0.25\n",
                                              20, 2);
  quarry::testing::CaptureLogger log;
  ReuseRequest r;
  r.pipeline = target;
  r.pools = {src.run_id + "@20"};
  r.tune = true;
  const auto ids = reuse_pools(r, host(), log);
  REQUIRE(ids.size() == 1);
  // The trainer reports the last epoch of each training it is given a logger for: the
  // search's retraining on all 20 labels (the trials train silently on 15 of them). A second
  // training of the final model would add a second line.
  CHECK(count_lines(log, "training on 20 labels, epoch 2/2 (100%)") == 1);
  CHECK(count_lines(log, " labels, epoch ") == 2);  // its epochs 1/2 and 2/2; nothing else trained with a logger
  const auto run = store.find_run(ids[0]);
  REQUIRE(run.has_value());
  CHECK(run->status == "finished");
  CHECK(run->hp_label == "tuned (TPE)");
  const auto results = store.search_results(ids[0]);
  REQUIRE(results.size() == 1);
  CHECK(results[0].search == ids[0] + "/20");
  CHECK(results[0].pool_size == 20);
  const auto cycles = store.cycles(ids[0]);
  REQUIRE(cycles.size() == 1);
  CHECK(cycles[0].labeled == 20);
  CHECK(cycles[0].test_accuracy == results[0].test_accuracy);
  CHECK(cycles[0].test_nll == results[0].test_nll);
}

TEST_CASE("seed 0 is a seed: a pool collected with seed 0 is reused with seed 0, whatever [run].seeds says") {
  TempDir dir;
  Store store(dir.path() / "quarry.db");
  const auto file = (dir.path() / "p.toml").string();
  std::ofstream(file) << synthetic_pipeline(dir.str(), "", 40, 1);
  auto p = load_pipeline(file, {"run.seeds=[0]"}, &host());
  REQUIRE(p.seeds == std::vector<std::int64_t>{0});
  const auto src = run_active_learning(p, 0, 0, host(), store);
  REQUIRE(store.find_run(src.run_id)->seed == 0);

  quarry::testing::CaptureLogger log;
  ReuseRequest r;
  r.pipeline = file;
  r.sets = {"run.seeds=[5]"};
  r.pools = {src.run_id};
  std::vector<std::string> ids;
  REQUIRE_NOTHROW(ids = reuse_pools(r, host(), log));
  REQUIRE(ids.size() == 1);
  const auto run = store.find_run(ids[0]);
  REQUIRE(run.has_value());
  CHECK(run->seed == 0);
  CHECK(run->status == "finished");
  CHECK(run->source_size == 40);
  const auto src_acq = store.acquired(src.run_id), acq = store.acquired(ids[0]);
  REQUIRE(acq.size() == src_acq.size());
  for (std::size_t i = 0; i < acq.size(); ++i) CHECK(acq[i].pool_index == src_acq[i].pool_index);  // same split

  // What seed 5 would have done: the same labels without a seed in the file fall back to
  // [run].seeds, whose validation split holds some of them out.
  auto pool = pool_of_run(store, src.run_id, 0);
  REQUIRE(pool.seed == std::optional<std::int64_t>{0});
  pool.seed.reset();
  const auto no_seed = (dir.path() / "no_seed.json").string();
  write_pool_file(no_seed, pool);
  CHECK_FALSE(read_pool_file(no_seed).seed.has_value());
  ReuseRequest r5 = r;
  r5.pools.clear();
  r5.pool_files = {no_seed};
  CHECK_THROWS_WITH_AS(reuse_pools(r5, host(), log), doctest::Contains("is not in this run's pool"), Error);
  bool failed_with_seed_5 = false;
  for (const auto& run5 : store.runs())
    if (run5.kind == "reuse" && run5.seed == 5) failed_with_seed_5 = run5.status == "failed";
  CHECK(failed_with_seed_5);
}

TEST_CASE("parse_pool_ref: RUN or RUN@SIZE with a positive size, anything else names --pool") {
  const auto a = parse_pool_ref("RUN@20");
  CHECK(a.run == "RUN");
  CHECK(a.size == 20);
  const auto b = parse_pool_ref("t-entropy-s1-abc123");
  CHECK(b.run == "t-entropy-s1-abc123");
  CHECK(b.size == 0);
  for (const std::string bad : {"RUN@20abc", "RUN@", "RUN@0", "RUN@-3", "@5", "", "RUN@+5", "RUN@ 5",
                                "RUN@99999999999999999999"}) {
    CAPTURE(bad);
    try {
      parse_pool_ref(bad);
      FAIL("expected an Error");
    } catch (const Error& e) {
      const std::string m = e.what();
      CHECK(m.rfind("--pool " + bad + ":", 0) == 0);
      CHECK(m.find("expected RUN or RUN@SIZE") != std::string::npos);
    }
  }
  CHECK_THROWS_WITH_AS(parse_pool_ref("x@y", "--from"), doctest::Contains("--from x@y: expected RUN or RUN@SIZE"),
                       Error);
}

}  // namespace test_reuse
