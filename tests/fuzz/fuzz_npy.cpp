// libFuzzer entry point for the .npy parser. Build and run: scripts/fuzz.sh npy SECONDS.
// Only quarry::Error may escape the parser; anything else (a crash, a sanitizer report,
// another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "formats/bytes.hpp"
#include "formats/npy.hpp"
#include "quarry/error.hpp"

namespace qf = quarry::formats;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  qf::NpyArray a;
  try {
    a = qf::parse_npy("fuzz", qf::Bytes{data, size});
  } catch (const quarry::Error&) {
    return 0;
  }
  if (a.data_size != a.count() * a.item_size || a.data + a.data_size != data + size) __builtin_trap();
  try {
    const auto m = qf::npy_features("fuzz", a);
    if (static_cast<std::uint64_t>(m.rows * m.cols) != m.values.size()) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  try {
    const auto labels = qf::npy_labels("fuzz", a, 10);
    for (auto l : labels)
      if (l < 0 || l >= 10) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  return 0;
}
