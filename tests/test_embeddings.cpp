// Feature vectors (embeddings): the torch-free .npy parser, the embeddings dataset plugin,
// the SDK's feature contract, the linear and mlp heads (their autograd-free gradients),
// the last-layer Laplace predictive against brute force, and whole DAL runs on embeddings.
#include "testing.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "core/training/schedule.hpp"
#include "formats/bytes.hpp"
#include "formats/npy.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

using namespace quarry;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::TempDir;
namespace fs = std::filesystem;
namespace qf = quarry::formats;

namespace {

// A .npy file by hand: version 1.0, the header dict as given (padded as np.save pads it).
std::vector<std::uint8_t> npy_bytes(const std::string& dict, const void* data, std::size_t size,
                                    std::uint8_t major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  const auto len = static_cast<std::uint32_t>(header.size());
  out.push_back(len & 0xFF);
  out.push_back((len >> 8) & 0xFF);
  if (major != 1) {
    out.push_back((len >> 16) & 0xFF);
    out.push_back((len >> 24) & 0xFF);
  }
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + size);
  return out;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

void write_file(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_features(const fs::path& path, const torch::Tensor& x) {
  auto c = x.to(torch::kFloat32).contiguous();
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " +
                                 shape_text({c.size(0), c.size(1)}) + ", }",
                             c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * 4));
}

void write_labels(const fs::path& path, const torch::Tensor& y) {
  auto c = y.to(torch::kInt64).contiguous();
  write_file(path, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': " + shape_text({c.size(0)}) + ", }",
                             c.data_ptr<std::int64_t>(), static_cast<std::size_t>(c.numel()) * 8));
}

std::string npy_error(const std::vector<std::uint8_t>& bytes, bool features = true) {
  try {
    auto a = qf::parse_npy("x.npy", qf::view(bytes));
    if (features)
      qf::npy_features("x.npy", a);
    else
      qf::npy_labels("x.npy", a, 10);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A Gaussian mixture: K classes in D dims, well separated; the four files in `dir`.
void write_mixture(const fs::path& dir, std::int64_t k, std::int64_t d, std::int64_t n_train, std::int64_t n_test,
                   std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto centers = torch::randn({k, d}, gen) * 2.0;
  auto make = [&](std::int64_t n, const std::string& prefix) {
    auto y = torch::arange(n, torch::kInt64).remainder(k);
    auto x = centers.index_select(0, y) + torch::randn({n, d}, gen);
    write_features(dir / (prefix + "_features.npy"), x);
    write_labels(dir / (prefix + "_labels.npy"), y);
  };
  make(n_train, "train");
  make(n_test, "test");
}

DatasetData load_embeddings(const fs::path& dir, std::vector<std::string> class_names = {}) {
  Params p("embeddings");
  p.set("path", dir.string());
  if (!class_names.empty()) p.set("class_names", class_names);
  CaptureLogger log;
  auto data = host().make_dataset("embeddings", p)->load(log);
  validate_dataset(data, "embeddings");
  return data;
}

// CHECK that `text` contains `part`, printing the text when it does not.
#define CHECK_HAS(text, part)                                             \
  do {                                                                    \
    const std::string text_ = (text);                                     \
    CHECK_MESSAGE(text_.find(part) != std::string::npos, text_);         \
  } while (0)

bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0; }

}  // namespace

