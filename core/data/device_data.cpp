#include "core/data/device_data.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index) {
  auto splitmix = [](std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(splitmix(seed) ^ purpose) ^ index);
}

std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  // Rejection sampling on the top bits: unbiased and the same on every platform.
  if (n <= 1) return 0;
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % n;
  std::uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

std::vector<std::int64_t> sample_without_replacement(std::vector<std::int64_t> from, std::int64_t k,
                                                     std::mt19937_64& rng) {
  const auto n = static_cast<std::int64_t>(from.size());
  k = std::min(k, n);
  for (std::int64_t i = 0; i < k; ++i) {
    const auto j = i + static_cast<std::int64_t>(uniform_index(rng, static_cast<std::uint64_t>(n - i)));
    std::swap(from[i], from[j]);
  }
  from.resize(k);
  return from;
}

PoolSplit split_pool(std::int64_t n, double validation_fraction, std::uint64_t seed, std::int64_t pool_subset) {
  std::vector<std::int64_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(mix_seed(seed, kSeedSplit));
  const auto n_val = static_cast<std::int64_t>(std::llround(validation_fraction * static_cast<double>(n)));
  auto shuffled = sample_without_replacement(all, n, rng);
  PoolSplit s;
  s.validation.assign(shuffled.begin(), shuffled.begin() + n_val);
  s.pool.assign(shuffled.begin() + n_val, shuffled.end());
  std::sort(s.validation.begin(), s.validation.end());
  std::sort(s.pool.begin(), s.pool.end());
  if (pool_subset > 0 && pool_subset < static_cast<std::int64_t>(s.pool.size())) {
    std::mt19937_64 sub_rng(mix_seed(seed, kSeedPoolSubset));
    s.pool = sample_without_replacement(s.pool, pool_subset, sub_rng);
    std::sort(s.pool.begin(), s.pool.end());
  }
  return s;
}

namespace {
torch::Tensor index_tensor(const std::vector<std::int64_t>& idx) {
  return torch::from_blob(const_cast<std::int64_t*>(idx.data()), {static_cast<std::int64_t>(idx.size())},
                          torch::kInt64)
      .clone();
}
}  // namespace

DeviceData to_device(const DatasetData& data, const PoolSplit& split, torch::Device device, std::int64_t test_subset) {
  DeviceData d;
  d.device = device;
  d.num_classes = static_cast<std::int64_t>(data.class_names.size());
  d.class_names = data.class_names;
  auto take = [&](const Split& s, const std::vector<std::int64_t>& idx) {
    auto i = index_tensor(idx);
    return DeviceSplit{s.images.index_select(0, i).to(device), s.labels.index_select(0, i).to(device)};
  };
  d.pool = take(data.train, split.pool);
  d.validation = take(data.train, split.validation);
  d.pool_labels_cpu = data.train.labels.index_select(0, index_tensor(split.pool));
  const auto n_test = test_subset > 0 ? std::min(test_subset, data.test.size()) : data.test.size();
  d.test = DeviceSplit{data.test.images.narrow(0, 0, n_test).to(device), data.test.labels.narrow(0, 0, n_test).to(device)};
  const auto c = static_cast<std::int64_t>(data.mean.size());
  d.mean = torch::tensor(std::vector<float>(data.mean.begin(), data.mean.end())).view({1, c, 1, 1}).mul(255.0).to(device);
  d.std = torch::tensor(std::vector<float>(data.std.begin(), data.std.end())).view({1, c, 1, 1}).mul(255.0).to(device);
  return d;
}

torch::Tensor normalize(const torch::Tensor& images_u8, const torch::Tensor& mean, const torch::Tensor& std) {
  // mean/std are stored in 0..255 units, so one subtract and one divide.
  return images_u8.to(torch::kFloat32).sub_(mean).div_(std);
}

torch::Tensor augment(const torch::Tensor& batch, std::int64_t padding, bool flip, at::Generator& gen) {
  const auto b = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3);
  const auto dev = batch.device();
  auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  auto oy = torch::randint(0, 2 * padding + 1, {b}, gen, cpu_long);
  auto ox = torch::randint(0, 2 * padding + 1, {b}, gen, cpu_long);
  auto ar_h = torch::arange(h, cpu_long), ar_w = torch::arange(w, cpu_long);
  auto rows = oy.view({b, 1}) + ar_h.view({1, h});
  torch::Tensor cols;
  if (flip) {
    auto flipped = torch::randint(0, 2, {b}, gen, cpu_long).view({b, 1});
    // A flipped image reads its crop's columns right to left.
    cols = ox.view({b, 1}) + torch::where(flipped.to(torch::kBool), (w - 1) - ar_w.view({1, w}), ar_w.view({1, w}));
  } else {
    cols = ox.view({b, 1}) + ar_w.view({1, w});
  }
  auto padded = padding > 0 ? torch::constant_pad_nd(batch, {padding, padding, padding, padding}, 0) : batch;
  const auto pw = w + 2 * padding;
  auto r = rows.to(dev).view({b, 1, h, 1}).expand({b, c, h, pw});
  auto out = padded.gather(2, r);
  auto cidx = cols.to(dev).view({b, 1, 1, w}).expand({b, c, h, w});
  return out.gather(3, cidx);
}

torch::Device resolve_device(const std::string& spec) {
  if (spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device \"" + spec + "\" requested but CUDA is not available (this LibTorch build: " +
                  std::string(TORCH_VERSION) + "); use device = \"cpu\" or \"auto\"");
    torch::Device d(spec);
    if (d.index() >= static_cast<int>(torch::cuda::device_count()))
      throw Error("device \"" + spec + "\": only " + std::to_string(torch::cuda::device_count()) + " CUDA devices");
    return d;
  }
  throw Error("unknown device \"" + spec + "\" (expected auto, cpu, cuda or cuda:N)");
}

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

}  // namespace quarry
