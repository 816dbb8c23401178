// Reading dataset files into memory, gzipped or plain. Torch-free, so the
// parsers can be fuzzed on their own (scripts/fuzz.sh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace quarry::formats {

/// A view of a file's bytes; `name` is only used in messages.
struct Bytes {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
};
inline Bytes view(const std::vector<std::uint8_t>& v) { return {v.data(), v.size()}; }

/// True when the bytes start with the gzip magic 1f 8b.
bool is_gzip(Bytes bytes);

/// Decompress a gzip stream (several members are allowed, as gzip writes them).
/// Throws quarry::Error naming `name` on corrupt, truncated or oversized data:
/// output larger than `max_output` bytes is refused, so a hostile file cannot exhaust memory.
std::vector<std::uint8_t> gunzip(const std::string& name, Bytes bytes,
                                 std::size_t max_output = std::size_t{4} << 30);

/// The bytes, decompressed when they start with the gzip magic.
std::vector<std::uint8_t> maybe_gunzip(const std::string& name, std::vector<std::uint8_t> bytes,
                                       std::size_t max_output = std::size_t{4} << 30);

/// The whole file. Throws quarry::Error when it is missing or unreadable.
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);

/// `dir/name` if it exists, else `dir/name.gz`; throws quarry::Error naming both when neither does.
/// `what` describes the dataset for the message ("the CIFAR-10 binary version").
std::filesystem::path find_data_file(const std::filesystem::path& dir, const std::string& name,
                                     const std::string& what);

/// "1 byte", "N bytes": for messages.
std::string byte_count(std::uint64_t n);

/// read_file + maybe_gunzip.
std::vector<std::uint8_t> read_data_file(const std::filesystem::path& path);

}  // namespace quarry::formats
