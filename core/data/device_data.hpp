// The data a run trains on, held on the training device as uint8 images (or float32
// feature vectors), and the normalisation that turns it into network input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/data/split.hpp"
#include "quarry/dataset.hpp"

namespace quarry {

/// Images (uint8 N x C x H x W) or feature vectors (float32 N x D), and labels, on one device.
struct DeviceSplit {
  torch::Tensor images;  ///< the inputs: images, or a feature dataset's features
  bool features() const { return images.defined() && images.dim() == 2; }
  torch::Tensor labels;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct DeviceData {
  DeviceSplit pool, validation, test;
  torch::Tensor pool_labels_cpu;  ///< for class-balanced draws and pool export
  torch::Tensor mean, std;        ///< 1 x C x 1 x 1 float, on device; undefined for features
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;
  torch::Device device = torch::kCPU;
};

DeviceData to_device(const DatasetData& data, const PoolSplit& split, torch::Device device, std::int64_t test_subset);

/// uint8 N x C x H x W -> normalised float32 on the same device. Features (float) are
/// network input already and come back as they are.
torch::Tensor normalize(const torch::Tensor& images_u8, const torch::Tensor& mean, const torch::Tensor& std);

/// "auto" -> cuda when available, else cpu.
torch::Device resolve_device(const std::string& spec);

}  // namespace quarry
