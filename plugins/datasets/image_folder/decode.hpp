// Decoding one JPEG or PNG file into 8-bit pixels, with libjpeg-turbo's TurboJPEG API and
// libpng's simplified API. Torch-free, so it is fuzzed on its own (tests/fuzz/fuzz_image.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quarry::image_folder {

enum class ImageKind { Jpeg, Png, Unknown };

/// What the first bytes say the file is (JPEG: FF D8 FF; PNG: the 8-byte signature).
ImageKind sniff(const std::uint8_t* data, std::size_t size);

/// Pixels row-major, interleaved: height x width x channels.
struct DecodedImage {
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::int64_t channels = 0;  ///< 1 (grayscale) or 3 (RGB)
  std::vector<std::uint8_t> pixels;
};

/// Decode `data` (the bytes of the file `name`, used in messages) to `channels` = 1 (grayscale)
/// or 3 (RGB), whatever the file stores (palette, gray, RGB, alpha: alpha is dropped; 16-bit:
/// reduced to 8). Throws quarry::Error "NAME: ..." naming what is wrong: not a JPEG or PNG, a
/// corrupt or truncated file (a decoder warning counts as corrupt), an unsupported colour space,
/// or dimensions over max_pixels (a guard against decompression bombs).
DecodedImage decode_image(const std::string& name, const std::uint8_t* data, std::size_t size, int channels,
                          std::int64_t max_pixels = std::int64_t(1) << 28);

}  // namespace quarry::image_folder
