// The image_folder dataset: a tree of small PNG and JPEG files written here with PIL (Debian's
// python3-pil), loaded through the real plugin via the host, as a pipeline would.
#include "testing.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

#include "image_folder/decode.hpp"
#include "process.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_image_folder {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing;
namespace fs = std::filesystem;

namespace {

bool have_pil() {
  TempDir t;
  return run_process({"/usr/bin/python3", "-c", "import PIL, numpy"}, t.path() / "log").exit_code == 0;
}

/// Run a Python snippet (PIL and numpy imported) with ROOT set to `root`.
void python(const fs::path& root, const std::string& code) {
  TempDir t;
  const auto script = t.path() / "make.py";
  std::ofstream(script) << "import os, numpy as np\nfrom PIL import Image\nROOT = " << root << "\n" << code << "\n";
  const auto r = run_process({"/usr/bin/python3", script.string()}, t.path() / "log");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// train/ and test/ of two classes, "cat" and "dog", in several file kinds and sizes:
// each image a constant colour given by (class, index), so resizing keeps it exactly.
const char* const kTree = R"(
def save(path, img, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path, **kw)
def colour(c, i):
    return (40 + 100 * c, 10 + 20 * i, 200 - 30 * i)
for split, count in (("train", 3), ("test", 2)):
    for c, name in enumerate(("cat", "dog")):
        for i in range(count):
            rgb = np.zeros((8 + 4 * i, 12, 3), np.uint8) + np.array(colour(c, i), np.uint8)
            base = f"{ROOT}/{split}/{name}/img{i}"
            if i == 0: save(base + ".png", Image.fromarray(rgb))
            elif i == 1: save(base + ".PNG", Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE))
            else: save(base + ".jpg", Image.fromarray(rgb), quality=100)
)";

DatasetData load(Params p, CaptureLogger& log) {
  auto d = host().make_dataset("image_folder", std::move(p))->load(log);
  validate_dataset(d, "image_folder");
  return d;
}

Params params(const fs::path& path, const fs::path& cache, std::int64_t size = 8, std::int64_t channels = 3) {
  Params p("dataset 'image_folder'");
  p.set("path", path.string());
  p.set("cache_dir", cache.string());
  p.set("image_size", size);
  p.set("channels", channels);
  return p;
}

bool logged(const CaptureLogger& log, const std::string& part) {
  for (const auto& l : log.lines)
    if (l.find(part) != std::string::npos) return true;
  return false;
}

std::string load_error(Params p) {
  CaptureLogger log;
  try {
    load(std::move(p), log);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("expected an Error");
  return "";
}

std::vector<std::int64_t> labels_of(const Split& s) {
  auto l = s.labels.contiguous();
  return {l.data_ptr<std::int64_t>(), l.data_ptr<std::int64_t>() + l.numel()};
}

}  // namespace

