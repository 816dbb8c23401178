#include "testing.hpp"

#include <fstream>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/util/log.hpp"
#include "core/al/reuse.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

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
  CHECK(cycles[0].test_accuracy >= 0.0);
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
  CHECK(store.find_run(by_study[0])->hp_label.rfind("lr=", 0) == 0);

  ReuseRequest bad = r;
  bad.pools = {src.run_id + "@25"};
  CHECK_THROWS_WITH_AS(reuse_pools(bad, host(), log), doctest::Contains("never trained on 25 labels"), Error);
  bad.pools = {src.run_id + "@many"};
  CHECK_THROWS_WITH_AS(reuse_pools(bad, host(), log), doctest::Contains("expected RUN or RUN@SIZE"), Error);
}
