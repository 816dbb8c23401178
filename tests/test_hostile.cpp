// Hostile input: the real `quarry` executable on broken pipelines
// (tests/hostile/pipelines/, expectations in expected.txt), broken data files
// (generated here), misbehaving and refused plugins (tests/plugins/), and the
// pipeline fuzzer's inputs (tests/fuzz/{corpus,regressions}/pipeline/). Each
// must fail with a non-zero exit and a message that names the problem and where
// it is, never crash, and leave the results store intact.
#include "testing.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "process.hpp"
#include "quarry/error.hpp"
#include "store_checks.hpp"
#include "support.hpp"

namespace test_hostile {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing;
namespace fs = std::filesystem;

namespace {

const fs::path kHostile = quarry::testing::source_dir() / "tests" / "hostile";

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

/// Run quarry with `args`; check it failed cleanly with `expected` in its output and left
/// any store under `results` intact, with every run in it marked failed and no partial cycle.
void expect_clean_failure(const std::vector<std::string>& args, const std::string& expected, const fs::path& results,
                          const fs::path& log) {
  std::vector<std::string> argv = {quarry_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto r = run_process(argv, log, 300);
  std::string cmd;
  for (const auto& a : args) cmd += " " + a;
  CAPTURE(cmd);
  INFO(r.output);
  CHECK(r.exited);           // not killed by a signal (segfault, abort, our timeout)
  CHECK_FALSE(r.crashed());  // no sanitizer report, no std::terminate
  CHECK(r.exit_code == 2);   // 2: a quarry::Error (3: another exception, which names nothing)
  CHECK(r.output.find("error: ") != std::string::npos);
  CHECK(r.output.find(expected) != std::string::npos);
  const auto db = results / "quarry.db";
  if (fs::exists(db)) {
    Store store(db);
    CHECK(integrity_check(store) == "ok");
    for (const auto& run : store.runs()) {
      CAPTURE(run.id);
      CHECK(run.status == "failed");
      CHECK_FALSE(run.message.empty());
      CHECK(partial_cycle_problem(store, run.id, 10) == "");
    }
  }
}

void write_file(const fs::path& file, const std::vector<std::uint8_t>& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

std::vector<std::uint8_t> idx_images(std::uint32_t count, std::uint32_t side) {
  std::vector<std::uint8_t> b;
  put_u32(b, 0x00000803);
  put_u32(b, count);
  put_u32(b, side);
  put_u32(b, side);
  for (std::uint32_t i = 0; i < count * side * side; ++i) b.push_back(static_cast<std::uint8_t>(i * 7));
  return b;
}

std::vector<std::uint8_t> idx_labels(std::uint32_t count) {
  std::vector<std::uint8_t> b;
  put_u32(b, 0x00000801);
  put_u32(b, count);
  for (std::uint32_t i = 0; i < count; ++i) b.push_back(static_cast<std::uint8_t>(i % 10));
  return b;
}

std::vector<std::uint8_t> cifar10_records(int count) {
  std::vector<std::uint8_t> b;
  for (int r = 0; r < count; ++r) {
    b.push_back(static_cast<std::uint8_t>(r % 10));
    for (int i = 0; i < 3072; ++i) b.push_back(static_cast<std::uint8_t>(i + r));
  }
  return b;
}

/// A valid small MNIST folder (40 train, 20 test images of 28x28).
void write_mnist(const fs::path& dir) {
  write_file(dir / "train-images-idx3-ubyte", idx_images(40, 28));
  write_file(dir / "train-labels-idx1-ubyte", idx_labels(40));
  write_file(dir / "t10k-images-idx3-ubyte", idx_images(20, 28));
  write_file(dir / "t10k-labels-idx1-ubyte", idx_labels(20));
}

/// A valid small CIFAR-10 folder (5 x 10 train, 10 test records).
void write_cifar10(const fs::path& dir) {
  for (int b = 1; b <= 5; ++b) write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar10_records(10));
  write_file(dir / "test_batch.bin", cifar10_records(10));
}

/// A pipeline on `dataset` at `path`, one random strategy.
std::string data_pipeline(const std::string& dataset, const fs::path& path, const fs::path& results) {
  return "[run]\nseeds = [1]\ndevice = \"cpu\"\nthreads = 1\nresults = \"" + results.string() +
         "\"\n\n[dataset]\nname = \"" + dataset + "\"\npath = \"" + path.string() +
         "\"\n\n[model]\nname = \"small_cnn\"\nwidth = 8\nfeature_dim = 16\n\n[train]\nepochs = 1\nbatch_size = 8\n"
         "warmup_epochs = 0\naugment = false\n\n[al]\ninitial = 4\nquery_size = 2\nbudget = 8\n\n"
         "[[strategies]]\nname = \"random\"\n";
}

}  // namespace

TEST_CASE("hostile pipelines: each fails with its message at file:line:column") {
  std::ifstream in(kHostile / "pipelines" / "expected.txt");
  REQUIRE(in);
  int cases = 0;
  std::set<std::string> listed;
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    // case.toml | validate|run | the message must contain this ({file} = the case's path)
    std::vector<std::string> parts;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '|');) parts.push_back(trim(part));
    REQUIRE_MESSAGE(parts.size() == 3, "bad line in expected.txt: " << line);
    const auto file = (kHostile / "pipelines" / parts[0]).string();
    REQUIRE_MESSAGE(fs::exists(file), file);
    listed.insert(parts[0]);
    TempDir dir;
    CAPTURE(parts[0]);
    expect_clean_failure({parts[1], file, "--set", "run.results=" + dir.str()},
                         replace_all(parts[2], "{file}", file), dir.path(), dir.path() / "out.log");
    ++cases;
  }
  CHECK(cases >= 20);
  // Every case file states what it must give.
  for (const auto& e : fs::directory_iterator(kHostile / "pipelines"))
    if (e.path().extension() == ".toml") CHECK_MESSAGE(listed.count(e.path().filename().string()), e.path());
}

