#include "testing.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/al/pool_file.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/sweep/sweep.hpp"
#include "quarry/error.hpp"
#include "process.hpp"
#include "support.hpp"

namespace test_config {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::source_dir;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {
std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    parse_pipeline(text, "p.toml", sets, &host());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
/// "p.toml:LINE:COL" of the first occurrence of `needle` (1-based, as TOML parsers count).
std::string pos_of(const std::string& text, const std::string& needle, std::size_t col_offset = 0) {
  const auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
  const auto line_start = text.rfind('\n', at);
  const auto col = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1 + col_offset;
  return "p.toml:" + std::to_string(line) + ":" + std::to_string(col);
}
}  // namespace

TEST_CASE("a valid pipeline resolves with defaults filled in") {
  auto p = parse_pipeline(synthetic_pipeline("r"), "p.toml", {}, &host());
  CHECK(p.name == "t");
  CHECK(p.train.epochs == 3);
  CHECK(p.train.momentum == doctest::Approx(0.9));
  CHECK(p.train.epoch_mode == "sampled");
  CHECK(p.strategies.size() == 2);
  CHECK(p.dataset.params.get_int("train_size") == 400);
  CHECK(p.dataset.params.get_float("noise") == doctest::Approx(0.25));  // the plugin's default
  CHECK(p.resolved_toml.find("momentum = 0.9") != std::string::npos);
  // The resolved pipeline parses back to the same thing.
  auto again = parse_pipeline(p.resolved_toml, "resolved.toml", {}, &host());
  CHECK(again.resolved_toml == p.resolved_toml);
}

TEST_CASE("a TOML syntax error names file:line:column") {
  auto e = error_of("[run]\nseeds = [1,\n[model]\n");
  CHECK(e.find("p.toml:") == 0);
  CHECK(e.find("TOML syntax error") != std::string::npos);
}

TEST_CASE("an unknown key names file:line:column and the key path") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("[train]\n"), 8, "[train]\nlearning_rate = 0.1\n");
  auto e = error_of(text);
  CHECK(e.find(pos_of(text, "learning_rate") + ": key 'train.learning_rate': unknown key") == 0);
  CHECK(e.find("lr") != std::string::npos);  // the known keys are listed
}

TEST_CASE("a wrong type names the key and both types") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("lr = 0.05"), 9, "lr = \"fast\"");
  auto e = error_of(text);
  CHECK(e.find(pos_of(text, "lr = \"fast\"", 5) + ": key 'train.lr': expected float, got string") == 0);
}

TEST_CASE("out of range, zero and negative sizes") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("query_size = 10"), 15, "query_size = 0");
  CHECK(error_of(text).find("key 'al.query_size': expected a value >= 1, got 0") != std::string::npos);
  auto t2 = synthetic_pipeline("r");
  t2.replace(t2.find("batch_size = 16"), 15, "batch_size = -4");
  CHECK(error_of(t2).find("key 'train.batch_size': expected a value >= 1, got -4") != std::string::npos);
  auto t3 = synthetic_pipeline("r");
  t3.replace(t3.find("validation_fraction = 0.1"), 25, "validation_fraction = 1.5");
  CHECK(error_of(t3).find(pos_of(t3, "validation_fraction = 1.5", 22) +
                          ": key 'dataset.validation_fraction': expected a value <= 0.9") == 0);
}

TEST_CASE("missing required keys and sections") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("name = \"small_cnn\""), 18, "width = 8");
  text.replace(text.find("width = 8\nwidth = 8"), 10, "");
  CHECK(error_of(text).find("key 'model.name': missing required key") != std::string::npos);
  CHECK(error_of("[run]\nseeds=[1]\n").find("missing required section [dataset]") != std::string::npos);
}

TEST_CASE("an unknown plugin or plugin parameter is an error at its position") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("name = \"entropy\""), 16, "name = \"entropyy\"");
  auto e = error_of(text);
  CHECK(e.find("key 'strategies[1].name': unknown strategy 'entropyy'") != std::string::npos);
  CHECK(e.find("p.toml:") == 0);
  auto t2 = synthetic_pipeline("r");
  t2.replace(t2.find("width = 8"), 9, "width = \"wide\"");
  CHECK(error_of(t2).find("key 'model.width': expected integer, got string") != std::string::npos);
}

TEST_CASE("--set overrides any key, and a bad override names itself") {
  auto p = parse_pipeline(synthetic_pipeline("r"), "p.toml", {"train.lr=0.2", "al.budget=30", "strategies.1.name=margin", "model.name=small_cnn"}, &host());
  CHECK(p.train.lr == doctest::Approx(0.2));
  CHECK(p.al.budget == 30);
  CHECK(p.strategies[1].name == "margin");
  auto e = error_of(synthetic_pipeline("r"), {"train.epochs=many"});
  CHECK(e.find("--set train.epochs=many: key 'train.epochs': expected integer, got string") == 0);
  CHECK(error_of(synthetic_pipeline("r"), {"train.lr"}).find("expected key.path=value") != std::string::npos);
}

TEST_CASE("initial labels beyond the budget, and a bad device") {
  auto text = synthetic_pipeline("r");
  text.replace(text.find("initial = 10"), 12, "initial = 100");
  CHECK(error_of(text).find("key 'al.initial': 100 initial labels exceed the budget of 40") != std::string::npos);
  CHECK(error_of(synthetic_pipeline("r"), {"run.device=gpu"}).find("key 'run.device'") != std::string::npos);
}

TEST_CASE("every pipeline and sweep under configs/ loads") {
  namespace fs = std::filesystem;
  std::size_t pipelines = 0, sweeps = 0;
  for (const auto& e : fs::recursive_directory_iterator(source_dir() / "configs")) {
    if (e.path().extension() != ".toml") continue;
    CAPTURE(e.path().string());
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find("\n[sweep]") != std::string::npos || text.str().rfind("[sweep]", 0) == 0) {
      CHECK_NOTHROW(load_sweep(e.path().string(), &quarry::testing::host()));
      ++sweeps;
    } else {
      CHECK_NOTHROW(load_pipeline(e.path().string(), {}, &quarry::testing::host()));
      ++pipelines;
    }
  }
  CHECK(pipelines >= 5);
  CHECK(sweeps >= 3);
}

TEST_CASE("a pipeline or pool file path that is a directory is an error saying so") {
  TempDir dir;
  const auto folder = dir.path() / "configs";
  std::filesystem::create_directories(folder);
  CHECK_THROWS_WITH_AS(load_pipeline(folder.string(), {}, &host()),
                       doctest::Contains((folder.string() + ": cannot open the pipeline file (it is a directory").c_str()), Error);
  CHECK_THROWS_WITH_AS(read_pool_file(folder.string()),
                       doctest::Contains((folder.string() + ": cannot open the pool file (it is a directory").c_str()), Error);
  // A path that is not there says that instead.
  CHECK_THROWS_WITH_AS(load_pipeline((folder / "nope.toml").string(), {}, &host()),
                       doctest::Contains("nope.toml: cannot open the pipeline file (no such file)"), Error);
  // The executable: a user error (exit 2) with the same message, for run and validate.
  for (const std::string command : {"run", "validate"}) {
    CAPTURE(command);
    const auto r = quarry::testing::run_process({quarry::testing::quarry_binary(), command, folder.string()},
                                                dir.path() / (command + ".log"), 120);
    INFO(r.output);
    CHECK(r.exited);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("error: " + folder.string() + ": cannot open the pipeline file (it is a directory") !=
          std::string::npos);
    CHECK_FALSE(r.crashed());
  }
}

}  // namespace test_config
