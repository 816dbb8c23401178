#include "core/data/device_data.hpp"

#include <algorithm>

#include <torch/cuda.h>
#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

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
  auto inputs = [](const Split& s) -> const torch::Tensor& { return s.has_features() ? s.features : s.images; };
  auto take = [&](const Split& s, const std::vector<std::int64_t>& idx) {
    auto i = index_tensor(idx);
    return DeviceSplit{inputs(s).index_select(0, i).to(device), s.labels.index_select(0, i).to(device)};
  };
  d.pool = take(data.train, split.pool);
  d.validation = take(data.train, split.validation);
  d.pool_labels_cpu = data.train.labels.index_select(0, index_tensor(split.pool));
  const auto n_test = test_subset > 0 ? std::min(test_subset, data.test.size()) : data.test.size();
  d.test = DeviceSplit{inputs(data.test).narrow(0, 0, n_test).to(device), data.test.labels.narrow(0, 0, n_test).to(device)};
  if (data.train.has_features()) return d;  // features are network input as they are
  const auto c = static_cast<std::int64_t>(data.mean.size());
  d.mean = torch::tensor(std::vector<float>(data.mean.begin(), data.mean.end())).view({1, c, 1, 1}).mul(255.0).to(device);
  d.std = torch::tensor(std::vector<float>(data.std.begin(), data.std.end())).view({1, c, 1, 1}).mul(255.0).to(device);
  return d;
}

torch::Tensor normalize(const torch::Tensor& images_u8, const torch::Tensor& mean, const torch::Tensor& std) {
  if (images_u8.is_floating_point()) return images_u8;  // feature vectors
  // mean/std are stored in 0..255 units, so one subtract and one divide.
  return images_u8.to(torch::kFloat32).sub_(mean).div_(std);
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

}  // namespace quarry
