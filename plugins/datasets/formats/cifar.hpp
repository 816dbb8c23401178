// The binary versions of CIFAR-10 and CIFAR-100 (Krizhevsky 2009). Torch-free.
//   CIFAR-10 record:  <label byte> <3072 pixel bytes>
//   CIFAR-100 record: <coarse label byte> <fine label byte> <3072 pixel bytes>
// The 3072 pixels are 1024 red, then 1024 green, then 1024 blue, each a 32x32
// row-major plane: a record's pixels are already one C x H x W image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "formats/bytes.hpp"

namespace quarry::formats {

constexpr std::int64_t kCifarChannels = 3;
constexpr std::int64_t kCifarSide = 32;
constexpr std::int64_t kCifarPixels = kCifarChannels * kCifarSide * kCifarSide;  // 3072
constexpr std::int64_t kCifar10Classes = 10;
constexpr std::int64_t kCifar100Coarse = 20;
constexpr std::int64_t kCifar100Fine = 100;

/// The records of one file: count images of 3 x 32 x 32, their labels.
struct CifarRecords {
  std::int64_t count = 0;
  std::vector<std::uint8_t> pixels;          ///< count * 3072, N x C x H x W
  std::vector<std::int64_t> labels;          ///< CIFAR-10 label, or CIFAR-100 fine label
  std::vector<std::int64_t> coarse_labels;   ///< CIFAR-100 only
};

/// Parse a CIFAR-10 batch file (data_batch_N.bin, test_batch.bin). Throws
/// quarry::Error naming `name` on an empty file, a size that is not a whole
/// number of records, or a label >= 10.
CifarRecords parse_cifar10(const std::string& name, Bytes bytes);

/// Parse a CIFAR-100 file (train.bin, test.bin): coarse labels < 20, fine < 100.
CifarRecords parse_cifar100(const std::string& name, Bytes bytes);

/// Append `more`'s records to `all` (the five CIFAR-10 training batches).
void append(CifarRecords& all, CifarRecords&& more);

}  // namespace quarry::formats
