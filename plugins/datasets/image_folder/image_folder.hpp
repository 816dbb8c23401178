// The image_folder dataset: your own JPEG/PNG images, one sub-folder per class.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <quarry/dataset.hpp>
#include <quarry/params.hpp>

namespace quarry::image_folder {

/// `path` holds train/ and test/, each with one folder per class (torchvision's ImageFolder
/// layout), or is itself a folder of class folders split by `test_fraction` (stratified,
/// seeded by `split_seed`). Images are decoded once, in parallel, converted to `channels`,
/// resized to image_size x image_size (bilinear, antialiased) and cached as one tensor file
/// keyed by the folders' content; mean/std come from the train split. See docs/datasets.md.
class ImageFolder : public Dataset {
 public:
  explicit ImageFolder(const Params& params);
  static std::vector<ParamSpec> params();
  DatasetData load(Logger& log) override;

 private:
  std::string path_;
  double test_fraction_;
  std::int64_t split_seed_;
  int channels_;
  std::int64_t image_size_;
  bool skip_bad_;
  bool cache_;
  std::string cache_dir_;
  std::int64_t threads_;
};

}  // namespace quarry::image_folder
