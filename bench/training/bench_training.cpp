// Training-throughput benchmark: ResNet-18 (CIFAR variant, width 64) trained by Quarry's
// train_model on a deterministic synthetic CIFAR-shaped dataset, on the CPU.
//
//   bench_training gen DIR                       write images.npy (uint8 N x 3 x 32 x 32) and
//                                                labels.npy (int64 N) for reference.py
//   bench_training time BATCH STEPS WARMUP [THREADS]
//                                                WARMUP untimed optimizer steps, then STEPS timed
//                                                ones; prints one JSON line
// Run one `time` per process: peak memory is this process's VmHWM.
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/training/experiment.hpp"
#include "core/host/plugin_host.hpp"
#include "core/util/allocator.hpp"
#include "core/util/memory.hpp"
#include "core/training/trainer.hpp"

namespace {

constexpr std::int64_t kImages = 4000;  // the protocol's final labeled pool
constexpr std::int64_t kClasses = 10;

// splitmix64: a fixed formula, so the data is the same bytes on every platform.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

quarry::DeviceSplit synthetic_data() {
  auto images = torch::empty({kImages, 3, 32, 32}, torch::kUInt8);
  auto labels = torch::empty({kImages}, torch::kInt64);
  std::uint64_t s = 20240601;
  auto* px = images.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < images.numel(); i += 8) {
    const auto r = splitmix(s);
    for (int k = 0; k < 8 && i + k < images.numel(); ++k) px[i + k] = static_cast<std::uint8_t>(r >> (8 * k));
  }
  auto* lb = labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < kImages; ++i) lb[i] = static_cast<std::int64_t>(splitmix(s) % kClasses);
  return {images, labels};
}

// .npy version 1.0: magic, header length, a Python dict padded to a multiple of 64, raw data.
void write_npy(const std::string& path, const torch::Tensor& t, const std::string& descr) {
  std::ostringstream h;
  h << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
  for (auto d : t.sizes()) h << d << ", ";
  h << "), }";
  std::string header = h.str();
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << header;
  auto c = t.contiguous();
  out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

struct QuietLogger : quarry::Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};

// One epoch of `steps` full batches: "shuffled" mode over steps x batch images.
quarry::TrainConfig config_for(std::int64_t batch) {
  quarry::TrainConfig c;
  c.epochs = 1;
  c.warmup_epochs = 0;  // lr stays at cfg.lr for the single epoch
  c.epoch_mode = "shuffled";
  c.batch_size = batch;
  c.lr = 0.01;
  c.weight_decay = 5e-4;
  c.momentum = 0.9;
  c.augment = true;
  c.crop_padding = 4;
  c.flip = true;
  return c;
}

std::vector<std::int64_t> first_indices(std::int64_t count, std::int64_t offset) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) v[static_cast<std::size_t>(i)] = (offset + i) % kImages;
  return v;
}

int time_training(std::int64_t batch, std::int64_t steps, std::int64_t warmup, int threads) {
  torch::set_num_threads(threads);
  QuietLogger log;
  quarry::PluginHost host(log);
  host.load_directory(QUARRY_PLUGIN_DIR);
  quarry::Pipeline p;
  p.model.name = "resnet18";
  p.model.params = quarry::Params("model 'resnet18'");
  const quarry::ModelSpec spec{3, 32, 32, kClasses};
  auto model = quarry::make_model(p, spec, 1, host, torch::kCPU);
  auto data = synthetic_data();
  const auto mean = torch::tensor({0.4914f, 0.4822f, 0.4465f}).view({1, 3, 1, 1}).mul(255.0);
  const auto std = torch::tensor({0.247f, 0.243f, 0.262f}).view({1, 3, 1, 1}).mul(255.0);
  const auto cfg = config_for(batch);
  if (warmup > 0) quarry::train_model(*model, cfg, data, mean, std, first_indices(warmup * batch, 0), 1);
  const auto t0 = std::chrono::steady_clock::now();
  const auto c0 = std::clock();
  const auto r = quarry::train_model(*model, cfg, data, mean, std, first_indices(steps * batch, warmup * batch), 2);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;  // all threads
  std::printf("{\"side\": \"quarry\", \"batch\": %lld, \"steps\": %lld, \"seconds\": %.4f, \"images_per_s\": %.3f, "
              "\"cpu_seconds\": %.4f, \"peak_rss_mb\": %.1f, \"final_loss\": %.4f, \"threads\": %d, \"torch\": \"%s\"}\n",
              static_cast<long long>(batch), static_cast<long long>(steps), s,
              static_cast<double>(steps * batch) / s, cpu, quarry::peak_rss_mb(), r.final_loss, at::get_num_threads(),
              TORCH_VERSION);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  quarry::keep_freed_memory();  // as the quarry binary does
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gen" && argc == 3) {
      auto d = synthetic_data();
      write_npy(std::string(argv[2]) + "/images.npy", d.images, "|u1");
      write_npy(std::string(argv[2]) + "/labels.npy", d.labels, "<i8");
      return 0;
    }
    if (cmd == "time" && (argc == 5 || argc == 6))
      return time_training(std::stoll(argv[2]), std::stoll(argv[3]), std::stoll(argv[4]),
                           argc == 6 ? std::stoi(argv[5]) : 2);
    std::cerr << "usage: bench_training gen DIR | bench_training time BATCH STEPS WARMUP [THREADS]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_training: " << e.what() << "\n";
    return 1;
  }
}
