#include "core/data/backbone.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/script.h>
#include <torch/serialize.h>
#include <torch/version.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

const char* const kLibTorch = TORCH_VERSION;
// Bumped whenever the preprocessing changes what a cache file holds.
const char* const kCacheFormat = "backbone embeddings v1";

/// 64-bit FNV-1a over bytes, 8 at a time where it can (a stable content key, not a checksum).
struct Hash {
  std::uint64_t h = 14695981039346656037ull;
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void text(const std::string& s) { bytes(s.data(), s.size() + 1); }
  void tensor(const torch::Tensor& t) {
    const auto c = t.contiguous().cpu();
    text(c10::str(c.scalar_type(), c.sizes()));
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    const std::size_t n = c.numel() * c.element_size();
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    bytes(p + n / 8 * 8, n % 8);
  }
  std::string hex() const {
    char s[17];
    std::snprintf(s, sizeof s, "%016llx", static_cast<unsigned long long>(h));
    return s;
  }
};

fs::path cache_folder(const BackboneConfig& c) {
  if (!c.cache_dir.empty()) return c.cache_dir;
  if (const char* q = std::getenv("QUARRY_CACHE_DIR"); q && *q) return fs::path(q) / "backbone";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "quarry" / "backbone";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "quarry" / "backbone";
  return fs::temp_directory_path() / "quarry-cache" / "backbone";
}

/// The one-line reason c10 gives, without its C++ backtrace.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

torch::Tensor embed_split(torch::jit::Module& module, const torch::Tensor& images, const BackboneConfig& c,
                          torch::Device device, Progress& progress, std::int64_t& done) {
  std::vector<torch::Tensor> parts;
  for (std::int64_t s = 0; s < images.size(0); s += c.batch_size) {
    const auto e = std::min(s + c.batch_size, images.size(0));
    auto x = backbone_input(images.slice(0, s, e).to(device), c);
    parts.push_back(backbone_forward(module, x, c.file).to(torch::kCPU));
    done += e - s;
    progress.step(done);
  }
  return torch::cat(parts).contiguous();
}

}  // namespace

std::shared_ptr<torch::jit::Module> load_backbone(const std::string& file, torch::Device device) {
  // A file from a newer PyTorch line may load and then compute something else: TorchScript
  // archives carry no writer version, but PyTorch >= 2.1 adds a `byteorder` record.
  if (TORCH_VERSION_MAJOR < 2) {
    bool newer = false;
    try {
      caffe2::serialize::PyTorchStreamReader reader(file);
      newer = reader.hasRecord("byteorder");
    } catch (const c10::Error& e) {
      throw Error(file + ": not a TorchScript file (" + first_line(e.what_without_backtrace()) +
                  "); export one with torch.jit.trace(model, example).save(path) or torch.jit.script");
    }
    if (newer)
      throw Error(file + ": written by PyTorch 2.1 or newer (the archive has a 'byteorder' record), but this Quarry is "
                  "built against LibTorch " + std::string(kLibTorch) + ", which reads TorchScript from PyTorch " +
                  std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                  " and older: export it with that PyTorch (Debian: python3-torch) or build Quarry against "
                  "LibTorch 2.x (scripts/setup.sh --torch2, README \"CUDA and GPU machines\")");
  }
  try {
    auto m = std::make_shared<torch::jit::Module>(torch::jit::load(file, device));
    m->eval();
    return m;
  } catch (const c10::Error& e) {
    const std::string why = first_line(e.what_without_backtrace());
    if (why.find("version") != std::string::npos)
      throw Error(file + ": this TorchScript file's format is newer than LibTorch " + std::string(kLibTorch) +
                  " reads (" + why + "); export it with PyTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                  std::to_string(TORCH_VERSION_MINOR) + " or build Quarry against a newer LibTorch");
    throw Error(file + ": not a TorchScript file LibTorch " + std::string(kLibTorch) + " can load (" + why +
                "); export one with torch.jit.trace(model, example).save(path) or torch.jit.script");
  }
}

torch::Tensor backbone_input(const torch::Tensor& images, const BackboneConfig& c) {
  return backbone_normalise(images.to(torch::kFloat32).div_(255.0), c);
}

torch::Tensor backbone_normalise(const torch::Tensor& pixels01, const BackboneConfig& c) {
  const auto channels = static_cast<std::int64_t>(c.mean.size());
  auto x = pixels01;
  if (x.size(1) == 1 && channels > 1) x = x.expand({x.size(0), channels, x.size(2), x.size(3)});
  if (x.size(1) != channels)
    throw Error("backbone " + c.file + ": the images have " + std::to_string(x.size(1)) +
                " channels but backbone.mean/std give " + std::to_string(channels));
  if (x.size(2) != c.input_size || x.size(3) != c.input_size) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<std::int64_t>{c.input_size, c.input_size})
                              .mode(torch::kBilinear)
                              .align_corners(false));
  }
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(x.device());
  const auto mean = torch::tensor(c.mean, torch::kFloat64).to(opts).view({1, channels, 1, 1});
  const auto std = torch::tensor(c.std, torch::kFloat64).to(opts).view({1, channels, 1, 1});
  return (x - mean) / std;
}

