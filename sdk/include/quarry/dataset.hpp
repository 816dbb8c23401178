// Dataset plugins: load a labeled train split and a test split into memory.
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

#include "quarry/logger.hpp"

namespace quarry {

/// One split, held in memory (CPU): either images, uint8 N x C x H x W, or feature
/// vectors, float32 N x D (embeddings a user computed, or later a frozen backbone's
/// output), never both; labels int64 N. Everything downstream of the dataset (training,
/// strategies, pool reuse, reports, the store) works on either.
struct Split {
  torch::Tensor images;
  torch::Tensor labels;
  torch::Tensor features;  ///< float32 N x D, set instead of `images` by feature datasets
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  bool has_features() const { return features.defined(); }
};

/// What a dataset plugin returns. mean/std are per channel, in units of [0,1] pixels, for
/// images; empty for features (a model receives feature vectors exactly as given).
struct DatasetData {
  Split train;
  Split test;
  std::vector<std::string> class_names;
  std::vector<double> mean;
  std::vector<double> std;
  std::string source;  ///< where it came from (a path), for the run record
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Read the data. Throws quarry::Error naming the file and what is wrong.
  virtual DatasetData load(Logger& log) = 0;
};

/// Check a DatasetData against the contract (dtypes, shapes, label range, mean/std per channel;
/// for features: float32 N x D, the same D in train and test, finite values, no mean/std).
/// The host calls it on every plugin's output; `who` names the plugin in the message.
void validate_dataset(const DatasetData& data, const std::string& who);

}  // namespace quarry
