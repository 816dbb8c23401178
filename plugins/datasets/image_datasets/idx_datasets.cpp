// MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017): four IDX files each.
#include <quarry/error.hpp>

#include "formats/bytes.hpp"
#include "formats/idx.hpp"
#include "image_datasets/datasets.hpp"

namespace quarry::image_datasets {

namespace fs = std::filesystem;
namespace qf = quarry::formats;

namespace {
const char* const kFiles =
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each plain or "
    ".gz)";

Split read_split(const fs::path& dir, const std::string& prefix, std::int64_t num_classes, const std::string& what) {
  const auto images_file = qf::find_data_file(dir, prefix + "-images-idx3-ubyte", what);
  const auto labels_file = qf::find_data_file(dir, prefix + "-labels-idx1-ubyte", what);
  const auto images = qf::parse_idx_images(images_file.string(), qf::view(qf::read_data_file(images_file)));
  const auto labels = qf::parse_idx_labels(labels_file.string(), qf::view(qf::read_data_file(labels_file)), num_classes);
  qf::check_idx_pair(images_file.string(), images, labels_file.string(), labels);
  return make_split(images.pixels, labels, 1, images.rows, images.cols);
}
}  // namespace

IdxDataset::IdxDataset(const Params& params, Kind kind) : path_(params.get_string("path")), kind_(std::move(kind)) {}

DatasetData IdxDataset::load(Logger& log) {
  const std::string what = std::string("the ") + kind_.title + " files " + kFiles;
  const fs::path dir = existing_dir(kind_.component, path_, what);
  const auto num_classes = static_cast<std::int64_t>(kind_.class_names.size());
  DatasetData d;
  d.train = read_split(dir, "train", num_classes, what);
  d.test = read_split(dir, "t10k", num_classes, what);
  if (d.train.images.size(2) != d.test.images.size(2) || d.train.images.size(3) != d.test.images.size(3))
    throw Error(std::string(kind_.component) + ": train images are " + std::to_string(d.train.images.size(2)) + "x" +
                std::to_string(d.train.images.size(3)) + " but test images are " +
                std::to_string(d.test.images.size(2)) + "x" + std::to_string(d.test.images.size(3)) + " in " +
                dir.string());
  log.info(std::string(kind_.component) + ": " + std::to_string(d.train.size()) + " train and " +
           std::to_string(d.test.size()) + " test images from " + dir.string());
  d.class_names = kind_.class_names;
  d.mean = {kind_.mean};
  d.std = {kind_.std};
  d.source = dir.string();
  return d;
}

Mnist::Mnist(const Params& params)
    : IdxDataset(params, {"mnist", "MNIST", {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, 0.1307, 0.3081}) {}

std::vector<ParamSpec> Mnist::params() {
  return {param_required("path", ParamType::String, std::string("directory with ") + kFiles)};
}

FashionMnist::FashionMnist(const Params& params)
    : IdxDataset(params, {"fashion_mnist",
                          "Fashion-MNIST",
                          {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                           "Ankle boot"},
                          0.2860,
                          0.3530}) {}

std::vector<ParamSpec> FashionMnist::params() {
  return {param_string("path", "/usr/share/datasets/fashion-mnist",
                       std::string("directory with ") + kFiles + "; the default is where Debian's dataset-fashion-mnist "
                       "package puts them")};
}

}  // namespace quarry::image_datasets
