// One DAL cycle on embeddings in Quarry, for bench/embeddings/run.sh (reference.py is the
// Python side): the embeddings dataset plugin reads DIR's four .npy files (45,000 x 384),
// the linear head trains 200 epochs at batch 64 on 4,000 labels, then margin and BADGE
// each pick 100 of 10,000 candidates. The times are the run's own records of the cycle
// (training; the query with its predictions). On a shared machine wall time moves with the
// load, so the training is also run once more on its own (the same 4,000 labels, seed and
// weights) with this process's CPU time taken around it: train_cpu_seconds.
//
//   bench_embeddings DIR THREADS   -> one JSON line
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>

#include <unistd.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/host/plugin_host.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "quarry/error.hpp"

namespace {

struct QuietLogger : quarry::Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};

std::string pipeline(const std::string& dir, const std::string& results, int threads) {
  return R"([run]
name = "bench_embeddings"
seeds = [1]
device = "cpu"
threads = )" + std::to_string(threads) + R"(
results = ")" + results + R"("

[dataset]
name = "embeddings"
path = ")" + dir + R"("
validation_fraction = 0.0

[model]
name = "linear"

[train]
epochs = 200
batch_size = 64
lr = 0.01
momentum = 0.9
weight_decay = 5e-4
nesterov = false
warmup_epochs = 0
epoch_mode = "shuffled"
augment = false
predict_batch_size = 512

[al]
initial = 4000
query_size = 100
budget = 4100
candidate_subset = 10000

[[strategies]]
name = "margin"

[[strategies]]
name = "badge"
)";
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: bench_embeddings DIR THREADS\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    const int threads = std::stoi(argv[2]);
    const auto results = std::filesystem::temp_directory_path() / ("quarry-bench-embeddings-" + std::to_string(::getpid()));
    std::filesystem::remove_all(results);
    QuietLogger log;
    quarry::PluginHost host(log);
    host.load_directory(QUARRY_PLUGIN_DIR);
    const auto p = quarry::parse_pipeline(pipeline(dir, results.string(), threads), "bench_embeddings.toml", {}, &host);
    quarry::Store store(results / "quarry.db");
    double secs[2][2] = {};
    double accuracy = 0, loss = 0;
    for (std::size_t s = 0; s < 2; ++s) {
      const auto out = quarry::run_active_learning(p, s, 1, host, store);
      const auto cycles = store.cycles(out.run_id);
      secs[s][0] = cycles.at(0).train_seconds;
      secs[s][1] = cycles.at(0).query_seconds;
      accuracy = cycles.at(0).test_accuracy;
      loss = cycles.at(0).final_loss;
    }
    // The first cycle's training once more, alone: its wall and CPU seconds.
    std::vector<std::int64_t> labeled;
    for (const auto& a : store.acquired(store.runs().front().id))
      if (a.cycle == 0) labeled.push_back(a.pool_index);
    auto e = quarry::prepare_experiment(p, 1, host, log);
    quarry::restore_weights(*e.model, e.initial);
    const double c0 = cpu_seconds();
    const auto tr = quarry::train_model(*e.model, p.train, e.data.pool, e.data.mean, e.data.std, labeled, 7);
    const double train_cpu = cpu_seconds() - c0;
    std::filesystem::remove_all(results);
    std::printf("{\"side\": \"quarry\", \"train_seconds\": %.4f, \"train_seconds_again\": %.4f, \"margin_seconds\": %.4f, "
                "\"badge_seconds\": %.4f, \"test_accuracy\": %.4f, \"final_loss\": %.4f, \"torch\": \"%s\", "
                "\"threads\": %d, \"train_alone_seconds\": %.4f, \"train_cpu_seconds\": %.4f, \"labels\": %zu}\n",
                secs[0][0], secs[1][0], secs[0][1], secs[1][1], accuracy, loss, TORCH_VERSION, at::get_num_threads(), tr.seconds, train_cpu,
                labeled.size());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_embeddings: " << e.what() << "\n";
    return 1;
  }
}
