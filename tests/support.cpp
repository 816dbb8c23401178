#include "support.hpp"

#include <cstdlib>
#include <fstream>
#include <random>

#include <torch/torch.h>

#include "core/util/log.hpp"

namespace quarry::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("quarry-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace fs = std::filesystem;

const fs::path& binary_dir() {
  static const fs::path dir = [] {
    if (const char* env = std::getenv("QUARRY_TEST_BINARY_DIR"); env && *env) return fs::path(env);
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::current_path() : exe.parent_path().parent_path();
  }();
  return dir;
}

const fs::path& source_dir() {
  static const fs::path dir = [] {
    if (const char* env = std::getenv("QUARRY_TEST_SOURCE_DIR"); env && *env) return fs::path(env);
    std::ifstream cache(binary_dir() / "CMakeCache.txt");
    const std::string key = "CMAKE_HOME_DIRECTORY:INTERNAL=";
    std::error_code ec;
    for (std::string line; std::getline(cache, line);)
      if (line.rfind(key, 0) == 0 && fs::is_directory(line.substr(key.size()), ec)) return fs::path(line.substr(key.size()));
    return binary_dir().parent_path();
  }();
  return dir;
}

fs::path plugin_dir() { return binary_dir() / "plugins"; }
fs::path test_plugin_dir() { return binary_dir() / "tests" / "test_plugins"; }
std::string quarry_binary() { return (binary_dir() / "bin" / "quarry").string(); }

const PluginHost& host() {
  static SpdLogger log(console_logger());
  static PluginHost h = [] {
    PluginHost ph(log);
    ph.load_directory(plugin_dir());
    ph.load_directory(test_plugin_dir());
    return ph;
  }();
  return h;
}

std::shared_ptr<Strategy> make_strategy(const std::string& name, const std::map<std::string, ParamValue>& values) {
  Params p("strategy '" + name + "'");
  for (const auto& [k, v] : values) p.set(k, v);
  return host().make_strategy(name, std::move(p));
}

std::shared_ptr<Model> make_head(const std::string& name, std::int64_t d, std::int64_t k,
                                 const std::vector<std::pair<std::string, ParamValue>>& values) {
  Params p(name);
  for (const auto& [key, v] : values) p.set(key, v);
  torch::manual_seed(3);
  return host().make_model(name, p, ModelSpec{0, 0, 0, k, d});
}

std::string synthetic_pipeline(const std::string& results, const std::string& extra_strategies, std::int64_t budget,
                               std::int64_t epochs) {
  return R"([run]
name = "t"
seeds = [1]
device = "cpu"
threads = 1
results = ")" + results + R"("

[dataset]
name = "synthetic"
num_classes = 4
train_size = 400
test_size = 120
validation_fraction = 0.1

[model]
name = "small_cnn"
width = 8
feature_dim = 16

[train]
epochs = )" + std::to_string(epochs) +
         R"(
batch_size = 16
lr = 0.05
warmup_epochs = 1
predict_batch_size = 64

[al]
initial = 10
query_size = 10
budget = )" + std::to_string(budget) +
         R"(
candidate_subset = 100

[[strategies]]
name = "random"

[[strategies]]
name = "entropy"
)" + extra_strategies;
}

}  // namespace quarry::testing
