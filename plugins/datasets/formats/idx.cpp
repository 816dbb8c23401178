#include "formats/idx.hpp"

#include <cstdio>
#include <cstring>

#include "formats/bytes.hpp"
#include "quarry/error.hpp"

namespace quarry::formats {

namespace {
constexpr std::uint8_t kUnsignedByte = 0x08;

std::uint32_t read_be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}


// Checks the header of an IDX file with `ndims` dimensions of unsigned bytes; returns the dims.
std::vector<std::uint64_t> read_header(const std::string& name, Bytes bytes, std::uint8_t ndims, const char* what) {
  const std::uint32_t want_magic = 0x00000800u | ndims;
  if (bytes.size == 0)
    throw Error(name + ": empty file, expected an IDX " + what + " file (magic " + hex32(want_magic) + ")");
  const std::size_t header = 4 + 4 * std::size_t{ndims};
  if (bytes.size < 4)
    throw Error(name + ": too short for an IDX " + what + " file: expected a header of " + byte_count(header) +
                ", file has " + byte_count(bytes.size));
  const std::uint32_t magic = read_be32(bytes.data);
  if (magic != want_magic) {
    std::string why;
    if ((magic >> 16) != 0)
      why = bytes.data[0] == 0x1f && bytes.data[1] == 0x8b ? " (a gzip file that was not decompressed)"
                                                            : " (not an IDX file)";
    else if (bytes.data[2] != kUnsignedByte)
      why = " (data type " + std::to_string(bytes.data[2]) + ", expected 8 = unsigned byte)";
    else
      why = " (" + std::to_string(bytes.data[3]) + " dimensions, expected " + std::to_string(ndims) +
            "; is this the " + (ndims == 1 ? "images" : "labels") + " file?)";
    throw Error(name + ": wrong magic number: expected " + hex32(want_magic) + " (IDX " + what + "), found " +
                hex32(magic) + why);
  }
  if (bytes.size < header)
    throw Error(name + ": truncated: an IDX " + what + " header needs " + byte_count(header) + ", file has " +
                byte_count(bytes.size));
  std::vector<std::uint64_t> dims(ndims);
  for (std::size_t i = 0; i < ndims; ++i) dims[i] = read_be32(bytes.data + 4 + 4 * i);
  return dims;
}

// `promised` is what the header says the data holds; its length must match exactly.
void check_length(const std::string& name, Bytes bytes, std::uint64_t header, std::uint64_t data,
                  const std::string& promised) {
  // Each dim is < 2^32 and there are at most 3, so data fits unless the product overflowed; checked by callers.
  const std::uint64_t want = header + data;
  if (bytes.size == want) return;
  const std::string both = "header promises " + promised + " (" + byte_count(want) + "), file has " +
                           byte_count(bytes.size);
  if (bytes.size < want) throw Error(name + ": truncated: " + both);
  throw Error(name + ": " + byte_count(bytes.size - want) + " of trailing data: " + both);
}
}  // namespace

IdxImages parse_idx_images(const std::string& name, Bytes bytes) {
  const auto dims = read_header(name, bytes, 3, "images");
  const std::uint64_t n = dims[0], rows = dims[1], cols = dims[2];
  const std::string promised =
      std::to_string(n) + " images of " + std::to_string(rows) + "x" + std::to_string(cols);
  if (rows == 0 || cols == 0) throw Error(name + ": header promises " + promised + ": image size must be positive");
  // rows * cols < 2^64; n * (rows * cols) may overflow, in which case no file can be that long.
  const std::uint64_t per_image = rows * cols;
  if (n != 0 && per_image > (UINT64_MAX - 16) / n)
    throw Error(name + ": truncated: header promises " + promised + " (more than 2^64 bytes), file has " +
                byte_count(bytes.size));
  check_length(name, bytes, 16, n * per_image, promised);
  IdxImages out;
  out.count = static_cast<std::int64_t>(n);
  out.rows = static_cast<std::int64_t>(rows);
  out.cols = static_cast<std::int64_t>(cols);
  out.pixels.assign(bytes.data + 16, bytes.data + bytes.size);
  return out;
}

std::vector<std::int64_t> parse_idx_labels(const std::string& name, Bytes bytes, std::int64_t num_classes) {
  const auto dims = read_header(name, bytes, 1, "labels");
  const std::uint64_t n = dims[0];
  check_length(name, bytes, 8, n, std::to_string(n) + " labels");
  std::vector<std::int64_t> labels(n);
  const std::uint8_t* p = bytes.data + 8;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (p[i] >= num_classes)
      throw Error(name + ": label out of range: label " + std::to_string(p[i]) + " at index " + std::to_string(i) +
                  ", expected 0.." + std::to_string(num_classes - 1));
    labels[i] = p[i];
  }
  return labels;
}

void check_idx_pair(const std::string& images_name, const IdxImages& images, const std::string& labels_name,
                    const std::vector<std::int64_t>& labels) {
  const auto n_labels = static_cast<std::int64_t>(labels.size());
  if (images.count == n_labels) return;
  throw Error(images_name + ": image/label count mismatch: " + std::to_string(images.count) + " images, but " +
              labels_name + " has " + std::to_string(n_labels) + " labels; the two files must come from the same split");
}

}  // namespace quarry::formats
