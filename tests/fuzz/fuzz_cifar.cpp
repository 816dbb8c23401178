// libFuzzer entry point for the CIFAR-10/100 parsers (and the gzip reader).
// Build and run: scripts/fuzz.sh cifar SECONDS. Only quarry::Error may escape.
#include <cstddef>
#include <cstdint>

#include "formats/bytes.hpp"
#include "formats/cifar.hpp"
#include "quarry/error.hpp"

namespace qf = quarry::formats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  qf::Bytes bytes{data, size};
  std::vector<std::uint8_t> unzipped;
  try {
    if (qf::is_gzip(bytes)) {
      unzipped = qf::gunzip("fuzz.gz", bytes, std::size_t{16} << 20);
      bytes = qf::view(unzipped);
    }
  } catch (const quarry::Error&) {
    return 0;
  }
  try {
    const auto r = qf::parse_cifar10("fuzz", bytes);
    if (r.pixels.size() != static_cast<std::size_t>(r.count) * qf::kCifarPixels) __builtin_trap();
    for (auto l : r.labels)
      if (l < 0 || l >= qf::kCifar10Classes) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  try {
    const auto r = qf::parse_cifar100("fuzz", bytes);
    if (r.coarse_labels.size() != r.labels.size()) __builtin_trap();
    for (std::size_t i = 0; i < r.labels.size(); ++i)
      if (r.labels[i] >= qf::kCifar100Fine || r.coarse_labels[i] >= qf::kCifar100Coarse) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  return 0;
}