TEST_CASE("npy: round trips of every supported dtype written by numpy") {
  if (!have_numpy()) {
    MESSAGE("skipped: /usr/bin/python3 has no numpy (scripts/setup.sh installs python3-numpy)");
    return;
  }
  TempDir dir;
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "x = (np.arange(15).reshape(5, 3) * 0.25 - 1.5)\n"
      "for t in ['<f4', '>f4', '<f2', '>f2', '<f8', '>f8']: np.save(f'{d}/x_{t[0] == \">\"}_{t[1:]}.npy', x.astype(t))\n"
      "np.lib.format.write_array(open(f'{d}/x_v2.npy', 'wb'), x.astype(np.float32), version=(2, 0))\n"
      "np.lib.format.write_array(open(f'{d}/x_v3.npy', 'wb'), x.astype(np.float32), version=(3, 0))\n"
      "y = np.array([0, 3, 9, 1, 7])\n"
      "for t in ['<i8', '>i8', '<i4', '>i4', '<i2', '|i1', '|u1', '<u2', '<u4', '>u8']: "
      "np.save(f'{d}/y_{t[0] == \">\"}_{t[1:]}.npy', y.astype(t))\n"
      "np.save(f'{d}/y_bool.npy', np.array([True, False, True]))\n"
      "np.save(f'{d}/empty.npy', np.zeros((0, 3), np.float32))\n";
  {
    std::ofstream(dir.path() / "make.py") << script;
  }
  REQUIRE(std::system(("/usr/bin/python3 " + (dir.path() / "make.py").string() + " " + dir.str()).c_str()) == 0);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".npy") continue;
    CAPTURE(name);
    ++files;
    const auto bytes = qf::read_file(entry.path());
    const auto a = qf::parse_npy(name, qf::view(bytes));
    if (name[0] == 'x') {
      const auto m = qf::npy_features(name, a);
      REQUIRE(m.rows == 5);
      REQUIRE(m.cols == 3);
      for (int i = 0; i < 15; ++i) CHECK(m.values[i] == static_cast<float>(i * 0.25 - 1.5));
    } else if (name == "empty.npy") {
      const auto m = qf::npy_features(name, a);
      CHECK(m.rows == 0);
      CHECK(m.cols == 3);
    } else if (name == "y_bool.npy") {
      CHECK(qf::npy_labels(name, a, 2) == std::vector<std::int64_t>{1, 0, 1});
    } else {
      CHECK(qf::npy_labels(name, a, 10) == std::vector<std::int64_t>{0, 3, 9, 1, 7});
      CHECK_THROWS_WITH(qf::npy_labels(name, a, 9), doctest::Contains("label out of range: label 9 at index 2"));
    }
  }
  CHECK(files == 20);
}

TEST_CASE("npy: half floats convert exactly") {
  CHECK(qf::half_to_float(0x3C00) == 1.0f);
  CHECK(qf::half_to_float(0xC000) == -2.0f);
  CHECK(qf::half_to_float(0x7BFF) == 65504.0f);
  CHECK(qf::half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(std::isinf(qf::half_to_float(0x7C00)));
  CHECK(std::isnan(qf::half_to_float(0x7E00)));
}

TEST_CASE("npy: each malformed file is an error naming the file and what is wrong") {
  const float four[4] = {1, 2, 3, 4};
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  auto with = [&](const std::string& dict, std::size_t size = 16) { return npy_bytes(dict, four, size); };
  CHECK(npy_error(with(ok)) == "(no error)");
  CHECK(npy_error({}) == "x.npy: empty file, expected a NumPy .npy file");
  CHECK_HAS(npy_error({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}), "not a NumPy .npy file");
  CHECK_HAS(npy_error({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}), ".npz archive");
  CHECK_HAS(npy_error({0x93, 'N', 'U', 'M'}), "truncated");
  auto bad_version = with(ok);
  bad_version[6] = 4;
  CHECK_HAS(npy_error(bad_version), "unsupported .npy format version 4.0");
  auto long_header = with(ok);
  long_header[8] = 0xFF, long_header[9] = 0x7F;
  CHECK_HAS(npy_error(long_header), "the header promises 32767 bytes of header text");
  auto no_newline = with(ok);
  no_newline[no_newline.size() - 17] = ' ';
  CHECK_HAS(npy_error(no_newline), "does not end with a newline");
  CHECK_HAS(npy_error(with("['descr', '<f4']")), "bad .npy header: expected '{'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'shape': (2, 2), }")), "missing key 'fortran_order'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, }")), "missing key 'shape'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}")),
             "unknown key 'x'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }")),
             "expected True or False");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }")),
             "non-negative integer in 'shape'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }")),
             "overflows");
  CHECK_HAS(npy_error(with("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }")),
             "structured dtypes");
  for (const char* dtype : {"<c8", "|O", "<U3", "<M8", "|S4", "<f16", "<f3"})
    CHECK_HAS(npy_error(with(std::string("{'descr': '") + dtype + "', 'fortran_order': False, 'shape': (2, 2), }")),
               "unsupported dtype");
  CHECK_HAS(npy_error(with("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 2), }")),
             "no byte order");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }")),
             "Fortran-ordered");
  CHECK_HAS(npy_error(with(ok, 12)), "x.npy: truncated: the header promises shape (2, 2) of <f4 (16 bytes), the file has 12 bytes");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }")),
             "more than 2^64 bytes");
  auto trailing = with(ok);
  trailing.push_back(0);
  CHECK_HAS(npy_error(trailing), "1 byte of trailing data");
  // What the arrays hold.
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }")),
             "features must be a 2-D array N x D, got shape (4,)");
  CHECK_HAS(npy_error(with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }")),
             "features must be float16, float32 or float64");
  CHECK_HAS(npy_error(with(ok), false), "labels must be integers");
  CHECK_HAS(npy_error(with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }"), false),
             "labels must be a 1-D array");
  const std::int32_t negative[2] = {1, -1};
  CHECK_HAS(npy_error(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", negative, 8), false),
             "label out of range: label -1 at index 1, expected 0..9");
  const float nan[2] = {1, std::nanf("")};
  CHECK_HAS(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", nan, 8)),
             "non-finite feature value nan at row 0, column 1");
  // Variants other writers produce are accepted: double quotes, no trailing comma, version 2.
  CHECK(npy_error(with("{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f4\"}")) == "(no error)");
  CHECK(npy_error(npy_bytes(ok, four, 16, 2)) == "(no error)");
}

