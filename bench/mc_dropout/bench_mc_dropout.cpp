// Monte-Carlo dropout end to end: one BALD query (the `bald` plugin through the host's
// QueryContext) on N random CIFAR-shaped images with an untrained model of the vision_models
// plugin (dropout 0.3 before its classifier), on the CPU.
//
//   bench_mc_dropout MODEL N S K PATH [THREADS]
//     PATH = trunk   the host's predict_samples as it runs: the model's trunk once per batch,
//                    its head S times (Model::sample_logits)
//     PATH = full    the same model behind a wrapper without sample_logits: S whole forward
//                    passes per batch, as the common toolkits' MC-dropout loops run
// Prints one JSON line: wall and CPU seconds of the query, peak RSS, the picks.
// Run one case per process (peak memory is this process's VmHWM).
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/al/query_context.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/experiment.hpp"
#include "core/util/allocator.hpp"
#include "core/util/memory.hpp"

namespace {

constexpr std::int64_t kClasses = 10;

struct QuietLogger : quarry::Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};

/// The model without its sample_logits: the host then runs forward() once per pass.
class FullPasses : public quarry::Model {
 public:
  explicit FullPasses(std::shared_ptr<quarry::Model> inner) : inner_(register_module("inner", std::move(inner))) {}
  quarry::ModelOutput forward(const torch::Tensor& x) override { return inner_->forward(x); }
  std::int64_t feature_dim() const override { return inner_->feature_dim(); }
  bool stochastic() const override { return inner_->stochastic(); }

 private:
  std::shared_ptr<quarry::Model> inner_;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::vector<std::int64_t> range(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

int run(const std::string& model_name, std::int64_t n, std::int64_t samples, std::int64_t k, const std::string& path,
        int threads) {
  if (path != "trunk" && path != "full") throw std::runtime_error("PATH must be trunk or full, not '" + path + "'");
  torch::set_num_threads(threads);
  QuietLogger log;
  quarry::PluginHost host(log);
  host.load_directory(QUARRY_PLUGIN_DIR);
  quarry::Pipeline p;
  p.model.name = model_name;
  p.model.params = quarry::Params("model '" + model_name + "'");
  p.model.params.set("dropout", 0.3);
  quarry::Experiment e;
  e.spec = quarry::ModelSpec{3, 32, 32, kClasses};
  e.model = quarry::make_model(p, e.spec, 1, host, torch::kCPU);
  if (path == "full") e.model = std::make_shared<FullPasses>(e.model);
  auto gen = at::detail::createCPUGenerator(7);
  e.data.pool.images = at::randint(256, {n, 3, 32, 32}, gen, torch::kLong).to(torch::kUInt8);
  e.data.pool.labels = at::randint(kClasses, {n}, gen, torch::kLong);
  e.data.pool_labels_cpu = e.data.pool.labels;
  e.data.mean = torch::tensor({0.4914f, 0.4822f, 0.4465f}).view({1, 3, 1, 1}).mul(255.0);
  e.data.std = torch::tensor({0.247f, 0.243f, 0.262f}).view({1, 3, 1, 1}).mul(255.0);
  e.data.num_classes = kClasses;
  quarry::TrainConfig cfg;  // predict_batch_size 128, float32: the pipeline's defaults
  quarry::Params sp("strategy 'bald'");
  sp.set("mc_samples", samples);
  auto bald = host.make_strategy("bald", std::move(sp));
  const auto all = range(n);
  {
    // Warm up as a loop's process is warm (thread pools, allocator): a query on 256 images.
    const std::vector<std::int64_t> few(all.begin(), all.begin() + std::min<std::int64_t>(n, 256));
    quarry::HostQueryContext warm(e, cfg, {}, few, few, 5, std::int64_t{1024} << 20, 1, log, "bald", model_name);
    bald->query(warm);
  }
  quarry::HostQueryContext ctx(e, cfg, {}, all, all, k, std::int64_t{1024} << 20, 2, log, "bald", model_name);
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const auto picked = bald->query(ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  std::string picks;
  for (const auto i : picked) picks += (picks.empty() ? "" : ", ") + std::to_string(i);
  std::printf("{\"side\": \"quarry-%s\", \"model\": \"%s\", \"n\": %lld, \"samples\": %lld, \"seconds\": %.4f, "
              "\"cpu_seconds\": %.4f, \"peak_rss_mb\": %.1f, \"threads\": %d, \"picks\": [%s]}\n",
              path.c_str(), model_name.c_str(), static_cast<long long>(n), static_cast<long long>(samples), seconds,
              cpu, quarry::peak_rss_mb(), at::get_num_threads(), picks.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  quarry::keep_freed_memory();  // as the quarry binary does
  try {
    if (argc == 6 || argc == 7)
      return run(argv[1], std::stoll(argv[2]), std::stoll(argv[3]), std::stoll(argv[4]), argv[5],
                 argc == 7 ? std::stoi(argv[6]) : 2);
    std::cerr << "usage: bench_mc_dropout MODEL N S K trunk|full [THREADS]\n";
    return 2;
  } catch (const std::exception& ex) {
    std::cerr << "bench_mc_dropout: " << ex.what() << "\n";
    return 1;
  }
}
