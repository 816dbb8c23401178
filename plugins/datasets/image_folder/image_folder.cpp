#include "image_folder.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>

#include <torch/nn/functional/upsampling.h>
#include <torch/serialize.h>

#include <quarry/error.hpp>

#include "decode.hpp"
#include "scan.hpp"

namespace quarry::image_folder {

namespace fs = std::filesystem;

namespace {

const char* const kWho = "image_folder";
// Bumped whenever the decoding or resizing changes what a cache file holds.
const char* const kCacheFormat = "image_folder cache v1";

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open the file");
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path.string() + ": cannot read the file");
  return bytes;
}

/// Decode, convert and resize one file into `out` (C x S x S uint8).
void load_image(const ImageFile& file, int channels, std::int64_t size, torch::Tensor out) {
  const auto bytes = read_bytes(file.path);
  auto img = decode_image(file.path.string(), bytes.data(), bytes.size(), channels);
  auto hwc = torch::from_blob(img.pixels.data(), {img.height, img.width, img.channels}, torch::kUInt8);
  auto chw = hwc.permute({2, 0, 1});
  if (img.height == size && img.width == size) {
    out.copy_(chw);
    return;
  }
  namespace F = torch::nn::functional;
  auto x = chw.unsqueeze(0).to(torch::kFloat32);
  auto y = F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<std::int64_t>{size, size})
                                 .mode(torch::kBilinear)
                                 .align_corners(false)
                                 .antialias(true));
  out.copy_(y.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8));
}

struct Decoded {
  torch::Tensor images;           ///< N x C x S x S uint8, in listing order
  std::vector<std::string> errors;  ///< "" where the file decoded
};

/// Every file, decoded on `threads` threads, with a progress line every 2 s.
Decoded decode_all(const std::vector<ImageFile>& files, int channels, std::int64_t size, std::int64_t threads,
                   Logger& log) {
  const auto n = static_cast<std::int64_t>(files.size());
  Decoded d;
  d.images = torch::zeros({n, channels, size, size}, torch::kUInt8);
  d.errors.assign(files.size(), "");
  std::atomic<std::int64_t> next{0}, done{0};
  auto work = [&] {
    torch::NoGradGuard no_grad;
    for (std::int64_t i = next++; i < n; i = next++) {
      try {
        load_image(files[i], channels, size, d.images[i]);
      } catch (const std::exception& e) {  // quarry::Error, c10::Error, std::bad_alloc
        d.errors[i] = e.what();
      }
      ++done;
    }
  };
  const auto count = static_cast<std::int64_t>(std::max<std::int64_t>(1, std::min(threads, n)));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (std::int64_t t = 0; t < count; ++t) pool.emplace_back(work);
  auto last = start;
  while (done.load() < n) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::seconds(2)) continue;
    last = now;
    const auto k = done.load();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double eta = k > 0 ? elapsed * static_cast<double>(n - k) / static_cast<double>(k) : 0.0;
    log.info(std::string(kWho) + ": decoded " + std::to_string(k) + "/" + std::to_string(n) + " images (" +
             std::to_string(100 * k / std::max<std::int64_t>(n, 1)) + "%), ETA " + std::to_string(int(eta + 0.5)) +
             "s");
  }
  for (auto& t : pool) t.join();
  return d;
}

fs::path default_cache_dir() {
  if (const char* q = std::getenv("QUARRY_CACHE_DIR"); q && *q) return fs::path(q) / "image_folder";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "quarry" / "image_folder";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "quarry" / "image_folder";
  return fs::temp_directory_path() / "quarry-cache" / "image_folder";
}

/// A folder's decoded images and which of them decoded (1) or were skipped as bad (0).
struct Cached {
  torch::Tensor images;  ///< N x C x S x S uint8, a skipped file's image all zero
  torch::Tensor ok;      ///< N uint8
};

/// The cached decode of `n` files, or undefined tensors when there is none (or it is unusable).
Cached read_cache(const fs::path& file, std::int64_t n, int channels, std::int64_t size, Logger& log) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return {};
  try {
    std::vector<torch::Tensor> t;
    torch::load(t, file.string());
    if (t.size() == 2 && t[0].dtype() == torch::kUInt8 && t[0].sizes() == torch::IntArrayRef({n, channels, size, size}) &&
        t[1].dtype() == torch::kUInt8 && t[1].sizes() == torch::IntArrayRef({n}))
      return {t[0], t[1]};
    log.warn(std::string(kWho) + ": cache file " + file.string() + " does not hold this folder's images; decoding again");
  } catch (const std::exception& e) {
    log.warn(std::string(kWho) + ": cache file " + file.string() + " is unreadable (" + e.what() + "); decoding again");
  }
  return {};
}