TEST_CASE("npy fuzz corpus and regressions: every input parses or throws quarry::Error") {
  int files = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = quarry::testing::source_dir() / "tests" / "fuzz" / kind / "npy";
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      ++files;
      const auto name = entry.path().string();
      CAPTURE(name);
      const auto bytes = qf::read_file(entry.path());
      try {
        const auto a = qf::parse_npy(name, qf::view(bytes));
        try {
          qf::npy_features(name, a);
        } catch (const Error&) {
        }
        try {
          qf::npy_labels(name, a, 10);
        } catch (const Error&) {
        }
      } catch (const Error&) {
      }
    }
  }
  CHECK(files >= 7);  // the committed seeds at least
}

TEST_CASE("embeddings dataset: loads the four files and the host validates them") {
  TempDir dir;
  write_mixture(dir.path(), 3, 8, 60, 30, 1);
  auto d = load_embeddings(dir.path());
  CHECK(d.train.has_features());
  CHECK_FALSE(d.train.images.defined());
  CHECK(d.train.features.sizes() == torch::IntArrayRef({60, 8}));
  CHECK(d.test.features.sizes() == torch::IntArrayRef({30, 8}));
  CHECK(d.class_names == std::vector<std::string>{"0", "1", "2"});
  CHECK(d.mean.empty());
  auto named = load_embeddings(dir.path(), {"cat", "dog", "bird", "fish"});
  CHECK(named.class_names.size() == 4);
  CHECK_THROWS_WITH(load_embeddings(dir.path(), {"cat", "dog"}),
                    doctest::Contains("train_labels.npy: label out of range: label 2 at index 2, expected 0..1"));

  // Rows of features and labels disagree; D of train and test disagree; a file is missing.
  write_labels(dir.path() / "test_labels.npy", torch::zeros({29}, torch::kInt64));
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("30 feature rows, but"));
  write_labels(dir.path() / "test_labels.npy", torch::zeros({30}, torch::kInt64));
  write_features(dir.path() / "test_features.npy", torch::zeros({30, 7}));
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("has D = 8 columns but"));
  fs::remove(dir.path() / "test_features.npy");
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("test_features.npy: file not found"));
}