TEST_CASE("hostile data files: each fails naming the file and the problem") {
  struct Case {
    std::string name, dataset;
    std::function<void(const fs::path&)> make;  ///< writes the broken folder
    std::string file, problem;                  ///< the message names this file and this problem
  };
  auto idx_edit = [](const std::string& which, std::function<void(std::vector<std::uint8_t>&)> edit) {
    return [which, edit](const fs::path& dir) {
      write_mnist(dir);
      std::ifstream in(dir / which, std::ios::binary);
      std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      edit(b);
      write_file(dir / which, b);
    };
  };
  auto cifar_edit = [](const std::string& which, std::function<void(std::vector<std::uint8_t>&)> edit) {
    return [which, edit](const fs::path& dir) {
      write_cifar10(dir);
      auto b = cifar10_records(10);
      edit(b);
      write_file(dir / which, b);
    };
  };
  const std::vector<Case> cases = {
      {"idx truncated", "mnist", idx_edit("train-images-idx3-ubyte", [](auto& b) { b.resize(b.size() - 100); }),
       "train-images-idx3-ubyte", "truncated"},
      {"idx header cut", "mnist", idx_edit("t10k-images-idx3-ubyte", [](auto& b) { b.resize(6); }),
       "t10k-images-idx3-ubyte", "truncated: an IDX images header needs 16 bytes"},
      {"idx wrong magic", "mnist", idx_edit("train-labels-idx1-ubyte", [](auto& b) { b[3] = 0x03; }),
       "train-labels-idx1-ubyte", "wrong magic number"},
      {"idx label out of range", "mnist", idx_edit("train-labels-idx1-ubyte", [](auto& b) { b[20] = 200; }),
       "train-labels-idx1-ubyte", "label out of range"},
      {"idx empty", "mnist", idx_edit("t10k-labels-idx1-ubyte", [](auto& b) { b.clear(); }), "t10k-labels-idx1-ubyte",
       "empty file"},
      {"idx count mismatch", "mnist", idx_edit("train-labels-idx1-ubyte", [](auto& b) { b[7] = 39; b.pop_back(); }),
       "train-images-idx3-ubyte", "count mismatch"},
      {"idx missing file", "mnist", [](const fs::path& dir) { write_mnist(dir); fs::remove(dir / "t10k-labels-idx1-ubyte"); },
       "t10k-labels-idx1-ubyte", "file not found"},
      {"idx bad gzip", "mnist",
       [](const fs::path& dir) {
         write_mnist(dir);
         fs::remove(dir / "train-images-idx3-ubyte");
         write_file(dir / "train-images-idx3-ubyte.gz", {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02});
       },
       "train-images-idx3-ubyte.gz", "gzip"},
      {"cifar truncated", "cifar10", cifar_edit("data_batch_3.bin", [](auto& b) { b.resize(b.size() - 1); }),
       "data_batch_3.bin", "not a whole number of"},
      {"cifar label out of range", "cifar10", cifar_edit("test_batch.bin", [](auto& b) { b[3073 * 4] = 10; }),
       "test_batch.bin", "out of range in record 4"},
      {"cifar empty", "cifar10", cifar_edit("data_batch_1.bin", [](auto& b) { b.clear(); }), "data_batch_1.bin",
       "empty file"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    TempDir dir;
    const auto data = dir.path() / "data";
    c.make(data);
    const auto results = dir.path() / "results";
    const auto pipeline = dir.path() / "p.toml";
    std::ofstream(pipeline) << data_pipeline(c.dataset, data, results);
    expect_clean_failure({"run", pipeline.string()}, (data / c.file).string(), results, dir.path() / "out.log");
    std::ifstream log(dir.path() / "out.log");
    std::stringstream all;
    all << log.rdbuf();
    CHECK(all.str().find(c.problem) != std::string::npos);
  }
}

TEST_CASE("the generated data files are otherwise valid: the same pipeline on intact files runs") {
  for (const std::string dataset : {"mnist", "cifar10"}) {
    CAPTURE(dataset);
    TempDir dir;
    const auto data = dir.path() / "data";
    dataset == "mnist" ? write_mnist(data) : write_cifar10(data);
    const auto pipeline = dir.path() / "p.toml";
    std::ofstream(pipeline) << data_pipeline(dataset, data, dir.path() / "results");
    const auto r = run_process({quarry_binary(), "run", pipeline.string()}, dir.path() / "out.log", 300);
    INFO(r.output);
    CHECK(r.exited);
    CHECK(r.exit_code == 0);
    CHECK_FALSE(r.crashed());
  }
}

namespace {
/// `quarry run pipeline` with the test plugins fails cleanly naming `who` (component and library)
/// and `problem`, in its output and in the one run it stored, which has no cycle.
void expect_refused_plugin(const fs::path& pipeline, const std::string& who, const std::string& problem,
                           const fs::path& dir) {
  expect_clean_failure({"--plugin-path", test_plugin_dir().string(), "run", pipeline.string()}, who, dir,
                       dir / "out.log");
  std::ifstream log(dir / "out.log");
  std::stringstream all;
  all << log.rdbuf();
  CHECK(all.str().find(problem) != std::string::npos);
  Store store(dir / "quarry.db");
  REQUIRE(store.runs().size() == 1);
  CHECK(store.runs()[0].message.find(who) != std::string::npos);
  CHECK(store.runs()[0].message.find(problem) != std::string::npos);
  CHECK(store.cycles(store.runs()[0].id).empty());  // nothing of the bad cycle was recorded
}
}  // namespace

TEST_CASE("hostile plugins: bad answers and failures name the plugin; the run is failed with no partial cycle") {
  struct Case {
    std::string strategy;  ///< the [[strategies]] table's body
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"name = \"misbehaving\"\nmode = \"out_of_range\"", "returned index 1000000000, outside the pool [0, 360)"},
      {"name = \"misbehaving\"\nmode = \"negative\"", "returned index -1, outside the pool"},
      {"name = \"misbehaving\"\nmode = \"duplicate\"", "twice"},
      {"name = \"misbehaving\"\nmode = \"labeled\"", "which is already labeled"},
      {"name = \"misbehaving\"\nmode = \"too_few\"", "returned 9 indices, expected exactly 10"},
      {"name = \"misbehaving\"\nmode = \"throw_query\"", "threw while querying at cycle 0: deliberate failure inside query"},
      {"name = \"throws_on_construction\"", "threw while being created: deliberate failure in constructor"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.strategy);
    TempDir dir;
    auto text = synthetic_pipeline(dir.str(), "", 30, 1);
    text = text.substr(0, text.find("[[strategies]]")) + "[[strategies]]\n" + c.strategy + "\n";
    const auto pipeline = dir.path() / "p.toml";
    std::ofstream(pipeline) << text;
    const std::string plugin = c.strategy.find("throws_on") != std::string::npos ? "throws_on_construction" : "misbehaving";
    // The message names the component and its library, then the problem.
    const std::string expected = "strategy '" + plugin + "' (" + (test_plugin_dir() / "misbehaving.so").string() + ")";
    expect_refused_plugin(pipeline, expected, c.problem, dir.path());
  }
}

