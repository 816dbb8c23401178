#include <cstring>

#include <quarry/error.hpp>
#include <quarry/plugin.hpp>

#include "image_datasets/datasets.hpp"

namespace quarry::image_datasets {

Split make_split(const std::vector<std::uint8_t>& pixels, const std::vector<std::int64_t>& labels, std::int64_t channels,
                 std::int64_t height, std::int64_t width) {
  const auto n = static_cast<std::int64_t>(labels.size());
  Split s;
  s.images = torch::empty({n, channels, height, width}, torch::kUInt8);
  s.labels = torch::empty({n}, torch::kInt64);
  if (static_cast<std::size_t>(s.images.numel()) != pixels.size())
    throw Error("internal: " + std::to_string(pixels.size()) + " pixel bytes for " + std::to_string(n) + " images");
  if (n > 0) {
    std::memcpy(s.images.data_ptr<std::uint8_t>(), pixels.data(), pixels.size());
    std::memcpy(s.labels.data_ptr<std::int64_t>(), labels.data(), labels.size() * sizeof(std::int64_t));
  }
  return s;
}

std::filesystem::path existing_dir(const std::string& who, const std::string& path, const std::string& what) {
  std::error_code ec;
  if (path.empty()) throw Error(who + ": parameter 'path' is empty; set it to the directory with " + what);
  if (!std::filesystem::exists(path, ec))
    throw Error(who + ": path '" + path + "' does not exist; expected a directory with " + what);
  if (!std::filesystem::is_directory(path, ec))
    throw Error(who + ": path '" + path + "' is not a directory; expected a directory with " + what);
  return path;
}

}  // namespace quarry::image_datasets

namespace qi = quarry::image_datasets;

QUARRY_PLUGIN("image_datasets", "1.0.0") {
  registrar.dataset<qi::Cifar10>("cifar10", "CIFAR-10, binary version: 50000 train / 10000 test, 3x32x32, 10 classes",
                                 qi::Cifar10::params());
  registrar.dataset<qi::Cifar100>(
      "cifar100", "CIFAR-100, binary version: 50000 train / 10000 test, 3x32x32, 100 fine or 20 coarse classes",
      qi::Cifar100::params());
  registrar.dataset<qi::Mnist>("mnist", "MNIST handwritten digits (IDX files): 60000 train / 10000 test, 1x28x28",
                               qi::Mnist::params());
  registrar.dataset<qi::FashionMnist>("fashion_mnist",
                                      "Fashion-MNIST (IDX files): 60000 train / 10000 test, 1x28x28, 10 classes",
                                      qi::FashionMnist::params());
  registrar.dataset<qi::Synthetic>(
      "synthetic", "Generated, deterministic class patterns plus noise, for tests and smoke runs",
      qi::Synthetic::params());
}
