// CIFAR-10 and CIFAR-100, binary versions (Krizhevsky 2009,
// https://www.cs.toronto.edu/~kriz/cifar.html).
#include <quarry/error.hpp>

#include "formats/bytes.hpp"
#include "formats/cifar.hpp"
#include "image_datasets/datasets.hpp"

namespace quarry::image_datasets {

namespace fs = std::filesystem;
namespace qf = quarry::formats;

namespace {
const char* const kWhere = "https://www.cs.toronto.edu/~kriz/cifar.html";

// Official order: batches.meta.txt of CIFAR-10.
const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

// Official order: fine_label_names.txt and coarse_label_names.txt of CIFAR-100.
const std::vector<std::string> kCifar100Fine = {
    "apple",       "aquarium_fish", "baby",         "bear",       "beaver",     "bed",       "bee",
    "beetle",      "bicycle",       "bottle",       "bowl",       "boy",        "bridge",    "bus",
    "butterfly",   "camel",         "can",          "castle",     "caterpillar", "cattle",   "chair",
    "chimpanzee",  "clock",         "cloud",        "cockroach",  "couch",      "crab",      "crocodile",
    "cup",         "dinosaur",      "dolphin",      "elephant",   "flatfish",   "forest",    "fox",
    "girl",        "hamster",       "house",        "kangaroo",   "keyboard",   "lamp",      "lawn_mower",
    "leopard",     "lion",          "lizard",       "lobster",    "man",        "maple_tree", "motorcycle",
    "mountain",    "mouse",         "mushroom",     "oak_tree",   "orange",     "orchid",    "otter",
    "palm_tree",   "pear",          "pickup_truck", "pine_tree",  "plain",      "plate",     "poppy",
    "porcupine",   "possum",        "rabbit",       "raccoon",    "ray",        "road",      "rocket",
    "rose",        "sea",           "seal",         "shark",      "shrew",      "skunk",     "skyscraper",
    "snail",       "snake",         "spider",       "squirrel",   "streetcar",  "sunflower", "sweet_pepper",
    "table",       "tank",          "telephone",    "television", "tiger",      "tractor",   "train",
    "trout",       "tulip",         "turtle",       "wardrobe",   "whale",      "willow_tree", "wolf",
    "woman",       "worm"};
const std::vector<std::string> kCifar100Coarse = {"aquatic_mammals",
                                                  "fish",
                                                  "flowers",
                                                  "food_containers",
                                                  "fruit_and_vegetables",
                                                  "household_electrical_devices",
                                                  "household_furniture",
                                                  "insects",
                                                  "large_carnivores",
                                                  "large_man-made_outdoor_things",
                                                  "large_natural_outdoor_scenes",
                                                  "large_omnivores_and_herbivores",
                                                  "medium_mammals",
                                                  "non-insect_invertebrates",
                                                  "people",
                                                  "reptiles",
                                                  "small_mammals",
                                                  "trees",
                                                  "vehicles_1",
                                                  "vehicles_2"};

// `path` or, when it holds one, its `subdir` (the folder the official archive unpacks to).
fs::path data_dir(const std::string& who, const std::string& path, const std::string& subdir, const std::string& what) {
  const fs::path dir = existing_dir(who, path, what);
  std::error_code ec;
  if (fs::is_directory(dir / subdir, ec)) return dir / subdir;
  return dir;
}

qf::CifarRecords read_records(const fs::path& file, bool is100) {
  const auto bytes = qf::read_data_file(file);
  return is100 ? qf::parse_cifar100(file.string(), qf::view(bytes)) : qf::parse_cifar10(file.string(), qf::view(bytes));
}

// A whole number of valid records, but not the official count: a subset, or a different release.
void warn_if_partial(Logger& log, const fs::path& file, std::int64_t count, std::int64_t official) {
  if (count != official)
    log.warn(file.string() + ": " + std::to_string(count) + " records, the official file has " +
             std::to_string(official));
}

Split to_split(const qf::CifarRecords& r, bool coarse) {
  return make_split(r.pixels, coarse ? r.coarse_labels : r.labels, qf::kCifarChannels, qf::kCifarSide,
                    qf::kCifarSide);
}
}  // namespace

Cifar10::Cifar10(const Params& params) : path_(params.get_string("path")) {}

std::vector<ParamSpec> Cifar10::params() {
  return {param_required("path", ParamType::String,
                         "directory that contains cifar-10-batches-bin/ (or is it): data_batch_1..5.bin, test_batch.bin")};
}

DatasetData Cifar10::load(Logger& log) {
  const std::string what = "the CIFAR-10 binary version (data_batch_1.bin..data_batch_5.bin, test_batch.bin, from " +
                           std::string(kWhere) + ")";
  const fs::path dir = data_dir("cifar10", path_, "cifar-10-batches-bin", what);
  qf::CifarRecords train;
  for (int b = 1; b <= 5; ++b) {
    const auto file = qf::find_data_file(dir, "data_batch_" + std::to_string(b) + ".bin", what);
    auto batch = read_records(file, false);
    warn_if_partial(log, file, batch.count, 10000);
    qf::append(train, std::move(batch));
  }
  const auto test_file = qf::find_data_file(dir, "test_batch.bin", what);
  const auto test = read_records(test_file, false);
  warn_if_partial(log, test_file, test.count, 10000);
  log.info("cifar10: " + std::to_string(train.count) + " train and " + std::to_string(test.count) +
           " test images from " + dir.string());
  DatasetData d;
  d.train = to_split(train, false);
  d.test = to_split(test, false);
  d.class_names = kCifar10Classes;
  d.mean = {0.4914, 0.4822, 0.4465};
  d.std = {0.247, 0.243, 0.262};
  d.source = dir.string();
  return d;
}

Cifar100::Cifar100(const Params& params)
    : path_(params.get_string("path")), coarse_(params.get_string("label") == "coarse") {}

std::vector<ParamSpec> Cifar100::params() {
  return {param_required("path", ParamType::String,
                         "directory that contains cifar-100-binary/ (or is it): train.bin, test.bin"),
          param_string("label", "fine", "which labels to learn: the 100 fine classes or the 20 coarse superclasses",
                       {"fine", "coarse"})};
}

DatasetData Cifar100::load(Logger& log) {
  const std::string what = "the CIFAR-100 binary version (train.bin, test.bin, from " + std::string(kWhere) + ")";
  const fs::path dir = data_dir("cifar100", path_, "cifar-100-binary", what);
  const auto train_file = qf::find_data_file(dir, "train.bin", what);
  const auto test_file = qf::find_data_file(dir, "test.bin", what);
  const auto train = read_records(train_file, true);
  const auto test = read_records(test_file, true);
  warn_if_partial(log, train_file, train.count, 50000);
  warn_if_partial(log, test_file, test.count, 10000);
  log.info("cifar100: " + std::to_string(train.count) + " train and " + std::to_string(test.count) + " test images (" +
           (coarse_ ? "coarse" : "fine") + " labels) from " + dir.string());
  DatasetData d;
  d.train = to_split(train, coarse_);
  d.test = to_split(test, coarse_);
  d.class_names = coarse_ ? kCifar100Coarse : kCifar100Fine;
  d.mean = {0.5071, 0.4865, 0.4409};
  d.std = {0.2673, 0.2564, 0.2762};
  d.source = dir.string();
  return d;
}

}  // namespace quarry::image_datasets