void write_cache(const fs::path& file, const Cached& c, Logger& log) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const fs::path tmp = file.string() + ".tmp" + std::to_string(std::random_device{}());
  try {
    torch::save(std::vector<torch::Tensor>{c.images, c.ok}, tmp.string());
    fs::rename(tmp, file);
    log.info(std::string(kWho) + ": cached the decoded images in " + file.string());
  } catch (const std::exception& e) {
    fs::remove(tmp, ec);
    log.warn(std::string(kWho) + ": cannot write the cache file " + file.string() + " (" + e.what() +
             "); the next run decodes again");
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

/// Files that are not images, empty class folders: errors, or (skip_bad) counted in the log.
void check_listing(const FolderListing& l, bool skip_bad, Logger& log) {
  if (!l.other_files.empty()) {
    const auto& f = l.other_files.front();
    const std::string what = fs::path(f).parent_path() == l.root ? "a file outside the class folders"
                                                                  : "not a .jpg, .jpeg or .png file";
    if (!skip_bad)
      throw Error(std::string(kWho) + ": " + f.string() + ": " + what + " (" + std::to_string(l.other_files.size()) +
                  " such file(s) in " + l.root.string() + "; remove them or set skip_bad = true)");
    log.warn(std::string(kWho) + ": skipped " + std::to_string(l.other_files.size()) + " file(s) in " +
             l.root.string() + " that are not images in a class folder (first: " + f.string() + ")");
  }
  if (!l.empty_classes.empty()) {
    if (!skip_bad)
      throw Error(std::string(kWho) + ": class folder(s) without images in " + l.root.string() + ": " +
                  join(l.empty_classes) + " (remove them or set skip_bad = true)");
    log.warn(std::string(kWho) + ": " + std::to_string(l.empty_classes.size()) + " class folder(s) without images in " +
             l.root.string() + ": " + join(l.empty_classes));
  }
}

Split take(const torch::Tensor& images, const std::vector<ImageFile>& files, const std::vector<std::int64_t>& rows) {
  Split s;
  auto index = torch::tensor(rows, torch::kInt64);
  s.images = images.index_select(0, index).contiguous();
  s.labels = torch::empty({static_cast<std::int64_t>(rows.size())}, torch::kInt64);
  auto* l = s.labels.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < rows.size(); ++i) l[i] = files[rows[i]].label;
  return s;
}

