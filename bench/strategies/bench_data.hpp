// Shared by the strategy benchmarks: deterministic synthetic inputs written as .npy (so the
// Python references read the same bytes), peak-memory measurement, the matrix-product bound.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace bench {

constexpr std::int64_t kDim = 512;
constexpr std::int64_t kLabeled = 4000;
constexpr std::int64_t kSizes[] = {10000, 45000};
constexpr std::int64_t kClasses[] = {10, 100};
constexpr std::int64_t kBudget = std::int64_t{1024} << 20;  // the pipeline default, run.memory_budget_mb

// splitmix64 stream -> Box-Muller: a fixed formula, the same on every platform.
inline torch::Tensor gaussians(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  auto t = torch::empty({rows, cols});
  std::uint64_t state = seed;
  const auto next = [&] {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const auto uniform = [&] { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; };
  float* p = t.data_ptr<float>();
  for (std::int64_t i = 0; i < rows * cols; ++i)
    p[i] = static_cast<float>(std::sqrt(-2 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()));
  return t;
}

// .npy version 1.0: magic, header length, a Python dict padded to a multiple of 64, raw data.
inline void write_npy(const std::string& path, const torch::Tensor& t) {
  std::ostringstream h;
  h << "{'descr': '<f4', 'fortran_order': False, 'shape': (" << t.size(0) << ", " << t.size(1) << "), }";
  std::string header = h.str();
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff)).put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(t.contiguous().data_ptr<float>()), static_cast<std::streamsize>(t.numel() * 4));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline torch::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char pre[10];
  if (!in.read(pre, 10) || std::string(pre, 6) != "\x93NUMPY" || pre[6] != 1)
    throw std::runtime_error(path + ": not a version-1 .npy file (run `gen` first)");
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

/// features_<n>.npy (n x 512), probs_<n>_<C>.npy, labeled_features.npy (4,000 x 512),
/// labeled_probs_<C>.npy: ReLU'd Gaussian features, softmax of 3 x Gaussian logits.
inline void generate(const std::string& dir) {
  const auto probs = [](std::int64_t n, std::int64_t c, std::uint64_t seed) {
    return torch::softmax(gaussians(n, c, seed) * 3, 1);
  };
  for (auto n : kSizes) {
    write_npy(dir + "/features_" + std::to_string(n) + ".npy", torch::relu(gaussians(n, kDim, 1 + n)));
    for (auto c : kClasses)
      write_npy(dir + "/probs_" + std::to_string(n) + "_" + std::to_string(c) + ".npy", probs(n, c, 1000 + n + c));
  }
  write_npy(dir + "/labeled_features.npy", torch::relu(gaussians(kLabeled, kDim, 7)));
  for (auto c : kClasses) write_npy(dir + "/labeled_probs_" + std::to_string(c) + ".npy", probs(kLabeled, c, 77 + c));
}

/// CPU seconds of this process (user + system, every thread): on a shared machine the wall
/// time also counts the time other processes held the cores.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

inline std::int64_t status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoll(line.substr(std::string(key).size())) * 1024;
  return -1;
}

/// Time `fn` once; peak memory is this process's RSS high-water mark (reset through
/// /proc/self/clear_refs) above its RSS just before. Prints one JSON line.
/// `extra`: more JSON fields, e.g. "\"gflop\": 12.5, ".
template <typename Fn>
void time_and_print(Fn&& fn, const std::string& extra = "") {
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const auto before = status_bytes("VmRSS:");
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  std::vector<std::int64_t> picked;
  std::string error;
  try {
    picked = fn();
  } catch (const std::exception& e) {
    error = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - c0;
  const auto peak = status_bytes("VmHWM:") - before;
  if (!error.empty()) {
    std::string escaped;
    for (char ch : error) escaped += ch == '"' ? std::string("\\\"") : std::string(1, ch);
    std::printf("{\"error\": \"%s\"}\n", escaped.c_str());
    return;
  }
  std::string picks;
  for (const auto p : picked) picks += (picks.empty() ? "" : ", ") + std::to_string(p);
  std::printf("{%s\"time_s\": %.4f, \"cpu_s\": %.4f, \"peak_bytes\": %ld, \"picks\": [%s]}\n", extra.c_str(),
              seconds, cpu, static_cast<long>(peak), picks.c_str());
}

/// GFLOP/s of a square matrix product of this size and dtype (best of three), 2 threads.
inline double gemm_gflops(std::int64_t size, torch::ScalarType dtype) {
  const auto a = torch::randn({size, size}).to(dtype), b = torch::randn({size, size}).to(dtype);
  auto c = a.mm(b);
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    c = a.mm(b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * static_cast<double>(size * size * size) / best / 1e9;
}

}  // namespace bench