TEST_CASE("validate_dataset: the feature contract, naming the plugin") {
  DatasetData d;
  d.class_names = {"a", "b"};
  d.train.features = torch::zeros({4, 3});
  d.train.labels = torch::tensor(std::vector<std::int64_t>{0, 1, 0, 1});
  d.test = d.train;
  CHECK_NOTHROW(validate_dataset(d, "plugin 'x'"));
  auto bad = [&](auto&& change) {
    auto c = d;
    change(c);
    try {
      validate_dataset(c, "plugin 'x'");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({4, 3}, torch::kFloat64); }) ==
        "plugin 'x': train split: features must be float32");
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({4}); }) ==
        "plugin 'x': train split: features must be N x D, got 1 dims");
  CHECK(bad([](DatasetData& c) { c.train.images = torch::zeros({4, 1, 2, 2}, torch::kUInt8); }) ==
        "plugin 'x': train split: both images and features set; a split holds one of them");
  CHECK(bad([](DatasetData& c) { c.test.features = torch::zeros({4, 5}); }) ==
        "plugin 'x': train features have D = 3 but test features D = 5");
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({3, 3}); }) ==
        "plugin 'x': train split: 3 feature vectors but 4 labels");
  CHECK(bad([](DatasetData& c) {
          c.train.features = c.train.features.clone();  // the copy shares the tensor
          c.train.features[1][2] = std::nan("");
        }) ==
        "plugin 'x': train split: features hold a NaN or infinite value");
  CHECK(bad([](DatasetData& c) {
          c.mean = {0.5};
          c.std = {0.2};
        }) ==
        "plugin 'x': mean and std are for images; leave them empty for features");
  CHECK(bad([](DatasetData& c) {
          c.test.features = torch::Tensor();
          c.test.images = torch::zeros({4, 1, 2, 2}, torch::kUInt8);
        }) == "plugin 'x': the train split holds features but the test split images");
}

namespace {

std::shared_ptr<Model> make_head(const std::string& name, std::int64_t d, std::int64_t k,
                                 const std::vector<std::pair<std::string, ParamValue>>& values = {}) {
  Params p(name);
  for (const auto& [key, v] : values) p.set(key, v);
  torch::manual_seed(3);
  return host().make_model(name, p, ModelSpec{0, 0, 0, k, d});
}

// The brute-force posterior of the last layer [W | b] (float64): the full precision
// kron(G, A) + delta I written out, inverted, and sampled.
struct BruteForce {
  torch::Tensor theta_mean;  // K*(D+1)
  torch::Tensor covariance;  // K*(D+1) square
  std::int64_t k, h;
  BruteForce(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double delta) {
    const auto x1 = torch::cat({x.to(torch::kFloat64), torch::ones({x.size(0), 1}, torch::kFloat64)}, 1);
    const auto theta = torch::cat({w.to(torch::kFloat64), b.to(torch::kFloat64).unsqueeze(1)}, 1);
    k = theta.size(0), h = theta.size(1);
    const auto p = torch::softmax(x1.mm(theta.t()), 1);
    const auto a = x1.t().mm(x1);
    const auto g = (torch::diag(p.sum(0)) - p.t().mm(p)) / static_cast<double>(x.size(0));
    const auto precision = torch::kron(g, a) + delta * torch::eye(k * h, torch::kFloat64);
    covariance = torch::inverse(precision);
    theta_mean = theta.reshape({-1});
  }
  static double log_marglik(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double delta) {
    BruteForce f(x, w, b, delta);
    const auto p = static_cast<double>(f.k * f.h);
    return -0.5 * delta * f.theta_mean.pow(2).sum().item<double>() + 0.5 * p * std::log(delta) +
           0.5 * torch::logdet(f.covariance).item<double>();
  }
  // Logit covariance of input x (exact), K x K.
  torch::Tensor logit_covariance(const torch::Tensor& xq) const {
    const auto x1 = torch::cat({xq.to(torch::kFloat64), torch::ones({1}, torch::kFloat64)});
    const auto j = torch::kron(torch::eye(k, torch::kFloat64), x1.unsqueeze(0));  // K x K*H
    return j.mm(covariance).mm(j.t());
  }
  // E[softmax(f)] under the weight posterior, by sampling the weights.
  torch::Tensor predictive(const torch::Tensor& xq, std::int64_t samples, std::uint64_t seed) const {
    auto gen = at::detail::createCPUGenerator(seed);
    const auto chol = torch::linalg_cholesky(covariance);
    const auto thetas = theta_mean.unsqueeze(0) + torch::randn({samples, k * h}, gen, torch::kFloat64).mm(chol.t());
    const auto x1 = torch::cat({xq.to(torch::kFloat64), torch::ones({xq.size(0), 1}, torch::kFloat64)}, 1);
    const auto f = torch::einsum("skh,nh->nsk", {thetas.view({samples, k, h}), x1});
    return torch::softmax(f, 2).mean(1);
  }
};

torch::Tensor param(Model& m, const std::string& name) { return m.named_parameters()[name].detach().clone(); }

}  // namespace