TEST_CASE("image_folder: classes, labels, colours, channels and resize from a PNG/JPEG tree") {
  if (!have_pil()) {
    MESSAGE("skipped: /usr/bin/python3 with PIL and numpy is needed (apt install python3-pil python3-numpy)");
    return;
  }
  TempDir t;
  python(t.path() / "data", kTree);
  CaptureLogger log;
  const auto d = load(params(t.path() / "data", t.path() / "cache", 8), log);
  CHECK(d.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(d.train.images.sizes() == torch::IntArrayRef({6, 3, 8, 8}));
  CHECK(d.test.images.sizes() == torch::IntArrayRef({4, 3, 8, 8}));
  CHECK(labels_of(d.train) == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1});
  CHECK(labels_of(d.test) == std::vector<std::int64_t>{0, 0, 1, 1});
  // Files in sorted order: img0.png, img1.PNG, img2.jpg; a constant image stays constant
  // through the antialiased resize (JPEG: within its quantisation, quality 100).
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t i = 0; i < 3; ++i) {
      const auto img = d.train.images[c * 3 + i].to(torch::kInt32);
      const std::vector<std::int32_t> want = {int(40 + 100 * c), int(10 + 20 * i), int(200 - 30 * i)};
      for (int ch = 0; ch < 3; ++ch) {
        const auto diff = (img[ch] - want[ch]).abs().max().item<std::int32_t>();
        INFO("class " << c << " image " << i << " channel " << ch);
        CHECK(diff <= (i == 2 ? 2 : 0));
      }
    }
  // mean/std are the train split's, per channel, in [0, 1] units.
  const auto x = d.train.images.to(torch::kFloat64) / 255.0;
  for (int ch = 0; ch < 3; ++ch) {
    CHECK(d.mean[ch] == doctest::Approx(x.select(1, ch).mean().item<double>()).epsilon(1e-9));
    CHECK(d.std[ch] == doctest::Approx(x.select(1, ch).std(false).item<double>()).epsilon(1e-6));
  }
  // Grayscale and another size.
  CaptureLogger log1;
  const auto g = load(params(t.path() / "data", t.path() / "cache", 16, 1), log1);
  CHECK(g.train.images.sizes() == torch::IntArrayRef({6, 1, 16, 16}));
  CHECK(g.mean.size() == 1);
}

