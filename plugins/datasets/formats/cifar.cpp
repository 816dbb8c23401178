#include "formats/cifar.hpp"

#include <cstring>

#include "quarry/error.hpp"

namespace quarry::formats {

namespace {
// label_bytes: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine).
CifarRecords parse(const std::string& name, Bytes bytes, std::size_t label_bytes) {
  const bool is100 = label_bytes == 2;
  const char* format = is100 ? "CIFAR-100" : "CIFAR-10";
  const std::size_t record = label_bytes + kCifarPixels;
  const std::string layout = std::string(format) + " records (" + std::to_string(record) + " bytes each: " +
                             (is100 ? "coarse label byte, fine label byte" : "1 label byte") + ", 3072 pixel bytes)";
  if (bytes.size == 0) throw Error(name + ": empty file, expected " + layout);
  if (bytes.size % record != 0) {
    const std::size_t whole = bytes.size / record;
    throw Error(name + ": file size " + std::to_string(bytes.size) + " bytes is not a whole number of " + layout +
                ": " + std::to_string(whole) + (whole == 1 ? " record and " : " records and ") +
                std::to_string(bytes.size - whole * record) +
                " bytes left over; the file is truncated or not the binary version");
  }
  const std::size_t n = bytes.size / record;
  CifarRecords out;
  out.count = static_cast<std::int64_t>(n);
  out.pixels.resize(n * kCifarPixels);
  out.labels.resize(n);
  if (is100) out.coarse_labels.resize(n);
  auto check = [&](std::uint8_t v, std::int64_t limit, std::size_t i, const char* which) {
    if (v < limit) return;
    throw Error(name + ": " + which + " out of range in record " + std::to_string(i) + " (byte offset " +
                std::to_string(i * record) + "): found " + std::to_string(v) + ", expected 0.." +
                std::to_string(limit - 1) + "; is this a " + format + " file?");
  };
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* r = bytes.data + i * record;
    if (is100) {
      check(r[0], kCifar100Coarse, i, "coarse label");
      check(r[1], kCifar100Fine, i, "fine label");
      out.coarse_labels[i] = r[0];
      out.labels[i] = r[1];
    } else {
      check(r[0], kCifar10Classes, i, "label");
      out.labels[i] = r[0];
    }
    std::memcpy(out.pixels.data() + i * kCifarPixels, r + label_bytes, kCifarPixels);
  }
  return out;
}
}  // namespace

CifarRecords parse_cifar10(const std::string& name, Bytes bytes) { return parse(name, bytes, 1); }
CifarRecords parse_cifar100(const std::string& name, Bytes bytes) { return parse(name, bytes, 2); }

void append(CifarRecords& all, CifarRecords&& more) {
  if (all.count == 0) {
    all = std::move(more);
    return;
  }
  all.count += more.count;
  all.pixels.insert(all.pixels.end(), more.pixels.begin(), more.pixels.end());
  all.labels.insert(all.labels.end(), more.labels.begin(), more.labels.end());
  all.coarse_labels.insert(all.coarse_labels.end(), more.coarse_labels.begin(), more.coarse_labels.end());
}

}  // namespace quarry::formats