namespace {
/// A pipeline on tests/plugins/misbehaving_data.cpp's dataset and model, misbehaving as the modes say.
std::string bad_plugin_pipeline(const fs::path& results, const std::string& dataset_mode, const std::string& model_mode) {
  return "[run]\nseeds = [1]\ndevice = \"cpu\"\nthreads = 1\nresults = \"" + results.string() +
         "\"\n\n[dataset]\nname = \"bad_dataset\"\nmode = \"" + dataset_mode + "\"\n\n[model]\nname = \"bad_model\"\n"
         "mode = \"" + model_mode + "\"\n\n[train]\nepochs = 1\nbatch_size = 8\nwarmup_epochs = 0\naugment = false\n\n"
         "[al]\ninitial = 4\nquery_size = 2\nbudget = 8\n\n[[strategies]]\nname = \"random\"\n";
}
}  // namespace

TEST_CASE("hostile plugins: a dataset or model breaking its contract is refused, naming it and its library") {
  struct Case {
    std::string dataset_mode, model_mode;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"wrong_dtype", "ok", "train split: images must be uint8"},
      {"wrong_rank", "ok", "train split: images must be N x C x H x W, got 2 dims"},
      {"label_out_of_range", "ok", "test split: label out of range: found 7, expected 0..1"},
      {"count_mismatch", "ok", "train split: 40 images but 39 labels"},
      {"ok", "logits_shape", "returned logits of shape [2, 4], expected [2, 2]"},
      {"ok", "features_shape", "returned features of shape [2, 3], expected [2, feature_dim() = 4]"},
      {"ok", "no_features", "returned features of shape (none)"},
  };
  const std::string library = (test_plugin_dir() / "misbehaving_data.so").string();
  for (const auto& c : cases) {
    CAPTURE(c.dataset_mode);
    CAPTURE(c.model_mode);
    TempDir dir;
    const auto pipeline = dir.path() / "p.toml";
    std::ofstream(pipeline) << bad_plugin_pipeline(dir.path(), c.dataset_mode, c.model_mode);
    const bool bad_model = c.model_mode != "ok";
    const std::string who = bad_model ? "model 'bad_model' (" + library + ")" : "dataset 'bad_dataset' (" + library + ")";
    expect_refused_plugin(pipeline, who, c.problem, dir.path());
  }
  // The same plugins with mode = "ok" run: the failures above are the modes', not the set-up's.
  TempDir dir;
  const auto pipeline = dir.path() / "p.toml";
  std::ofstream(pipeline) << bad_plugin_pipeline(dir.path(), "ok", "ok");
  const auto r = run_process({quarry_binary(), "--plugin-path", test_plugin_dir().string(), "run", pipeline.string()},
                             dir.path() / "ok.log", 300);
  INFO(r.output);
  CHECK(r.exit_code == 0);
}

