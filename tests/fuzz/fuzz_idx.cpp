// libFuzzer entry point for the IDX parser (and the gzip reader in front of it).
// Build and run: scripts/fuzz.sh idx SECONDS. Only quarry::Error may escape the
// parsers; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "formats/bytes.hpp"
#include "formats/idx.hpp"
#include "quarry/error.hpp"

namespace qf = quarry::formats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  qf::Bytes bytes{data, size};
  std::vector<std::uint8_t> unzipped;
  try {
    if (qf::is_gzip(bytes)) {
      // A small cap keeps decompression bombs inside the fuzzer's memory limit.
      unzipped = qf::gunzip("fuzz.gz", bytes, std::size_t{16} << 20);
      bytes = qf::view(unzipped);
    }
  } catch (const quarry::Error&) {
    return 0;
  }
  try {
    const auto images = qf::parse_idx_images("fuzz", bytes);
    if (static_cast<std::size_t>(images.count * images.rows * images.cols) != images.pixels.size()) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  try {
    const auto labels = qf::parse_idx_labels("fuzz", bytes, 10);
    for (auto l : labels)
      if (l < 0 || l >= 10) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  return 0;
}