TEST_CASE("heads: the linear head's autograd-free gradients are autograd's") {
  auto gen = at::detail::createCPUGenerator(5);
  const auto x = torch::randn({37, 6}, gen);
  const auto y = torch::randint(0, 4, {37}, gen, torch::kInt64);
  auto m = make_head("linear", 6, 4);
  m->train(true);
  const auto loss = m->loss_and_gradients(x, y);
  REQUIRE(loss.defined());
  std::vector<torch::Tensor> fast;
  for (auto& p : m->parameters()) fast.push_back(p.grad().clone());
  for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  const auto ref = torch::nn::functional::cross_entropy(m->forward(x).logits, y);
  ref.backward();
  CHECK(loss.item<double>() == doctest::Approx(ref.item<double>()).epsilon(1e-6));
  std::size_t i = 0;
  for (auto& p : m->parameters()) CHECK(torch::allclose(fast[i++], p.grad(), 1e-5, 1e-6));
  // The mlp head leaves training to autograd; heads refuse images, vision models refuse features.
  auto mlp = make_head("mlp", 6, 4, {{"hidden", std::int64_t{8}}});
  mlp->train(true);
  CHECK_FALSE(mlp->loss_and_gradients(x, y).defined());
  CHECK(mlp->forward(x).features.sizes() == torch::IntArrayRef({37, 8}));
  CHECK_THROWS_WITH(host().make_model("linear", Params("linear"), ModelSpec{1, 28, 28, 10}),
                    doctest::Contains("takes feature vectors, but the dataset gives images of 1x28x28"));
  CHECK_THROWS_WITH(host().make_model("small_cnn", Params("small_cnn"), ModelSpec{0, 0, 0, 10, 384}),
                    doctest::Contains("takes images, but the dataset gives feature vectors of 384 values"));
}

TEST_CASE("heads: training through the fast path gives the weights of autograd + torch::optim::SGD") {
  auto gen = at::detail::createCPUGenerator(8);
  const DeviceSplit data{torch::randn({90, 6}, gen), torch::randint(0, 3, {90}, gen, torch::kInt64)};
  std::vector<std::int64_t> labeled;
  for (std::int64_t i = 0; i < 90; i += 2) labeled.push_back(i);
  for (bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    TrainConfig cfg;
    cfg.epochs = 7;
    cfg.batch_size = 8;
    cfg.lr = 0.1;
    cfg.warmup_epochs = 2;
    cfg.nesterov = nesterov;
    auto fast = make_head("linear", 6, 3);
    auto ref = make_head("linear", 6, 3);
    REQUIRE(torch::equal(param(*fast, "fc.weight"), param(*ref, "fc.weight")));
    train_model(*fast, cfg, data, {}, {}, labeled, 5);
    // The reference: the trainer's batches and schedule, autograd, the optimiser of every other model.
    auto g = at::detail::createCPUGenerator(5);
    auto idx = torch::tensor(labeled, torch::kInt64);
    auto x = data.images.index_select(0, idx), y = data.labels.index_select(0, idx);
    torch::optim::SGD opt(ref->parameters(), torch::optim::SGDOptions(cfg.lr)
                                                 .momentum(cfg.momentum)
                                                 .weight_decay(cfg.weight_decay)
                                                 .nesterov(cfg.nesterov));
    ref->train(true);
    for (std::int64_t e = 0; e < cfg.epochs; ++e) {
      for (auto& group : opt.param_groups())
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(warmup_cosine(cfg, e));
      for (auto& pos : epoch_batches(static_cast<std::int64_t>(labeled.size()), cfg, g)) {
        opt.zero_grad();
        torch::nn::functional::cross_entropy(ref->forward(x.index_select(0, pos)).logits, y.index_select(0, pos))
            .backward();
        opt.step();
      }
    }
    CHECK(torch::allclose(param(*fast, "fc.weight"), param(*ref, "fc.weight"), 1e-4, 1e-5));
    CHECK(torch::allclose(param(*fast, "fc.bias"), param(*ref, "fc.bias"), 1e-4, 1e-5));
    CHECK_FALSE(torch::allclose(param(*fast, "fc.weight"), param(*make_head("linear", 6, 3), "fc.weight")));
  }
}

