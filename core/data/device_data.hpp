// The data a run trains on, held on the training device as uint8 tensors, and
// the batched tensor ops that turn it into network input.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <torch/types.h>

#include "quarry/dataset.hpp"

namespace quarry {

/// splitmix64-style mixing: a seed for each purpose, so draws do not depend on order.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t purpose, std::uint64_t index = 0);
enum SeedPurpose : std::uint64_t {
  kSeedSplit = 1, kSeedInit = 2, kSeedInitial = 3, kSeedTrain = 4, kSeedCandidates = 5, kSeedQuery = 6,
  kSeedHpoSplit = 7, kSeedHpoSampler = 8, kSeedPoolSubset = 9,
};

/// A uniform integer in [0, n) with a fixed formula (identical across standard libraries).
std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n);
/// k distinct elements of `from`, by partial Fisher-Yates with uniform_index; order = draw order.
std::vector<std::int64_t> sample_without_replacement(std::vector<std::int64_t> from, std::int64_t k,
                                                     std::mt19937_64& rng);

/// The train split divided into the pool and a held-out validation set, per seed.
struct PoolSplit {
  std::vector<std::int64_t> pool;        ///< train-split indices forming the pool (pool index -> train index)
  std::vector<std::int64_t> validation;  ///< train-split indices held out
};
/// Deterministic for (n, fraction, seed): round(fraction * n) images held out.
/// pool_subset > 0 keeps a seeded random subset of the pool of that size.
PoolSplit split_pool(std::int64_t n, double validation_fraction, std::uint64_t seed, std::int64_t pool_subset = 0);

/// Images (uint8) and labels on one device.
struct DeviceSplit {
  torch::Tensor images;
  torch::Tensor labels;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct DeviceData {
  DeviceSplit pool, validation, test;
  torch::Tensor pool_labels_cpu;  ///< for class-balanced draws and pool export
  torch::Tensor mean, std;        ///< 1 x C x 1 x 1 float, on device
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;
  torch::Device device = torch::kCPU;
};

DeviceData to_device(const DatasetData& data, const PoolSplit& split, torch::Device device, std::int64_t test_subset);

/// uint8 N x C x H x W -> normalised float32 on the same device.
torch::Tensor normalize(const torch::Tensor& images_u8, const torch::Tensor& mean, const torch::Tensor& std);

/// Random crop with `padding` zero pixels and (optionally) horizontal flip, one draw
/// per image, as batched gathers on the batch's device. Draws come from `gen` (CPU).
torch::Tensor augment(const torch::Tensor& batch, std::int64_t padding, bool flip, at::Generator& gen);

/// "auto" -> cuda when available, else cpu.
torch::Device resolve_device(const std::string& spec);

/// Peak resident memory of this process, in MiB (VmHWM).
double peak_rss_mb();

}  // namespace quarry
