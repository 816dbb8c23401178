// Strategy benchmark: deterministic synthetic inputs written as .npy (so the Python references
// read the same bytes) and timings of strategy plugins loaded through the real plugin host.
//
//   bench_strategy_plugins gen DIR                       features, labeled features and labels,
//                                                        MC samples, a linear head
//   bench_strategy_plugins time DIR PLUGIN_DIR NAME N C K [key=value ...]
//                                                        one query; prints {"time_s", "peak_bytes", "picks"}
// The context serves the inputs as a model would: the labeled pool is rows 0..L-1 of
// labeled.npy, the N candidates the rows of features_N.npy; predict_samples gives mc_N_C.npy
// (S x N x C), classify the linear head head_C.npy. Peak memory: the RSS high-water mark
// (reset through /proc/self/clear_refs) above the RSS just before the query.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "quarry/strategy.hpp"

namespace {

constexpr std::int64_t kDim = 512, kLabeled = 4000, kSamples = 20, kModes = 200;
constexpr std::int64_t kSizes[] = {10000, 45000};
constexpr std::int64_t kClasses[] = {10, 100};

void write_npy(const std::string& path, const torch::Tensor& t_in) {
  const auto t = t_in.to(torch::kFloat).contiguous();
  std::ostringstream h;
  h << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (std::int64_t d = 0; d < t.dim(); ++d) h << t.size(d) << (t.dim() == 1 || d + 1 < t.dim() ? ", " : "");
  h << "), }";
  std::string header = h.str();
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  const auto len = static_cast<std::uint16_t>(header.size());
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
  if (header.find("'<f4'") == std::string::npos) throw std::runtime_error(path + ": expected float32");
  std::vector<std::int64_t> shape;
  const auto open = header.find("'shape': (");
  std::istringstream dims(header.substr(open + 10, header.find(')', open) - open - 10));
  for (std::string d; std::getline(dims, d, ',');)
    if (d.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(d));
  auto t = torch::empty(shape);
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

struct Quiet : quarry::Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string&) override {}
};

// Points of a mixture of kModes Gaussians (clustered, as learned features are), the mode of each.
std::pair<torch::Tensor, torch::Tensor> mixture(std::int64_t n, at::Generator& gen, const torch::Tensor& modes) {
  const auto which = at::randint(kModes, {n}, gen, torch::kLong);
  return {torch::relu(modes.index_select(0, which) + 0.5 * at::randn({n, kDim}, gen, torch::kFloat)), which};
}

int generate(const std::string& dir) {
  auto gen = at::detail::createCPUGenerator(2024);
  const auto modes = at::randn({kModes, kDim}, gen, torch::kFloat);
  const auto [labeled, labeled_mode] = mixture(kLabeled, gen, modes);
  write_npy(dir + "/labeled.npy", labeled);
  for (auto c : kClasses) {
    write_npy(dir + "/labeled_labels_" + std::to_string(c) + ".npy", labeled_mode.remainder(c));
    const auto w = at::randn({c, kDim}, gen, torch::kFloat) / std::sqrt(static_cast<double>(kDim));
    write_npy(dir + "/head_" + std::to_string(c) + ".npy", torch::cat({w, at::randn({c, 1}, gen, torch::kFloat) * 0.1}, 1));
  }
  for (auto n : kSizes) {
    write_npy(dir + "/features_" + std::to_string(n) + ".npy", mixture(n, gen, modes).first);
    for (auto c : kClasses) {
      const auto base = at::randn({1, n, c}, gen, torch::kFloat) * 2;
      write_npy(dir + "/mc_" + std::to_string(n) + "_" + std::to_string(c) + ".npy",
                torch::softmax(base + at::randn({kSamples, n, c}, gen, torch::kFloat), 2));
    }
  }
  return 0;
}

