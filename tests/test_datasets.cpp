// The image_datasets plugin and its torch-free parsers. Fixtures are written in
// the exact official binary layouts into a temp dir, then loaded through the real
// plugin via the host, as a pipeline would.
#include "testing.hpp"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/host/plugin_host.hpp"
#include "formats/bytes.hpp"
#include "formats/cifar.hpp"
#include "formats/idx.hpp"
#include "quarry/error.hpp"
#include "paths.hpp"

namespace test_datasets {  // one namespace per test file: they compile in unity batches
using namespace quarry;
using quarry::testing::plugin_dir;
namespace fs = std::filesystem;
namespace qf = quarry::formats;

namespace {
struct QuietLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string&) override {}
};

struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("quarry_test_datasets_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

using ByteVec = std::vector<std::uint8_t>;

void write_file(const fs::path& p, const ByteVec& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_gzip(const fs::path& p, const ByteVec& bytes) {
  fs::create_directories(p.parent_path());
  gzFile f = gzopen(p.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

ByteVec gzip_bytes(const ByteVec& bytes) {
  TempDir t;
  write_gzip(t.path / "x.gz", bytes);
  return qf::read_file(t.path / "x.gz");
}

// A distinct value for every (global image index, byte within the image).
std::uint8_t pixel_value(std::int64_t n, std::int64_t k) { return static_cast<std::uint8_t>((n * 131 + k * 7) % 251); }

// CIFAR records: [coarse] label, then 1024 R, 1024 G, 1024 B, each 32x32 row-major.
ByteVec cifar_records(std::int64_t first, const std::vector<std::vector<std::uint8_t>>& label_bytes) {
  ByteVec out;
  for (std::size_t i = 0; i < label_bytes.size(); ++i) {
    out.insert(out.end(), label_bytes[i].begin(), label_bytes[i].end());
    for (std::int64_t k = 0; k < qf::kCifarPixels; ++k) out.push_back(pixel_value(first + std::int64_t(i), k));
  }
  return out;
}

void put_be32(ByteVec& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

ByteVec idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols) {
  ByteVec out;
  put_be32(out, 0x00000803);
  put_be32(out, n);
  put_be32(out, rows);
  put_be32(out, cols);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < std::int64_t(rows) * cols; ++k) out.push_back(pixel_value(i, k));
  return out;
}

ByteVec idx_labels(const std::vector<std::uint8_t>& labels) {
  ByteVec out;
  put_be32(out, 0x00000801);
  put_be32(out, static_cast<std::uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

// A CIFAR-10 dir: 5 train batches of 2 records (labels b, b+1 mod 10), a test batch of 3.
fs::path write_cifar10(const fs::path& root) {
  const fs::path dir = root / "cifar-10-batches-bin";
  for (int b = 1; b <= 5; ++b) {
    const std::uint8_t l = static_cast<std::uint8_t>(b);
    write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"),
               cifar_records(2 * (b - 1), {{l}, {static_cast<std::uint8_t>((l + 1) % 10)}}));
  }
  write_file(dir / "test_batch.bin", cifar_records(100, {{9}, {0}, {4}}));
  write_file(dir / "batches.meta.txt", ByteVec{'x'});
  return dir;
}

fs::path write_cifar100(const fs::path& root) {
  const fs::path dir = root / "cifar-100-binary";
  write_file(dir / "train.bin", cifar_records(0, {{19, 99}, {0, 3}, {7, 42}}));
  write_file(dir / "test.bin", cifar_records(100, {{4, 55}, {11, 0}}));
  return dir;
}

// MNIST-style dir: train 3 images of 4x5 (gzipped images, plain labels), test 2 (plain images, gzipped labels).
void write_idx_dir(const fs::path& dir) {
  write_gzip(dir / "train-images-idx3-ubyte.gz", idx_images(3, 4, 5));
  write_file(dir / "train-labels-idx1-ubyte", idx_labels({5, 0, 9}));
  write_file(dir / "t10k-images-idx3-ubyte", idx_images(2, 4, 5));
  write_gzip(dir / "t10k-labels-idx1-ubyte.gz", idx_labels({1, 2}));
}

DatasetData load(const std::string& component, Params params) {
  QuietLogger log;
  PluginHost host(log);
  host.load_directory(plugin_dir());
  auto d = host.make_dataset(component, std::move(params))->load(log);
  validate_dataset(d, component);
  return d;
}

Params path_params(const std::string& component, const fs::path& path) {
  Params p("dataset '" + component + "'");
  p.set("path", path.string());
  return p;
}

// The message of the Error that loading throws ("" and a failed check if none).
std::string load_error(const std::string& component, Params params) {
  try {
    load(component, std::move(params));
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected quarry::Error from " << component);
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::uint8_t pixel_at(const torch::Tensor& images, std::int64_t n, std::int64_t c, std::int64_t y, std::int64_t x) {
  return images.index({n, c, y, x}).item<std::uint8_t>();
}

std::vector<std::int64_t> labels_of(const Split& s) {
  auto l = s.labels.contiguous();
  return {l.data_ptr<std::int64_t>(), l.data_ptr<std::int64_t>() + l.numel()};
}
}  // namespace

TEST_CASE("cifar10: five batches and a test batch, pixels land at [n][c][y][x]") {
  TempDir t;
  const fs::path dir = write_cifar10(t.path);
  for (const fs::path& path : {t.path, dir}) {  // the parent dir, or the batches dir itself
    const auto d = load("cifar10", path_params("cifar10", path));
    CHECK(d.train.images.sizes() == torch::IntArrayRef({10, 3, 32, 32}));
    CHECK(d.test.images.sizes() == torch::IntArrayRef({3, 3, 32, 32}));
    CHECK(labels_of(d.train) == std::vector<std::int64_t>{1, 2, 2, 3, 3, 4, 4, 5, 5, 6});
    CHECK(labels_of(d.test) == std::vector<std::int64_t>{9, 0, 4});
    REQUIRE(d.class_names.size() == 10);
    CHECK(d.class_names[0] == "airplane");
    CHECK(d.class_names[9] == "truck");
    CHECK(d.mean == std::vector<double>{0.4914, 0.4822, 0.4465});
    CHECK(d.std == std::vector<double>{0.247, 0.243, 0.262});
    CHECK(d.source == dir.string());
    // Record 7 (batch 4, second record), blue plane (2), row 5, column 7: byte 2*1024 + 5*32 + 7 of its pixels.
    CHECK(pixel_at(d.train.images, 7, 2, 5, 7) == pixel_value(7, 2 * 1024 + 5 * 32 + 7));
    CHECK(pixel_at(d.train.images, 0, 0, 0, 1) == pixel_value(0, 1));
    CHECK(pixel_at(d.test.images, 2, 1, 31, 30) == pixel_value(102, 1024 + 31 * 32 + 30));
    // Every byte, in order.
    auto tr = d.train.images.contiguous();
    bool all_equal = true;
    for (std::int64_t n = 0; n < 10; ++n)
      for (std::int64_t k = 0; k < qf::kCifarPixels; ++k)
        all_equal = all_equal && tr.data_ptr<std::uint8_t>()[n * qf::kCifarPixels + k] == pixel_value(n, k);
    CHECK(all_equal);
  }
}

TEST_CASE("cifar100: fine labels by default, coarse on request") {
  TempDir t;
  const fs::path dir = write_cifar100(t.path);
  const auto fine = load("cifar100", path_params("cifar100", t.path));
  CHECK(fine.train.images.sizes() == torch::IntArrayRef({3, 3, 32, 32}));
  CHECK(labels_of(fine.train) == std::vector<std::int64_t>{99, 3, 42});
  CHECK(labels_of(fine.test) == std::vector<std::int64_t>{55, 0});
  REQUIRE(fine.class_names.size() == 100);
  CHECK(fine.class_names[0] == "apple");
  CHECK(fine.class_names[99] == "worm");
  CHECK(fine.source == dir.string());
  CHECK(pixel_at(fine.train.images, 2, 1, 3, 4) == pixel_value(2, 1024 + 3 * 32 + 4));

  auto p = path_params("cifar100", dir);
  p.set("label", std::string("coarse"));
  const auto coarse = load("cifar100", p);
  CHECK(labels_of(coarse.train) == std::vector<std::int64_t>{19, 0, 7});
  CHECK(labels_of(coarse.test) == std::vector<std::int64_t>{4, 11});
  REQUIRE(coarse.class_names.size() == 20);
  CHECK(coarse.class_names[0] == "aquatic_mammals");
  CHECK(coarse.class_names[19] == "vehicles_2");
  CHECK(torch::equal(coarse.train.images, fine.train.images));

  auto bad = path_params("cifar100", dir);
  bad.set("label", std::string("medium"));
  CHECK_THROWS_WITH_AS(load("cifar100", bad), doctest::Contains("expected one of"), Error);
}

TEST_CASE("mnist: IDX files, gzipped or plain") {
  TempDir t;
  write_idx_dir(t.path);
  const auto d = load("mnist", path_params("mnist", t.path));
  CHECK(d.train.images.sizes() == torch::IntArrayRef({3, 1, 4, 5}));
  CHECK(d.test.images.sizes() == torch::IntArrayRef({2, 1, 4, 5}));
  CHECK(labels_of(d.train) == std::vector<std::int64_t>{5, 0, 9});
  CHECK(labels_of(d.test) == std::vector<std::int64_t>{1, 2});
  CHECK(pixel_at(d.train.images, 2, 0, 3, 1) == pixel_value(2, 3 * 5 + 1));
  CHECK(pixel_at(d.test.images, 1, 0, 0, 4) == pixel_value(1, 4));
  CHECK(d.class_names.size() == 10);
  CHECK(d.mean == std::vector<double>{0.1307});
  CHECK(d.std == std::vector<double>{0.3081});
}

TEST_CASE("dataset errors name the file and the problem") {
  SUBCASE("path does not exist") {
    const auto msg = load_error("cifar10", path_params("cifar10", "/nonexistent/quarry-data"));
    CHECK(contains(msg, "/nonexistent/quarry-data"));
    CHECK(contains(msg, "does not exist"));
  }
  SUBCASE("missing batch file") {
    TempDir t;
    const auto dir = write_cifar10(t.path);
    fs::remove(dir / "data_batch_3.bin");
    const auto msg = load_error("cifar10", path_params("cifar10", t.path));
    CHECK(contains(msg, (dir / "data_batch_3.bin").string()));
    CHECK(contains(msg, "file not found"));
    CHECK(contains(msg, "cs.toronto.edu"));
  }
  SUBCASE("truncated CIFAR-10 batch") {
    TempDir t;
    const auto dir = write_cifar10(t.path);
    fs::resize_file(dir / "data_batch_2.bin", 3073 + 100);
    const auto msg = load_error("cifar10", path_params("cifar10", t.path));
    CHECK(contains(msg, (dir / "data_batch_2.bin").string()));
    CHECK(contains(msg, "not a whole number of CIFAR-10 records (3073 bytes each"));
    CHECK(contains(msg, "1 record and 100 bytes left over"));
  }
  SUBCASE("CIFAR-10 label out of range") {
    TempDir t;
    const auto dir = write_cifar10(t.path);
    write_file(dir / "test_batch.bin", cifar_records(0, {{3}, {10}}));
    const auto msg = load_error("cifar10", path_params("cifar10", t.path));
    CHECK(contains(msg, (dir / "test_batch.bin").string()));
    CHECK(contains(msg, "label out of range in record 1"));
    CHECK(contains(msg, "found 10, expected 0..9"));
  }
  SUBCASE("CIFAR-100 coarse and fine labels out of range") {
    TempDir t;
    const auto dir = write_cifar100(t.path);
    write_file(dir / "train.bin", cifar_records(0, {{20, 1}}));
    auto msg = load_error("cifar100", path_params("cifar100", t.path));
    CHECK(contains(msg, (dir / "train.bin").string()));
    CHECK(contains(msg, "coarse label out of range in record 0 (byte offset 0): found 20, expected 0..19"));
    write_file(dir / "train.bin", cifar_records(0, {{2, 1}, {2, 100}}));
    msg = load_error("cifar100", path_params("cifar100", t.path));
    CHECK(contains(msg, "fine label out of range in record 1 (byte offset 3074): found 100, expected 0..99"));
  }
  SUBCASE("empty files") {
    TempDir t;
    const auto dir = write_cifar100(t.path);
    write_file(dir / "test.bin", {});
    auto msg = load_error("cifar100", path_params("cifar100", t.path));
    CHECK(contains(msg, (dir / "test.bin").string() + ": empty file, expected CIFAR-100 records"));
    write_idx_dir(t.path / "mnist");
    write_file(t.path / "mnist" / "train-labels-idx1-ubyte", {});
    msg = load_error("mnist", path_params("mnist", t.path / "mnist"));
    CHECK(contains(msg, (t.path / "mnist" / "train-labels-idx1-ubyte").string() + ": empty file"));
  }
  SUBCASE("IDX wrong magic") {
    TempDir t;
    write_idx_dir(t.path);
    fs::remove(t.path / "t10k-images-idx3-ubyte");
    write_file(t.path / "t10k-images-idx3-ubyte", idx_labels({1, 2}));  // a labels file in place of images
    const auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, (t.path / "t10k-images-idx3-ubyte").string()));
    CHECK(contains(msg, "wrong magic number: expected 0x00000803 (IDX images), found 0x00000801"));
  }
  SUBCASE("IDX truncated, behind gzip") {
    TempDir t;
    write_idx_dir(t.path);
    auto images = idx_images(3, 4, 5);
    images.resize(images.size() - 7);
    write_gzip(t.path / "train-images-idx3-ubyte.gz", images);
    const auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, (t.path / "train-images-idx3-ubyte.gz").string() +
                            ": truncated: header promises 3 images of 4x5 (76 bytes), file has 69 bytes"));
  }
  SUBCASE("IDX trailing bytes") {
    TempDir t;
    write_idx_dir(t.path);
    auto labels = idx_labels({5, 0, 9});
    labels.push_back(0);
    write_file(t.path / "train-labels-idx1-ubyte", labels);
    const auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, "train-labels-idx1-ubyte: 1 byte of trailing data: header promises 3 labels (11 bytes), "
                        "file has 12 bytes"));
  }
  SUBCASE("IDX label out of range") {
    TempDir t;
    write_idx_dir(t.path);
    write_file(t.path / "train-labels-idx1-ubyte", idx_labels({5, 10, 9}));
    const auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, "train-labels-idx1-ubyte: label out of range: label 10 at index 1, expected 0..9"));
  }
  SUBCASE("IDX image/label count mismatch") {
    TempDir t;
    write_idx_dir(t.path);
    write_file(t.path / "train-labels-idx1-ubyte", idx_labels({5, 0}));
    const auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, "train-images-idx3-ubyte.gz: image/label count mismatch: 3 images, but"));
    CHECK(contains(msg, "train-labels-idx1-ubyte has 2 labels"));
  }
  SUBCASE("corrupt and truncated gzip") {
    TempDir t;
    write_idx_dir(t.path);
    auto gz = gzip_bytes(idx_images(3, 4, 5));
    auto cut = gz;
    cut.resize(cut.size() / 2);
    write_file(t.path / "train-images-idx3-ubyte.gz", cut);
    auto msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, "train-images-idx3-ubyte.gz: truncated gzip data"));
    gz[gz.size() - 6] ^= 0xff;  // the CRC-32 in the trailer
    write_file(t.path / "train-images-idx3-ubyte.gz", gz);
    msg = load_error("mnist", path_params("mnist", t.path));
    CHECK(contains(msg, "train-images-idx3-ubyte.gz: corrupt gzip data"));
  }
}