TEST_CASE("image_folder: decoding and the antialiased resize agree with PIL") {
  if (!have_pil()) return;
  TempDir t;
  // A smooth 40x30 gradient as a JPEG; PIL decodes it and resizes it to 24x24 with its
  // (antialiased) bilinear filter, which torch's antialiased bilinear interpolation follows.
  python(t.path() / "data", R"(
yy, xx = np.mgrid[0:30, 0:40]
rgb = np.stack([xx * 6, yy * 8, (xx + yy) * 3], -1).astype(np.uint8)
for split in ("train", "test"):
    os.makedirs(f"{ROOT}/{split}/a", exist_ok=True)
    Image.fromarray(rgb).save(f"{ROOT}/{split}/a/g.jpg", quality=95)
pil = np.asarray(Image.open(f"{ROOT}/train/a/g.jpg").convert("RGB").resize((24, 24), Image.BILINEAR))
pil.tofile(f"{ROOT}/../pil_resized.bin")
)");
  CaptureLogger log;
  const auto d = load(params(t.path() / "data", t.path() / "cache", 24), log);
  std::ifstream in(t.path() / "pil_resized.bin", std::ios::binary);
  std::vector<std::uint8_t> pil((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(pil.size() == 24 * 24 * 3);
  const auto ours = d.train.images[0].permute({1, 2, 0}).contiguous().to(torch::kInt32);
  const auto theirs = torch::from_blob(pil.data(), {24, 24, 3}, torch::kUInt8).to(torch::kInt32);
  const auto max_diff = (ours - theirs).abs().max().item<std::int32_t>();
  MESSAGE("largest difference to PIL's decode + antialiased bilinear resize: " << max_diff);
  CHECK(max_diff <= 2);
}

TEST_CASE("image_folder: the cache is used on the second load and rebuilt when a file changes") {
  if (!have_pil()) return;
  TempDir t;
  python(t.path() / "data", kTree);
  const auto cache = t.path() / "cache";
  CaptureLogger first, second, third;
  const auto a = load(params(t.path() / "data", cache), first);
  CHECK(logged(first, "decoded in"));
  CHECK(logged(first, "cached the decoded images"));
  CHECK(std::distance(fs::directory_iterator(cache / ""), fs::directory_iterator()) == 1);
  const auto b = load(params(t.path() / "data", cache), second);
  CHECK(logged(second, "from the cache"));
  CHECK(torch::equal(a.train.images, b.train.images));
  CHECK(torch::equal(a.test.labels, b.test.labels));
  // Rewrite one image in another colour: a new key, decoded again, the new pixels seen.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  python(t.path() / "data", R"(Image.fromarray(np.full((8, 12, 3), 7, np.uint8)).save(f"{ROOT}/train/cat/img0.png"))");
  const auto c = load(params(t.path() / "data", cache), third);
  CHECK(logged(third, "decoded in"));
  CHECK(c.train.images[0].max().item<std::uint8_t>() == 7);
  // A damaged cache file is reported and replaced, never trusted.
  for (const auto& f : fs::directory_iterator(cache)) std::ofstream(f.path(), std::ios::trunc) << "garbage";
  CaptureLogger fourth;
  const auto e = load(params(t.path() / "data", cache), fourth);
  CHECK(torch::equal(e.train.images, c.train.images));
}

TEST_CASE("image_folder: one folder split by test_fraction, stratified and seeded") {
  if (!have_pil()) return;
  TempDir t;
  python(t.path() / "data", R"(
for c in ("a", "b", "c"):
    os.makedirs(f"{ROOT}/{c}", exist_ok=True)
    for i in range(10):
        Image.fromarray(np.full((4, 4, 3), i * 20 + ord(c), np.uint8)).save(f"{ROOT}/{c}/{i:02d}.png")
)");
  auto p = [&](std::int64_t seed) {
    auto q = params(t.path() / "data", t.path() / "cache", 4);
    q.set("test_fraction", 0.3);
    q.set("split_seed", seed);
    return q;
  };
  CaptureLogger log;
  const auto d = load(p(1), log);
  CHECK(d.train.size() == 21);
  CHECK(d.test.size() == 9);
  CHECK(torch::equal(torch::bincount(d.test.labels), torch::full({3}, 3, torch::kInt64)));
  const auto same = load(p(1), log);
  CHECK(torch::equal(d.test.images, same.test.images));
  const auto other = load(p(2), log);
  CHECK_FALSE(torch::equal(d.test.images, other.test.images));
  // Without train/ and test/, test_fraction is required.
  CHECK(load_error(params(t.path() / "data", t.path() / "cache", 4)).find("set test_fraction") != std::string::npos);
}

TEST_CASE("image_folder: bad input names the file and what is wrong; skip_bad skips and counts") {
  if (!have_pil()) return;
  TempDir t;
  const auto root = t.path() / "data";
  auto fresh = [&] {
    fs::remove_all(root);
    python(root, kTree);
  };
  auto expect = [&](const std::string& part, const std::string& file) {
    const auto e = load_error(params(root, t.path() / "cache"));
    INFO(e);
    CHECK(e.find(part) != std::string::npos);
    CHECK(e.find(file) != std::string::npos);
    auto skip = params(root, t.path() / "cache");
    skip.set("skip_bad", true);
    CaptureLogger log;
    if (part.find("different class folders") == std::string::npos) {
      const auto d = load(skip, log);
      CHECK((logged(log, "skipped") || logged(log, "without images")));
      CHECK(d.train.size() + d.test.size() >= 9);
    }
  };
  SUBCASE("a truncated JPEG") {
    fresh();
    const auto f = root / "train" / "dog" / "img2.jpg";
    const auto size = fs::file_size(f);
    fs::resize_file(f, size / 2);
    expect("a corrupt", f.string());
  }
  SUBCASE("a PNG with garbage after its signature") {
    fresh();
    const auto f = root / "test" / "cat" / "img0.png";
    std::ofstream(f, std::ios::binary | std::ios::trunc) << "\x89PNG\r\n\x1a\nthis is not a png";
    expect("PNG", f.string());
  }
  SUBCASE("a .jpg that is not an image") {
    fresh();
    const auto f = root / "train" / "cat" / "notes.jpg";
    std::ofstream(f) << "hello";
    expect("neither a JPEG nor a PNG", f.string());
  }
  SUBCASE("a file of another kind") {
    fresh();
    const auto f = root / "train" / "cat" / "labels.txt";
    std::ofstream(f) << "cat";
    expect("not a .jpg, .jpeg or .png file", f.string());
  }
  SUBCASE("an empty class folder") {
    fresh();
    fs::create_directories(root / "train" / "zebra");
    fs::create_directories(root / "test" / "zebra");
    expect("without images", "zebra");
  }
  SUBCASE("train/ and test/ with different classes") {
    fresh();
    fs::rename(root / "test" / "dog", root / "test" / "wolf");
    const auto e = load_error(params(root, t.path() / "cache"));
    CHECK(e.find("only in train/: dog") != std::string::npos);
    CHECK(e.find("only in test/: wolf") != std::string::npos);
  }
  SUBCASE("a path that does not exist") {
    CHECK(load_error(params(t.path() / "nowhere", t.path() / "cache")).find("does not exist") != std::string::npos);
  }
}

TEST_CASE("image decoder: the fuzz corpus and regressions decode or throw quarry::Error") {
  namespace qi = quarry::image_folder;
  std::size_t decoded = 0, refused = 0;
  for (const char* sub : {"tests/fuzz/corpus/image", "tests/fuzz/regressions/image"}) {
    const auto dir = source_dir() / sub;
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (int channels : {1, 3}) {
        try {
          const auto img = qi::decode_image(e.path().string(), bytes.data(), bytes.size(), channels);
          CHECK(img.pixels.size() == static_cast<std::size_t>(img.width * img.height * channels));
          ++decoded;
        } catch (const Error&) {
          ++refused;
        }
      }
    }
  }
  CHECK(decoded >= 14);  // the seven committed seeds, in both channel counts
  // Cut every seed short: a clear error, never a crash.
  for (const auto& e : fs::directory_iterator(source_dir() / "tests/fuzz/corpus/image")) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (std::size_t cut = 0; cut + 1 < bytes.size(); cut += 7) {
      try {
        qi::decode_image("cut", bytes.data(), cut, 3);
      } catch (const Error& err) {
        CHECK(std::string(err.what()).rfind("cut: ", 0) == 0);
      }
    }
  }
}