class BenchContext : public quarry::QueryContext {
 public:
  BenchContext(const std::string& dir, std::int64_t n, std::int64_t c, std::int64_t k) : k_(k), c_(c), rng_(0) {
    const auto cand = read_npy(dir + "/features_" + std::to_string(n) + ".npy");
    features_ = torch::cat({read_npy(dir + "/labeled.npy"), cand});
    for (std::int64_t i = 0; i < kLabeled; ++i) labeled_.push_back(i);
    for (std::int64_t i = 0; i < n; ++i) candidates_.push_back(kLabeled + i);
    const auto l = read_npy(dir + "/labeled_labels_" + std::to_string(c) + ".npy");
    for (std::int64_t i = 0; i < kLabeled; ++i) labels_.push_back(static_cast<std::int64_t>(l[i].item<float>()));
    const auto head = read_npy(dir + "/head_" + std::to_string(c) + ".npy");
    weight_ = head.narrow(1, 0, kDim).contiguous();
    bias_ = head.select(1, kDim).contiguous();
    mc_path_ = dir + "/mc_" + std::to_string(n) + "_" + std::to_string(c) + ".npy";
  }
  const std::vector<std::int64_t>& labeled() const override { return labeled_; }
  const std::vector<std::int64_t>& unlabeled() const override { return candidates_; }
  const std::vector<std::int64_t>& candidates() const override { return candidates_; }
  std::int64_t query_size() const override { return k_; }
  std::int64_t num_classes() const override { return c_; }
  torch::Device device() const override { return torch::kCPU; }
  std::int64_t memory_budget_bytes() const override { return std::int64_t{1024} << 20; }
  std::mt19937_64& rng() override { return rng_; }
  quarry::Logger& log() override { return log_; }
  quarry::Predictions predict(const std::vector<std::int64_t>& idx, bool probabilities, bool features) override {
    quarry::Predictions out;
    const auto f = features_.index_select(0, torch::tensor(idx, torch::kLong));
    if (features) out.features = f;
    if (probabilities) out.probabilities = torch::softmax(classify(f), 1);
    return out;
  }
  torch::Tensor predict_samples(const std::vector<std::int64_t>& idx, std::int64_t s) override {
    if (!mc_.defined()) mc_ = read_npy(mc_path_);  // loaded before timing by warm()
    if (s != mc_.size(0)) throw std::runtime_error("the inputs hold " + std::to_string(mc_.size(0)) + " MC samples");
    auto pos = torch::tensor(idx, torch::kLong) - kLabeled;
    if (pos.size(0) == mc_.size(1) && pos[0].item<std::int64_t>() == 0) return mc_;  // every candidate, in order
    return mc_.index_select(1, pos);
  }
  torch::Tensor classify(const torch::Tensor& f) override { return torch::addmm(bias_, f, weight_.t()); }
  const std::vector<std::int64_t>& labeled_labels() const override { return labels_; }
  void warm() { if (!mc_.defined() && std::ifstream(mc_path_)) mc_ = read_npy(mc_path_); }
  /// Only the first `candidates` candidates and `labeled` labeled rows (for a warm-up query).
  void restrict(std::size_t candidates, std::size_t labeled) {
    candidates_.resize(candidates);
    labeled_.resize(labeled);
    labels_.resize(labeled);
  }

 private:
  torch::Tensor features_, weight_, bias_, mc_;
  std::string mc_path_;
  std::vector<std::int64_t> labeled_, candidates_, labels_;
  std::int64_t k_, c_;
  std::mt19937_64 rng_;
  Quiet log_;
};

int time_case(int argc, char** argv) {
  torch::set_num_threads(2);
  const std::string dir = argv[2], plugins = argv[3], name = argv[4];
  const auto n = std::stoll(argv[5]), c = std::stoll(argv[6]), k = std::stoll(argv[7]);
  Quiet log;
  quarry::PluginHost host(log);
  host.load_directory(plugins);
  quarry::Params params("strategy '" + name + "'");
  for (int a = 8; a < argc; ++a) {
    const std::string kv = argv[a];
    const auto eq = kv.find('=');
    const auto value = kv.substr(eq + 1);
    if (value == "true" || value == "false") params.set(kv.substr(0, eq), value == "true");
    else if (value.find('.') != std::string::npos) params.set(kv.substr(0, eq), std::stod(value));
    else params.set(kv.substr(0, eq), static_cast<std::int64_t>(std::stoll(value)));
  }
  auto strategy = host.make_strategy(name, params);
  BenchContext ctx(dir, n, c, k);
  ctx.warm();
  {
    // Warm up as a loop's process is warm (thread pools, BLAS buffers): the same strategy on a
    // small slice first. The references do the same.
    BenchContext small(dir, n, c, 5);
    small.warm();
    small.restrict(500, 100);
    strategy->query(small);
  }
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const auto rss_before = status_bytes("VmRSS:");
  const auto cpu = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  const double c0 = cpu();
  const auto t0 = std::chrono::steady_clock::now();
  const auto picked = strategy->query(ctx);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu_seconds = cpu() - c0;
  const auto peak = status_bytes("VmHWM:") - rss_before;
  std::string picks;
  for (const auto p : picked) picks += (picks.empty() ? "" : ", ") + std::to_string(p - kLabeled);
  std::printf("{\"time_s\": %.4f, \"cpu_s\": %.4f, \"peak_bytes\": %ld, \"picks\": [%s]}\n", seconds, cpu_seconds,
              static_cast<long>(peak), picks.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "gen" && argc == 3) return generate(argv[2]);
    if (mode == "time" && argc >= 8) return time_case(argc, argv);
    std::cerr << "usage: bench_strategy_plugins gen DIR | time DIR PLUGIN_DIR NAME N C K [key=value ...]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_strategy_plugins: " << e.what() << "\n";
    return 1;
  }
}
