// Selection benchmark: deterministic synthetic inputs (written as .npy so any other
// implementation reads the same bytes) and timings of Quarry's Core-Set and BADGE kernels.
//
//   bench_selection gen DIR                 write features_<n>.npy, probs_<n>_<C>.npy, labeled.npy
//   bench_selection time DIR coreset|badge N C K
//                                           one kernel run; prints {"time_s":..,"peak_bytes":..}
// Run one `time` per process: peak memory is the high-water mark of this process's RSS
// (reset through /proc/self/clear_refs) above its RSS just before the kernel.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "quarry/selection.hpp"

namespace {

constexpr std::int64_t kDim = 512;
constexpr std::int64_t kLabeled = 4000;
constexpr std::int64_t kSizes[] = {10000, 45000};
constexpr std::int64_t kClasses[] = {10, 100};

// splitmix64 stream -> Box-Muller: a fixed formula, the same on every platform.
struct Gaussian {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
  float operator()() {
    const double r = std::sqrt(-2 * std::log(uniform()));
    return static_cast<float>(r * std::cos(6.283185307179586 * uniform()));
  }
};

torch::Tensor gaussians(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  auto t = torch::empty({rows, cols});
  Gaussian g{seed};
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < rows * cols; ++i) p[i] = g();
  return t;
}

// .npy version 1.0: magic, header length, a Python dict padded to a multiple of 64, raw data.
void write_npy(const std::string& path, const torch::Tensor& t) {
  std::ostringstream h;
  h << "{'descr': '<f4', 'fortran_order': False, 'shape': (" << t.size(0) << ", " << t.size(1) << "), }";
  std::string header = h.str();
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const std::uint16_t len = static_cast<std::uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  if (!out) throw std::runtime_error("cannot write " + path);
}

torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char pre[10];
  if (!in.read(pre, 10) || std::string(pre, 6) != "\x93NUMPY" || pre[6] != 1)
    throw std::runtime_error(path + ": not a version-1 .npy file");
  const auto len = static_cast<std::uint8_t>(pre[8]) | (static_cast<std::uint8_t>(pre[9]) << 8);
  std::string header(len, ' ');
  in.read(header.data(), len);
  if (header.find("'<f4'") == std::string::npos || header.find("False") == std::string::npos)
    throw std::runtime_error(path + ": expected little-endian float32 in C order");
  std::int64_t rows = 0, cols = 0;
  const auto s = header.find("'shape': (");
  if (s == std::string::npos || std::sscanf(header.c_str() + s + 10, "%ld, %ld", &rows, &cols) != 2)
    throw std::runtime_error(path + ": expected a 2-D shape");
  auto t = torch::empty({rows, cols});
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  if (!in) throw std::runtime_error(path + ": truncated");
  return t;
}

std::int64_t status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size())) * 1024;
  return -1;
}

int generate(const std::string& dir) {
  const auto logits_seed = [](std::int64_t n, std::int64_t c) { return static_cast<std::uint64_t>(1000 + n + c); };
  for (auto n : kSizes) {
    write_npy(dir + "/features_" + std::to_string(n) + ".npy", torch::relu(gaussians(n, kDim, 1 + n)));
    for (auto c : kClasses)
      write_npy(dir + "/probs_" + std::to_string(n) + "_" + std::to_string(c) + ".npy",
                torch::softmax(gaussians(n, c, logits_seed(n, c)) * 3, 1));
  }
  write_npy(dir + "/labeled.npy", torch::relu(gaussians(kLabeled, kDim, 7)));
  return 0;
}

int time_case(const std::string& dir, const std::string& which, std::int64_t n, std::int64_t c, std::int64_t k) {
  torch::set_num_threads(2);
  // QUARRY_BENCH_DEVICE=cuda times the kernels on the GPU (scripts/device-check.sh); peak
  // memory is still the host's.
  const char* dev_env = std::getenv("QUARRY_BENCH_DEVICE");
  const torch::Device device(dev_env && *dev_env ? dev_env : "cpu");
  if (device.is_cuda() && !torch::cuda::is_available())
    throw std::runtime_error("QUARRY_BENCH_DEVICE=" + device.str() + " but CUDA is not available here");
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  const auto features = read_npy(dir + "/features_" + std::to_string(n) + ".npy").to(device);
  torch::Tensor other = (which == "coreset" ? read_npy(dir + "/labeled.npy")
                                            : read_npy(dir + "/probs_" + std::to_string(n) + "_" + std::to_string(c) + ".npy"))
                            .to(device);
  const std::int64_t budget = std::int64_t{256} << 20;
  // Warm up as a DAL loop's process is warm when it selects (thread pools started, BLAS
  // buffers allocated): the same kernel once on a small slice. reference.py does the same.
  {
    std::mt19937_64 rng(1);
    if (which == "coreset")
      quarry::kcenter_greedy(features.narrow(0, 0, 1000), other.narrow(0, 0, 200), 10, budget);
    else
      quarry::badge_kmeanspp(other.narrow(0, 0, 1000), features.narrow(0, 0, 1000), 10, rng, budget);
  }
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // reset VmHWM to the current RSS
  const auto rss_before = status_bytes("VmRSS:");
  sync();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int64_t> picked;
  if (which == "coreset") {
    picked = quarry::kcenter_greedy(features, other, k, budget);
  } else {
    std::mt19937_64 rng(0);
    picked = quarry::badge_kmeanspp(other, features, k, rng, budget);
  }
  sync();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto peak = status_bytes("VmHWM:") - rss_before;
  std::string picks;
  for (const auto p : picked) picks += (picks.empty() ? "" : ", ") + std::to_string(p);
  std::printf("{\"time_s\": %.4f, \"peak_bytes\": %ld, \"picked\": %zu, \"first\": %ld, \"picks\": [%s]}\n", seconds,
              static_cast<long>(peak), picked.size(), static_cast<long>(picked.empty() ? -1 : picked[0]), picks.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "gen" && argc == 3) return generate(argv[2]);
    if (mode == "time" && argc == 7)
      return time_case(argv[2], argv[3], std::stoll(argv[4]), std::stoll(argv[5]), std::stoll(argv[6]));
    std::cerr << "usage: bench_selection gen DIR | time DIR coreset|badge N C K\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_selection: " << e.what() << "\n";
    return 1;
  }
}
