// libFuzzer entry point for the image_folder decoder (TurboJPEG and libpng behind it).
// Build and run: scripts/fuzz.sh image SECONDS. Only quarry::Error may escape decode_image;
// anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "image_folder/decode.hpp"
#include "quarry/error.hpp"

namespace qi = quarry::image_folder;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (int channels : {1, 3}) {
    try {
      // A small pixel cap keeps decompression bombs inside the fuzzer's memory limit.
      const auto img = qi::decode_image("fuzz", data, size, channels, std::int64_t{1} << 22);
      if (static_cast<std::size_t>(img.width * img.height * img.channels) != img.pixels.size() ||
          img.channels != channels)
        __builtin_trap();
    } catch (const quarry::Error&) {
    }
  }
  return 0;
}
