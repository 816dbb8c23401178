// Generated data for tests and smoke runs. Each class is a fixed random pattern of
// 4x4-pixel blocks (coarse, so it survives pooling and a small CNN learns it),
// and each image is its class pattern plus noise. Only std::mt19937_64's raw
// output is used (its sequence is fixed by the C++ standard, unlike the
// distributions and unlike torch's RNG), so a seed gives the same bytes with
// any standard library and any LibTorch version.
#include <algorithm>
#include <cmath>
#include <random>

#include <quarry/error.hpp>

#include "image_datasets/datasets.hpp"

namespace quarry::image_datasets {

namespace {
constexpr std::int64_t kBlock = 4;

// Uniform in [0, 1) from the top 53 bits.
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

struct Patterns {
  std::int64_t per_image;
  std::vector<double> values;  // num_classes x per_image, in 0..255
};

Split generate(const Patterns& patterns, std::int64_t num_classes, std::int64_t n, std::int64_t c, std::int64_t h,
               std::int64_t w, double noise, std::uint64_t stream_seed) {
  std::mt19937_64 rng(stream_seed);
  std::vector<std::int64_t> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels[i] = i % num_classes;
  for (std::int64_t i = n - 1; i > 0; --i)  // Fisher-Yates, so classes are interleaved
    std::swap(labels[i], labels[static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(i + 1))]);
  // Triangular noise u1 + u2 - 1 has variance 1/6; scale it to a standard deviation of `noise` (in [0,1] units).
  const double scale = noise * 255.0 * std::sqrt(6.0);
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(n * patterns.per_image));
  for (std::int64_t i = 0; i < n; ++i) {
    const double* p = patterns.values.data() + labels[i] * patterns.per_image;
    std::uint8_t* out = pixels.data() + i * patterns.per_image;
    for (std::int64_t j = 0; j < patterns.per_image; ++j) {
      const double v = p[j] + scale * (uniform(rng) + uniform(rng) - 1.0);
      out[j] = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
    }
  }
  return make_split(pixels, labels, c, h, w);
}
}  // namespace

Synthetic::Synthetic(const Params& p)
    : num_classes_(p.get_int("num_classes")),
      train_size_(p.get_int("train_size")),
      test_size_(p.get_int("test_size")),
      channels_(p.get_int("channels")),
      height_(p.get_int("height")),
      width_(p.get_int("width")),
      seed_(static_cast<std::uint64_t>(p.get_int("seed"))),
      noise_(p.get_float("noise")) {
  const double bytes = static_cast<double>(train_size_ + test_size_) * channels_ * height_ * width_;
  if (bytes > 4.0 * (1 << 30))
    throw Error("synthetic: " + std::to_string(train_size_ + test_size_) + " images of " + std::to_string(channels_) +
                "x" + std::to_string(height_) + "x" + std::to_string(width_) +
                " would need more than 4 GiB; lower train_size, test_size or the image size");
}

std::vector<ParamSpec> Synthetic::params() {
  return {param_int("num_classes", 4, "number of classes", 2, 1000),
          param_int("train_size", 600, "train images", 1, 10000000),
          param_int("test_size", 200, "test images", 1, 10000000),
          param_int("channels", 1, "channels per image", 1, 16),
          param_int("height", 16, "image height in pixels", 1, 4096),
          param_int("width", 16, "image width in pixels", 1, 4096),
          param_int("seed", 0, "the data is a function of this seed (and the other parameters) alone", 0),
          param_float("noise", 0.25, "standard deviation of the per-pixel noise, in units of [0,1] pixels", 0.0, 10.0)};
}

DatasetData Synthetic::load(Logger& log) {
  const std::int64_t per_image = channels_ * height_ * width_;
  // Patterns first, from the seed itself; train and test draw from their own streams of it.
  std::mt19937_64 rng(seed_);
  Patterns patterns{per_image, std::vector<double>(static_cast<std::size_t>(num_classes_ * per_image))};
  const std::int64_t bh = (height_ + kBlock - 1) / kBlock, bw = (width_ + kBlock - 1) / kBlock;
  std::vector<double> blocks(static_cast<std::size_t>(bh * bw));
  for (std::int64_t k = 0; k < num_classes_; ++k)
    for (std::int64_t c = 0; c < channels_; ++c) {
      for (auto& b : blocks) b = 255.0 * uniform(rng);
      double* plane = patterns.values.data() + k * per_image + c * height_ * width_;
      for (std::int64_t y = 0; y < height_; ++y)
        for (std::int64_t x = 0; x < width_; ++x) plane[y * width_ + x] = blocks[(y / kBlock) * bw + x / kBlock];
    }
  DatasetData d;
  d.train = generate(patterns, num_classes_, train_size_, channels_, height_, width_, noise_,
                     seed_ ^ 0x9E3779B97F4A7C15ull);
  d.test = generate(patterns, num_classes_, test_size_, channels_, height_, width_, noise_,
                    seed_ ^ 0xC2B2AE3D27D4EB4Full);
  for (std::int64_t k = 0; k < num_classes_; ++k) d.class_names.push_back("class_" + std::to_string(k));
  // Per-channel mean/std of the train images, in [0,1] units, as for the real datasets.
  const auto x = d.train.images.to(torch::kDouble).div_(255.0).transpose(0, 1).reshape({channels_, -1});
  const auto mean = x.mean(1);
  const auto std = (x - mean.unsqueeze(1)).pow(2).mean(1).sqrt();  // population std
  for (std::int64_t c = 0; c < channels_; ++c) {
    d.mean.push_back(mean[c].item<double>());
    d.std.push_back(std::max(std[c].item<double>(), 1e-6));  // a constant image must not divide by zero
  }
  d.source = "synthetic(seed=" + std::to_string(seed_) + ", num_classes=" + std::to_string(num_classes_) +
             ", noise=" + std::to_string(noise_) + ")";
  log.info("synthetic: " + std::to_string(train_size_) + " train and " + std::to_string(test_size_) + " test images of " +
           std::to_string(channels_) + "x" + std::to_string(height_) + "x" + std::to_string(width_) + ", " +
           std::to_string(num_classes_) + " classes, seed " + std::to_string(seed_));
  return d;
}

}  // namespace quarry::image_datasets
