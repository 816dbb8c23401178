#include "support.hpp"

#include <random>

#include "core/log.hpp"

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

const PluginHost& host() {
  static SpdLogger log(console_logger());
  static PluginHost h = [] {
    PluginHost ph(log);
    ph.load_directory(QUARRY_BINARY_DIR "/plugins");
    ph.load_directory(QUARRY_TEST_PLUGIN_DIR);
    return ph;
  }();
  return h;
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