TEST_CASE("Laplace: the last-layer predictive against a brute-force posterior (float64)") {
  const std::int64_t d = 5, k = 3, n = 20;
  auto gen = at::detail::createCPUGenerator(11);
  const auto x = torch::randn({n, d}, gen);
  const auto y = torch::randint(0, k, {n}, gen, torch::kInt64);
  const auto xq = torch::randn({8, d}, gen);
  const double delta = 1.0;
  const auto w0 = torch::randn({k, d}, gen) * 1.5;
  auto fit = [&](const std::string& predictive, double prior, std::int64_t samples) {
    auto m = make_head("linear", d, k,
                       {{"laplace", true}, {"laplace_predictive", predictive}, {"prior_precision", prior},
                        {"laplace_samples", samples}});
    {
      torch::NoGradGuard ng;
      m->named_parameters()["fc.weight"].copy_(w0);
    }
    m->train(false);
    m->after_training(x, y);
    return m;
  };
  auto m = fit("probit", delta, 1);
  const auto w = param(*m, "fc.weight"), b = param(*m, "fc.bias");
  const BruteForce bf(x, w, b, delta);
  torch::NoGradGuard ng;
  const auto mu = (xq.to(torch::kFloat64).mm(w.to(torch::kFloat64).t()) + b.to(torch::kFloat64));

  // Probit: exactly mu / sqrt(1 + pi/8 var) with the brute-force logit variances...
  const auto probit = torch::softmax(m->forward(xq).logits.to(torch::kFloat64), 1);
  for (std::int64_t i = 0; i < xq.size(0); ++i) {
    const auto var = bf.logit_covariance(xq[i]).diagonal();
    const auto want = torch::softmax(mu[i] / (1 + M_PI / 8 * var).sqrt(), 0);
    CHECK(torch::allclose(probit[i], want, 1e-5, 1e-6));
  }
  // ... and close to the predictive that sampling the weights gives (it is an approximation).
  const auto brute = bf.predictive(xq, 200000, 1);
  // Per-class mean field ignores the logits' correlations: close, not exact; and much closer
  // than the plain softmax, so a head without its Laplace predictive would fail here.
  const auto plain = torch::softmax(mu, 1);
  CHECK((probit - brute).abs().max().item<double>() < 0.06);
  CHECK((probit - brute).abs().mean().item<double>() < 0.5 * (plain - brute).abs().mean().item<double>());

  // Monte Carlo in logit space agrees with sampling the weights, to Monte-Carlo error.
  auto mc = fit("mc", delta, 20000);
  CHECK(torch::allclose(param(*mc, "fc.weight"), w));  // same draws, same weights as above
  const auto mc_probs = torch::softmax(mc->forward(xq).logits.to(torch::kFloat64), 1);
  CHECK((mc_probs - brute).abs().max().item<double>() < 0.01);

  // prior_precision = 0: the grid value that maximises the brute-force marginal likelihood.
  double best = 0, best_ml = -1e300;
  for (int i = 0; i <= 160; ++i) {
    const double dl = std::pow(10.0, -4.0 + 0.05 * i);
    const double ml = BruteForce::log_marglik(x, w, b, dl);
    if (ml > best_ml) best_ml = ml, best = dl;
  }
  auto chosen = fit("probit", 0.0, 1);
  auto fixed = fit("probit", best, 1);
  CHECK(torch::allclose(chosen->forward(xq).logits, fixed->forward(xq).logits, 1e-5, 1e-6));

  // The fit lives in buffers: restoring the weights from before it forgets it.
  auto fresh = make_head("linear", d, k, {{"laplace", true}});
  fresh->train(false);
  const auto before = snapshot_weights(*fresh);
  const auto plain_logits = fresh->forward(xq).logits.clone();
  fresh->after_training(x, y);
  CHECK_FALSE(torch::allclose(fresh->forward(xq).logits, plain_logits));
  restore_weights(*fresh, before);
  CHECK(torch::equal(fresh->forward(xq).logits, plain_logits));
}