TEST_CASE("refused plugin libraries are named with the reason, and a pipeline needing them fails") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no_entry_point.so", "no entry point 'quarry_plugin_entry'"},
      {"wrong_abi.so", "ABI version mismatch"},
      {"mismatched_torch.so", "build fingerprint mismatch"},
  };
  for (const auto& [library, reason] : cases) {
    CAPTURE(library);
    TempDir dir;
    const auto plugins = dir.path() / "plugins";
    fs::create_directories(plugins);
    fs::copy_file(test_plugin_dir() / library, plugins / library);
    // `quarry plugins` lists it as refused, with the reason, and succeeds.
    const auto listing = run_process({quarry_binary(), "--plugin-path", plugins.string(), "plugins"}, dir.path() / "l.log");
    CHECK(listing.exit_code == 0);
    CHECK(listing.output.find((plugins / library).string() + ": " + reason) != std::string::npos);
    // A pipeline naming a component only that library could have provided fails at its position.
    auto text = synthetic_pipeline(dir.str(), "", 30, 1);
    text = text.substr(0, text.find("[[strategies]]")) + "[[strategies]]\nname = \"from_refused\"\n";
    const auto pipeline = dir.path() / "p.toml";
    std::ofstream(pipeline) << text;
    const auto at = text.find("\"from_refused\"");
    const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1;
    expect_clean_failure({"--plugin-path", plugins.string(), "validate", pipeline.string()},
                         pipeline.string() + ":" + std::to_string(line) +
                             ":8: key 'strategies[0].name': unknown strategy 'from_refused'",
                         dir.path(), dir.path() / "v.log");
    std::ifstream log(dir.path() / "v.log");
    std::stringstream all;
    all << log.rdbuf();
    CHECK(all.str().find("refused plugin " + (plugins / library).string() + ": " + reason) != std::string::npos);
  }
}