torch::Tensor backbone_forward(torch::jit::Module& module, const torch::Tensor& x, const std::string& file) {
  c10::IValue out;
  try {
    out = module.forward({x});
  } catch (const c10::Error& e) {
    throw Error("backbone " + file + " failed on a batch of shape " + c10::str(x.sizes()) + ": " +
                first_line(e.what_without_backtrace()));
  }
  if (!out.isTensor())
    throw Error("backbone " + file + " returned a " + out.tagKind() + ", expected one N x D tensor of features");
  auto f = out.toTensor();
  if (f.dim() != 2 || f.size(0) != x.size(0))
    throw Error("backbone " + file + " returned features of shape " + c10::str(f.sizes()) + " for " +
                std::to_string(x.size(0)) + " images, expected [" + std::to_string(x.size(0)) +
                ", D] (flatten or pool its output inside the exported module)");
  f = f.to(torch::kFloat32);
  if (!torch::isfinite(f).all().item<bool>())
    throw Error("backbone " + file + " returned a NaN or infinite feature");
  return f;
}

DatasetData embed_dataset(const DatasetData& data, const BackboneConfig& c, torch::Device device, Logger& log) {
  const double t0 = now_seconds();
  Hash key;
  key.text(kCacheFormat);
  {
    std::ifstream in(c.file, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.eof() && in.fail()) throw Error(c.file + ": cannot read the backbone file");
    key.bytes(bytes.data(), bytes.size());
  }
  key.text(std::to_string(c.input_size));
  for (double v : c.mean) key.bytes(&v, sizeof v);
  for (double v : c.std) key.bytes(&v, sizeof v);
  for (const Split* s : {&data.train, &data.test}) {
    key.tensor(s->images);
    key.tensor(s->labels);
  }
  const fs::path cache_file = cache_folder(c) / (key.hex() + ".pt");

  DatasetData out;
  out.class_names = data.class_names;
  out.source = data.source + " -> backbone " + c.file;
  out.train.labels = data.train.labels;
  out.test.labels = data.test.labels;
  std::error_code ec;
  if (c.cache && fs::exists(cache_file, ec)) {
    try {
      std::vector<torch::Tensor> t;
      torch::load(t, cache_file.string());
      if (t.size() == 2 && t[0].dim() == 2 && t[0].size(0) == data.train.size() && t[1].dim() == 2 &&
          t[1].size(0) == data.test.size() && t[0].size(1) == t[1].size(1)) {
        out.train.features = t[0];
        out.test.features = t[1];
        log.info(fmt::format("backbone {}: {} embeddings of {} from the cache {} ({:.1f}s)", c.file,
                             data.train.size() + data.test.size(), t[0].size(1), cache_file.string(), now_seconds() - t0));
        return out;
      }
      log.warn("backbone cache " + cache_file.string() + " does not fit this data; embedding again");
    } catch (const std::exception& e) {
      log.warn("backbone cache " + cache_file.string() + " is unreadable (" + first_line(e.what()) + "); embedding again");
    }
  }
  auto module = load_backbone(c.file, device);
  torch::NoGradGuard no_grad;
  Progress progress(log, "embedding with the backbone", data.train.size() + data.test.size(), 2.0);
  std::int64_t done = 0;
  out.train.features = embed_split(*module, data.train.images, c, device, progress, done);
  out.test.features = embed_split(*module, data.test.images, c, device, progress, done);
  log.info(fmt::format("backbone {}: embedded {} images into {} features on {} ({:.1f}s)", c.file, done,
                       out.train.features.size(1), device.str(), now_seconds() - t0));
  if (c.cache) {
    fs::create_directories(cache_file.parent_path(), ec);
    const fs::path tmp = cache_file.string() + ".tmp" + std::to_string(std::random_device{}());
    try {
      torch::save(std::vector<torch::Tensor>{out.train.features, out.test.features}, tmp.string());
      fs::rename(tmp, cache_file);
    } catch (const std::exception& e) {
      fs::remove(tmp, ec);
      log.warn("cannot write the backbone cache " + cache_file.string() + " (" + first_line(e.what()) + ")");
    }
  }
  return out;
}

}  // namespace quarry