namespace {
std::string embeddings_pipeline(const TempDir& dir, const std::string& model, const std::string& strategy) {
  return R"([run]
name = "emb"
seeds = [1]
device = "cpu"
threads = 1
results = ")" + dir.str() + R"("

[dataset]
name = "embeddings"
path = ")" + dir.str() + R"("
validation_fraction = 0.1

[model]
)" + model + R"(

[train]
epochs = 30
batch_size = 16
lr = 0.05
warmup_epochs = 1
augment = false
predict_batch_size = 64

[al]
initial = 12
query_size = 12
budget = 36
candidate_subset = 200

[[strategies]]
name = ")" + strategy + "\"\n";
}

std::vector<CycleRecord> run_embeddings(const TempDir& dir, const std::string& model, const std::string& strategy) {
  auto p = parse_pipeline(embeddings_pipeline(dir, model, strategy), "t.toml", {}, &host());
  Store store(dir.path() / "quarry.db");
  auto out = run_active_learning(p, 0, 1, host(), store);
  return store.cycles(out.run_id);
}
}  // namespace

TEST_CASE("a whole DAL run on embeddings: linear head + margin, mlp head + BADGE, Laplace + entropy") {
  TempDir dir;
  write_mixture(dir.path(), 4, 16, 400, 120, 2);
  for (const auto& [model, strategy] :
       std::vector<std::pair<std::string, std::string>>{{"name = \"linear\"", "margin"},
                                                        {"name = \"mlp\"\nhidden = 32\ndropout = 0.1", "badge"},
                                                        {"name = \"linear\"\nlaplace = true", "entropy"},
                                                        {"name = \"mlp\"\nhidden = 16\nlaplace = true\n"
                                                         "laplace_predictive = \"mc\"\nlaplace_samples = 50",
                                                         "margin"}}) {
    CAPTURE(model);
    const auto cycles = run_embeddings(dir, model, strategy);
    REQUIRE(cycles.size() == 3);
    CHECK(cycles[2].labeled == 36);
    CHECK(cycles[2].test_accuracy > 0.9);  // four well-separated Gaussians in 16 dimensions
    CHECK(std::isfinite(cycles[2].test_nll));
    // Same seed, same picks and metrics.
    const auto again = run_embeddings(dir, model, strategy);
    CHECK(again[1].queried == cycles[1].queried);
    CHECK(again[2].test_accuracy == cycles[2].test_accuracy);
  }
}

TEST_CASE("embeddings pipelines: a bad key names file:line:column; images models are refused") {
  TempDir dir;
  write_mixture(dir.path(), 3, 4, 60, 20, 3);
  auto text = embeddings_pipeline(dir, "name = \"linear\"", "margin");
  const auto bad = text.replace(text.find("validation_fraction"), 0, "trian_features = \"x.npy\"\n");
  CHECK_THROWS_WITH(parse_pipeline(bad, "t.toml", {}, &host()), doctest::Contains("t.toml:11:1"));
  CHECK_THROWS_WITH(parse_pipeline(bad, "t.toml", {}, &host()), doctest::Contains("trian_features"));
  auto p = parse_pipeline(embeddings_pipeline(dir, "name = \"small_cnn\"", "margin"), "t.toml", {}, &host());
  CaptureLogger log;
  CHECK_THROWS_WITH(prepare_experiment(p, 1, host(), log), doctest::Contains("takes images"));
}