TEST_CASE("fashion_mnist: the real files from Debian's dataset-fashion-mnist") {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) {
    MESSAGE("skipped: " << dir << " not installed (apt install dataset-fashion-mnist)");
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto d = load("fashion_mnist", Params("dataset 'fashion_mnist'"));  // the default path
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("Fashion-MNIST loaded in " << seconds << " s");
  CHECK(seconds < 5.0);  // about 0.3 s here; generous, as the machine is shared
  CHECK(d.train.images.sizes() == torch::IntArrayRef({60000, 1, 28, 28}));
  CHECK(d.test.images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  CHECK(d.class_names.size() == 10);
  CHECK(d.class_names[9] == "Ankle boot");
  // Balanced: 6000 train and 1000 test images per class.
  CHECK(torch::equal(torch::bincount(d.train.labels), torch::full({10}, 6000, torch::kInt64)));
  CHECK(torch::equal(torch::bincount(d.test.labels), torch::full({10}, 1000, torch::kInt64)));
  // The published statistics match the data.
  CHECK(d.train.images.to(torch::kDouble).mean().item<double>() / 255.0 == doctest::Approx(0.2860).epsilon(0.002));
}

TEST_CASE("synthetic: deterministic for a seed, valid, and per-class distinct") {
  auto params = [](std::int64_t seed) {
    Params p("dataset 'synthetic'");
    p.set("seed", seed);
    p.set("channels", std::int64_t{3});
    p.set("height", std::int64_t{10});  // not a multiple of the 4-pixel blocks
    return p;
  };
  const auto a = load("synthetic", params(7));
  const auto b = load("synthetic", params(7));
  const auto c = load("synthetic", params(8));
  CHECK(a.train.images.sizes() == torch::IntArrayRef({600, 3, 10, 16}));
  CHECK(a.test.images.sizes() == torch::IntArrayRef({200, 3, 10, 16}));
  CHECK(torch::equal(a.train.images, b.train.images));
  CHECK(torch::equal(a.test.images, b.test.images));
  CHECK(torch::equal(a.train.labels, b.train.labels));
  CHECK(a.mean == b.mean);
  CHECK_FALSE(torch::equal(a.train.images, c.train.images));
  CHECK(a.class_names.size() == 4);
  CHECK(torch::equal(torch::bincount(a.train.labels), torch::full({4}, 150, torch::kInt64)));
  REQUIRE(a.mean.size() == 3);
  // Nearest class mean (from train) classifies test: the classes are learnable.
  auto x = a.train.images.to(torch::kFloat).reshape({600, -1});
  auto centroids = torch::stack({x.index({a.train.labels == 0}).mean(0), x.index({a.train.labels == 1}).mean(0),
                                 x.index({a.train.labels == 2}).mean(0), x.index({a.train.labels == 3}).mean(0)});
  auto xt = a.test.images.to(torch::kFloat).reshape({200, 1, -1});
  auto predicted = (xt - centroids.unsqueeze(0)).pow(2).sum(2).argmin(1);
  const double accuracy = predicted.eq(a.test.labels).to(torch::kDouble).mean().item<double>();
  CHECK(accuracy > 0.95);
}

TEST_CASE("fuzz corpus and regressions: every input parses or throws quarry::Error") {
  int files = 0;
  for (const char* kind : {"corpus", "regressions"})
    for (const char* target : {"idx", "cifar"}) {
      const fs::path dir = quarry::testing::source_dir() / "tests" / "fuzz" / kind / target;
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        ++files;
        const auto name = entry.path().string();
        CAPTURE(name);
        auto bytes = qf::read_file(entry.path());
        try {
          bytes = qf::maybe_gunzip(name, bytes, std::size_t{16} << 20);  // the fuzzers' cap
        } catch (const Error&) {
          continue;
        }
        auto parse = [&](auto&& f) {
          try {
            f();
          } catch (const Error&) {
          }
        };
        if (std::string(target) == "idx") {
          parse([&] { qf::parse_idx_images(name, qf::view(bytes)); });
          parse([&] { qf::parse_idx_labels(name, qf::view(bytes), 10); });
        } else {
          parse([&] { qf::parse_cifar10(name, qf::view(bytes)); });
          parse([&] { qf::parse_cifar100(name, qf::view(bytes)); });
        }
      }
    }
  CHECK(files >= 7);  // the committed seeds at least
}
}  // namespace test_datasets
