// The dataset components of the image_datasets plugin, and what they share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <quarry/dataset.hpp>
#include <quarry/params.hpp>

namespace quarry::image_datasets {

/// A split from parsed bytes: one memcpy each for pixels (already N x C x H x W) and labels.
Split make_split(const std::vector<std::uint8_t>& pixels, const std::vector<std::int64_t>& labels, std::int64_t channels,
                 std::int64_t height, std::int64_t width);

/// `path` itself, which must be an existing directory; Error naming `who` otherwise.
std::filesystem::path existing_dir(const std::string& who, const std::string& path, const std::string& what);

/// CIFAR-10: `path` = a directory that contains cifar-10-batches-bin/ or is it.
class Cifar10 : public Dataset {
 public:
  explicit Cifar10(const Params& params);
  static std::vector<ParamSpec> params();
  DatasetData load(Logger& log) override;

 private:
  std::string path_;
};

/// CIFAR-100: `path` = a directory that contains cifar-100-binary/ or is it; `label` fine | coarse.
class Cifar100 : public Dataset {
 public:
  explicit Cifar100(const Params& params);
  static std::vector<ParamSpec> params();
  DatasetData load(Logger& log) override;

 private:
  std::string path_;
  bool coarse_ = false;
};

/// MNIST and Fashion-MNIST: the four IDX files (plain or .gz) in `path`.
class IdxDataset : public Dataset {
 public:
  struct Kind {
    const char* component;  ///< "mnist", "fashion_mnist"
    const char* title;      ///< "MNIST", "Fashion-MNIST"
    std::vector<std::string> class_names;
    double mean;
    double std;
  };
  IdxDataset(const Params& params, Kind kind);
  DatasetData load(Logger& log) override;

 private:
  std::string path_;
  Kind kind_;
};

struct Mnist : IdxDataset {
  explicit Mnist(const Params& params);
  static std::vector<ParamSpec> params();
};

struct FashionMnist : IdxDataset {
  explicit FashionMnist(const Params& params);
  static std::vector<ParamSpec> params();
};

/// Deterministic generated data: each class is a fixed blocky random pattern plus noise.
class Synthetic : public Dataset {
 public:
  explicit Synthetic(const Params& params);
  static std::vector<ParamSpec> params();
  DatasetData load(Logger& log) override;

 private:
  std::int64_t num_classes_, train_size_, test_size_, channels_, height_, width_;
  std::uint64_t seed_;
  double noise_;
};

}  // namespace quarry::image_datasets
