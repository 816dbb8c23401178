// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header
// `00 00 <type> <ndims>`, one uint32 per dimension, then the data. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/bytes.hpp"

namespace quarry::formats {

/// count images of rows x cols, one byte per pixel, row-major, image after image.
struct IdxImages {
  std::int64_t count = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> pixels;
};

/// Parse an images file (magic 0x00000803). Throws quarry::Error naming `name`
/// on an empty or short file, a wrong magic number or data type, or a length
/// that differs from what the header promises.
IdxImages parse_idx_images(const std::string& name, Bytes bytes);

/// Parse a labels file (magic 0x00000801); every label must be < num_classes.
std::vector<std::int64_t> parse_idx_labels(const std::string& name, Bytes bytes, std::int64_t num_classes);

/// Throws quarry::Error when the two files of a split disagree on the count.
void check_idx_pair(const std::string& images_name, const IdxImages& images, const std::string& labels_name,
                    const std::vector<std::int64_t>& labels);

}  // namespace quarry::formats