TEST_CASE("image_folder: a whole active-learning run on a folder of images, through quarry run") {
  if (!have_pil()) return;
  TempDir t;
  // Four classes of noisy 20x20 colour patches, 30 train and 8 test images each.
  python(t.path() / "data", R"(
rng = np.random.default_rng(0)
for split, count in (("train", 30), ("test", 8)):
    for c in range(4):
        os.makedirs(f"{ROOT}/{split}/class{c}", exist_ok=True)
        for i in range(count):
            base = np.array([(c & 1) * 200, (c >> 1) * 200, 80], np.float64)
            img = np.clip(base + rng.normal(0, 30, (20, 20, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(f"{ROOT}/{split}/class{c}/{i}." + ("png" if i % 2 else "jpg"))
)");
  const auto pipeline = t.path() / "p.toml";
  std::ofstream(pipeline) << R"([run]
name = "folder"
seeds = [1]
device = "cpu"
threads = 1
results = ")" << (t.path() / "runs").string()
                          << R"("

[dataset]
name = "image_folder"
path = ")" << (t.path() / "data").string()
                          << R"("
image_size = 16
cache_dir = ")" << (t.path() / "cache").string()
                          << R"("
validation_fraction = 0.1

[model]
name = "small_cnn"
width = 8
feature_dim = 16

[train]
epochs = 2
batch_size = 16
lr = 0.05
warmup_epochs = 0

[al]
initial = 8
query_size = 8
budget = 24

[[strategies]]
name = "entropy"
)";
  const auto r = run_process({quarry_binary(), "run", pipeline.string()}, t.path() / "run.log", 300);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("image_folder: 120 train and 32 test images of 3x16x16, 4 classes") != std::string::npos);
  CHECK(r.output.find("24 labels") != std::string::npos);
}

}  // namespace test_image_folder