TEST_CASE("pipeline fuzzer corpus and regressions: every input parses or throws quarry::Error") {
  int inputs = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = source_dir() / "tests" / "fuzz" / kind / "pipeline";
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      CAPTURE(e.path());
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      try {
        const auto p = parse_pipeline(buf.str(), "fuzz.toml", {}, nullptr);
        // Accepted text resolves to a pipeline that parses back to itself (resume relies on it).
        CHECK(parse_pipeline(p.resolved_toml, "resolved.toml", {}, nullptr).resolved_toml == p.resolved_toml);
      } catch (const Error&) {
      } catch (const std::exception& ex) {
        FAIL("not a quarry::Error: " << ex.what());
      }
      ++inputs;
    }
  }
  CHECK(inputs >= 2);
}

TEST_CASE("pipeline text: control characters and non-ASCII outside strings are errors at their position") {
  auto error_of = [](const std::string& text) -> std::string {
    try {
      parse_pipeline(text, "p.toml", {}, nullptr);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  const std::string rest = "[dataset]\nname = \"x\"\n[model]\nname = \"m\"\n[[strategies]]\nname = \"r\"\n";
  CHECK(error_of("[run]\nname = \"a\x01\"\n" + rest).find("p.toml:2:10: TOML syntax error: control character U+0001") == 0);
  CHECK(error_of("[run]\nthreads = 1\xd1\x91\n" + rest).find("p.toml:2:12: TOML syntax error: character U+0451 outside a string or comment") == 0);
  CHECK(error_of("[run]\nname = \"\"\"a\\\n  \xc3\xa9\"\"\"\n" + rest).find("p.toml:3:3: TOML syntax error: character U+00E9 after a backslash") == 0);
  // Valid TOML with non-ASCII in strings, quoted keys and comments is accepted.
  const std::string valid = "# caf\xc3\xa9 \xd1\x91\n[run]\nname = \"caf\xc3\xa9 \\\" \xd1\x91\"\nresults = \"\"\"\nab\\\n   x\xd1\x91\"\"\"\n"
                            "plugin_paths = ['\xd1\x91', \"\"\"a\\\\\xd1\x91\"\"\", '''\xd1\x91'''']\n"
                            "[dataset]\nname = \"x\"\n\"k\xc3\xa9y\" = \"\xe4\xb8\x80\"\n[model]\nname = \"m\"\n[[strategies]]\nname = \"r\"\n";
  CHECK(error_of(valid) == "");
  // CRLF line ends are fine; a lone CR is not.
  CHECK(error_of("[run]\r\nname = \"a\"\r\n" + rest) == "");
  CHECK(error_of("[run]\rname = \"a\"\n" + rest).find("control character U+000D") != std::string::npos);
}

}  // namespace test_hostile
