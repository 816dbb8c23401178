// Precomputed feature vectors ("embeddings") as four NumPy .npy files, the way a Python
// user writes them with np.save: train_features / test_features (float32, float16 or
// float64, N x D) and train_labels / test_labels (any integer dtype, N). Modality-agnostic:
// image, text and audio embeddings load the same way.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <quarry/error.hpp>
#include <quarry/plugin.hpp>

#include "formats/bytes.hpp"
#include "formats/npy.hpp"

namespace quarry::embeddings {

namespace fs = std::filesystem;
namespace qf = quarry::formats;

namespace {

struct Loaded {
  Split split;
  std::int64_t max_label = -1;
};

class Embeddings : public Dataset {
 public:
  explicit Embeddings(const Params& p)
      : dir_(p.get_string("path")),
        files_{p.get_string("train_features"), p.get_string("train_labels"), p.get_string("test_features"),
               p.get_string("test_labels")},
        class_names_(p.get_string_list("class_names")) {}

  static std::vector<ParamSpec> params() {
    return {param_string("path", "", "directory the four file names are relative to (empty: as given, relative "
                                     "to the working directory)"),
            param_string("train_features", "train_features.npy", "train features, float32/float16/float64 N x D"),
            param_string("train_labels", "train_labels.npy", "train labels, integers 0..K-1, N"),
            param_string("test_features", "test_features.npy", "test features, the same D as train"),
            param_string("test_labels", "test_labels.npy", "test labels, integers 0..K-1"),
            ParamSpec{"class_names", ParamType::StringList, ParamValue{std::vector<std::string>{}},
                      "one name per class (empty: \"0\"..\"K-1\" with K = largest label + 1)", {}, {}, {}}};
  }

  DatasetData load(Logger& log) override {
    const auto k = static_cast<std::int64_t>(class_names_.size());
    auto train = read_split(file(0), file(1), k);
    auto test = read_split(file(2), file(3), k);
    if (train.split.features.size(1) != test.split.features.size(1))
      throw Error("embeddings: " + file(0).string() + " has D = " + std::to_string(train.split.features.size(1)) +
                  " columns but " + file(2).string() + " has D = " + std::to_string(test.split.features.size(1)) +
                  "; train and test must come from the same embedding model");
    DatasetData d;
    d.class_names = class_names_;
    if (d.class_names.empty())
      for (std::int64_t c = 0; c <= std::max(train.max_label, test.max_label); ++c) d.class_names.push_back(std::to_string(c));
    d.train = std::move(train.split);
    d.test = std::move(test.split);
    d.source = file(0).parent_path().string();
    log.info("embeddings: " + std::to_string(d.train.size()) + " train and " + std::to_string(d.test.size()) +
             " test vectors of " + std::to_string(d.train.features.size(1)) + " values, " +
             std::to_string(d.class_names.size()) + " classes, from " + file(0).string());
    return d;
  }

 private:
  fs::path file(int i) const {
    const fs::path f(files_[i]);
    return dir_.empty() || f.is_absolute() ? f : fs::path(dir_) / f;
  }

  static Loaded read_split(const fs::path& features_file, const fs::path& labels_file, std::int64_t num_classes) {
    const auto fbytes = qf::read_file(features_file);
    auto m = qf::npy_features(features_file.string(), qf::parse_npy(features_file.string(), qf::view(fbytes)));
    const auto lbytes = qf::read_file(labels_file);
    auto y = qf::npy_labels(labels_file.string(), qf::parse_npy(labels_file.string(), qf::view(lbytes)), num_classes);
    if (static_cast<std::int64_t>(y.size()) != m.rows)
      throw Error(features_file.string() + ": " + std::to_string(m.rows) + " feature rows, but " + labels_file.string() +
                  " has " + std::to_string(y.size()) + " labels; the two files must describe the same examples");
    Loaded out;
    out.split.features = torch::empty({m.rows, m.cols}, torch::kFloat32);
    out.split.labels = torch::empty({m.rows}, torch::kInt64);
    if (m.rows > 0) {
      std::memcpy(out.split.features.data_ptr<float>(), m.values.data(), m.values.size() * sizeof(float));
      std::memcpy(out.split.labels.data_ptr<std::int64_t>(), y.data(), y.size() * sizeof(std::int64_t));
    }
    for (auto v : y) out.max_label = std::max(out.max_label, v);
    return out;
  }

  std::string dir_;
  std::vector<std::string> files_;
  std::vector<std::string> class_names_;
};

}  // namespace
}  // namespace quarry::embeddings

QUARRY_PLUGIN("embeddings", "1.0.0") {
  registrar.dataset<quarry::embeddings::Embeddings>(
      "embeddings",
      "Precomputed feature vectors from four NumPy .npy files (np.save): train/test features N x D "
      "(float32, float16 or float64) and integer labels",
      quarry::embeddings::Embeddings::params());
}