/// Per class: a seeded shuffle, the first round(fraction * count) rows go to test (at least
/// one when the class has two or more images), the rest to train; both ascending.
void stratified_split(const std::vector<ImageFile>& files, const std::vector<std::int64_t>& ok, double fraction,
                      std::int64_t seed, std::int64_t num_classes, std::vector<std::int64_t>& train,
                      std::vector<std::int64_t>& test) {
  std::vector<std::vector<std::int64_t>> by_class(num_classes);
  for (auto r : ok) by_class[files[r].label].push_back(r);
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  for (auto& rows : by_class) {
    for (std::size_t i = rows.size(); i > 1; --i) std::swap(rows[i - 1], rows[rng() % i]);  // Fisher-Yates
    auto k = static_cast<std::size_t>(fraction * static_cast<double>(rows.size()) + 0.5);
    if (k == 0 && rows.size() >= 2) k = 1;
    k = std::min(k, rows.size() > 0 ? rows.size() - 1 : 0);
    test.insert(test.end(), rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(k));
    train.insert(train.end(), rows.begin() + static_cast<std::ptrdiff_t>(k), rows.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
}

/// Per-channel mean and std of the train images, in units of [0, 1] pixels.
void channel_stats(const torch::Tensor& images, std::vector<double>& mean, std::vector<double>& std) {
  const auto c = images.size(1);
  auto sum = torch::zeros({c}, torch::kFloat64), sq = torch::zeros({c}, torch::kFloat64);
  const std::int64_t chunk = 4096;
  for (std::int64_t s = 0; s < images.size(0); s += chunk) {
    auto x = images.slice(0, s, std::min(s + chunk, images.size(0))).to(torch::kFloat64).div_(255.0);
    sum += x.sum({0, 2, 3});
    sq += x.pow(2).sum({0, 2, 3});
  }
  const double count = static_cast<double>(images.size(0) * images.size(2) * images.size(3));
  for (std::int64_t k = 0; k < c; ++k) {
    const double m = sum[k].item<double>() / count;
    const double v = std::max(0.0, sq[k].item<double>() / count - m * m);
    mean.push_back(m);
    std.push_back(std::max(std::sqrt(v), 1e-3));  // a constant channel must not divide by 0
  }
}

}  // namespace

ImageFolder::ImageFolder(const Params& params)
    : path_(params.get_string("path")),
      test_fraction_(params.get_float("test_fraction")),
      split_seed_(params.get_int("split_seed")),
      channels_(static_cast<int>(params.get_int("channels"))),
      image_size_(params.get_int("image_size")),
      skip_bad_(params.get_bool("skip_bad")),
      cache_(params.get_bool("cache")),
      cache_dir_(params.get_string("cache_dir")),
      threads_(params.get_int("threads")) {
  if (channels_ != 1 && channels_ != 3)
    throw Error(std::string(kWho) + ": parameter 'channels' must be 1 (grayscale) or 3 (RGB), not " +
                std::to_string(channels_));
}

std::vector<ParamSpec> ImageFolder::params() {
  return {
      param_required("path", ParamType::String,
                     "folder with train/ and test/, each with one sub-folder of JPEG/PNG images per class; or one "
                     "folder of class folders together with test_fraction"),
      param_float("test_fraction", 0.0,
                  "0: path has train/ and test/; in (0, 0.9]: path is one folder of class folders, and this share of "
                  "each class is the test split",
                  0.0, 0.9),
      param_int("split_seed", 0, "seed of the test_fraction split (the same seed gives the same test set)", 0),
      param_int("channels", 3, "3: RGB, 1: grayscale (images are converted to it)", 1, 3),
      param_int("image_size", 32, "images are resized to image_size x image_size (bilinear, antialiased)", 4, 4096),
      param_bool("skip_bad", false,
                 "skip (and count in the log) corrupt images, files that are not images and empty class folders "
                 "instead of stopping with an error"),
      param_bool("cache", true, "keep the decoded images in one tensor file, keyed by the folder's content"),
      param_string("cache_dir", "",
                   "where cache files go; empty: $QUARRY_CACHE_DIR/image_folder, else "
                   "$XDG_CACHE_HOME/quarry/image_folder, else ~/.cache/quarry/image_folder"),
      param_int("threads", 0, "decoding threads; 0: one per core", 0, 1024),
  };
}

DatasetData ImageFolder::load(Logger& log) {
  if (path_.empty()) throw Error(std::string(kWho) + ": parameter 'path' is empty");
  const fs::path root = path_;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error(std::string(kWho) + ": path '" + path_ + "' " + (fs::exists(root, ec) ? "is not a directory" : "does not exist") +
                "; expected train/ and test/ folders of class folders, or one folder of class folders");
  const bool two_folders = fs::is_directory(root / "train", ec) && fs::is_directory(root / "test", ec);
  if (two_folders && test_fraction_ > 0)
    throw Error(std::string(kWho) + ": '" + path_ + "' has train/ and test/ folders; test_fraction is only for one "
                "folder of class folders (leave it 0)");
  if (!two_folders && test_fraction_ <= 0)
    throw Error(std::string(kWho) + ": '" + path_ + "' has no train/ and test/ folders; set test_fraction to split "
                "its class folders into train and test");

  std::vector<FolderListing> listings;
  listings.push_back(list_folder(kWho, two_folders ? root / "train" : root));
  if (two_folders) listings.push_back(list_folder(kWho, root / "test"));
  for (const auto& l : listings) check_listing(l, skip_bad_, log);
  if (two_folders && listings[0].class_names != listings[1].class_names) {
    std::vector<std::string> only_train, only_test;
    const auto &a = listings[0].class_names, &b = listings[1].class_names;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_train));
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_test));
    throw Error(std::string(kWho) + ": train/ and test/ have different class folders in '" + path_ + "'" +
                (only_train.empty() ? "" : "; only in train/: " + join(only_train)) +
                (only_test.empty() ? "" : "; only in test/: " + join(only_test)));
  }

  std::vector<ImageFile> files = listings[0].files;
  const auto n_train_files = static_cast<std::int64_t>(files.size());
  if (two_folders) files.insert(files.end(), listings[1].files.begin(), listings[1].files.end());
  const auto n = static_cast<std::int64_t>(files.size());

  std::vector<const FolderListing*> keyed;
  for (const auto& l : listings) keyed.push_back(&l);
  const std::string salt = std::string(kCacheFormat) + " channels=" + std::to_string(channels_) +
                           " size=" + std::to_string(image_size_) + " skip_bad=" + (skip_bad_ ? "1" : "0");
  const fs::path cache_file = (cache_dir_.empty() ? default_cache_dir() : fs::path(cache_dir_)) /
                              (content_key(salt, keyed) + ".pt");

  const auto start = std::chrono::steady_clock::now();
  Cached cached = cache_ ? read_cache(cache_file, n, channels_, image_size_, log) : Cached{};
  const bool from_cache = cached.images.defined();
  if (!from_cache) {
    const auto threads = threads_ > 0 ? threads_ : std::max<std::int64_t>(1, std::thread::hardware_concurrency());
    auto decoded = decode_all(files, channels_, image_size_, threads, log);
    const auto bad_count = std::count_if(decoded.errors.begin(), decoded.errors.end(),
                                         [](const std::string& e) { return !e.empty(); });
    cached.images = decoded.images;
    cached.ok = torch::ones({n}, torch::kUInt8);
    for (std::int64_t i = 0; i < n; ++i) {
      if (decoded.errors[i].empty()) continue;
      if (!skip_bad_)
        throw Error(std::string(kWho) + ": " + decoded.errors[i] +
                    (bad_count > 1 ? " (" + std::to_string(bad_count) + " bad images in all; set skip_bad = true to "
                                     "skip them)"
                                   : " (set skip_bad = true to skip it)"));
      log.warn(std::string(kWho) + ": skipped " + decoded.errors[i]);
      cached.ok[i] = 0;
    }
    if (cache_) write_cache(cache_file, cached, log);
  }
  std::vector<std::int64_t> ok;
  const auto* okp = cached.ok.data_ptr<std::uint8_t>();
  for (std::int64_t i = 0; i < n; ++i)
    if (okp[i]) ok.push_back(i);
  const auto bad = n - static_cast<std::int64_t>(ok.size());
  if (bad > 0) log.warn(std::string(kWho) + ": skipped " + std::to_string(bad) + " bad image(s) of " + std::to_string(n));
  const torch::Tensor& images = cached.images;

  std::vector<std::int64_t> train_rows, test_rows;
  if (two_folders) {
    for (auto r : ok) (r < n_train_files ? train_rows : test_rows).push_back(r);
  } else {
    stratified_split(files, ok, test_fraction_, split_seed_, static_cast<std::int64_t>(listings[0].class_names.size()),
                     train_rows, test_rows);
  }
  if (train_rows.empty()) throw Error(std::string(kWho) + ": no train images in '" + path_ + "'");
  if (test_rows.empty()) throw Error(std::string(kWho) + ": no test images in '" + path_ + "'");

  DatasetData d;
  d.train = take(images, files, train_rows);
  d.test = take(images, files, test_rows);
  d.class_names = listings[0].class_names;
  channel_stats(d.train.images, d.mean, d.std);
  d.source = fs::absolute(root).string();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log.info(std::string(kWho) + ": " + std::to_string(d.train.size()) + " train and " + std::to_string(d.test.size()) +
           " test images of " + std::to_string(channels_) + "x" + std::to_string(image_size_) + "x" +
           std::to_string(image_size_) + ", " + std::to_string(d.class_names.size()) + " classes, " +
           (from_cache ? "from the cache " + cache_file.string() : "decoded") + " in " +
           std::to_string(static_cast<int>(seconds * 1000)) + " ms (" +
           std::to_string(static_cast<std::int64_t>(static_cast<double>(n) / std::max(seconds, 1e-9))) + " images/s)");
  return d;
}

}  // namespace quarry::image_folder
