#include "formats/bytes.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include <zlib.h>

#include "quarry/error.hpp"

namespace quarry::formats {

bool is_gzip(Bytes bytes) { return bytes.size >= 2 && bytes.data[0] == 0x1f && bytes.data[1] == 0x8b; }

namespace {
// The gzip trailer's ISIZE (uncompressed size mod 2^32) of the last member: a hint for reserve().
std::size_t size_hint(Bytes bytes) {
  if (bytes.size < 18) return 0;
  const std::uint8_t* t = bytes.data + bytes.size - 4;
  return std::size_t{t[0]} | std::size_t{t[1]} << 8 | std::size_t{t[2]} << 16 | std::size_t{t[3]} << 24;
}

struct Inflater {
  z_stream zs{};
  bool open = false;
  ~Inflater() {
    if (open) inflateEnd(&zs);
  }
};
}  // namespace

std::vector<std::uint8_t> gunzip(const std::string& name, Bytes bytes, std::size_t max_output) {
  if (!is_gzip(bytes)) throw Error(name + ": not a gzip file: expected magic bytes 1f 8b");
  std::vector<std::uint8_t> out;
  // Deflate expands at most about 1032:1, so a bogus ISIZE cannot make us reserve more than that.
  const std::size_t most = bytes.size > max_output / 1032 ? max_output : bytes.size * 1032;
  out.reserve(std::min(size_hint(bytes), most));
  Inflater inf;
  // 16 + MAX_WBITS: gzip wrapper only, so the CRC-32 and length in the trailer are checked.
  if (inflateInit2(&inf.zs, 16 + MAX_WBITS) != Z_OK) throw Error(name + ": cannot initialise zlib");
  inf.open = true;
  std::size_t in_pos = 0;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  constexpr std::size_t kMaxIn = std::numeric_limits<uInt>::max();
  for (;;) {
    if (inf.zs.avail_in == 0 && in_pos < bytes.size) {
      const std::size_t n = std::min(bytes.size - in_pos, kMaxIn);
      inf.zs.next_in = const_cast<Bytef*>(bytes.data + in_pos);
      inf.zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    if (out.size() >= max_output)
      throw Error(name + ": gzip data expands to more than " + std::to_string(max_output) +
                  " bytes, the most a dataset file may hold");
    const std::size_t old = out.size();
    // Small steps first (small files), at most kChunk at a time once large.
    const std::size_t grow = std::min({std::max<std::size_t>(old, 4096), kChunk, max_output - old});
    out.resize(old + grow);
    inf.zs.next_out = out.data() + old;
    inf.zs.avail_out = static_cast<uInt>(grow);
    const int rc = inflate(&inf.zs, Z_NO_FLUSH);
    out.resize(old + grow - inf.zs.avail_out);
    if (rc == Z_STREAM_END) {
      const std::size_t consumed = in_pos - inf.zs.avail_in;
      if (consumed == bytes.size) return out;
      // Another member follows (what `cat a.gz b.gz` makes); anything else is garbage.
      const Bytes rest{bytes.data + consumed, bytes.size - consumed};
      if (!is_gzip(rest))
        throw Error(name + ": " + std::to_string(rest.size) + " trailing bytes after the gzip stream (at offset " +
                    std::to_string(consumed) + "); the file is corrupt");
      if (inflateReset(&inf.zs) != Z_OK) throw Error(name + ": cannot reset zlib");
      continue;
    }
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT)
      throw Error(name + ": corrupt gzip data: " + (inf.zs.msg ? inf.zs.msg : "invalid stream") +
                  " (after " + std::to_string(out.size()) + " decompressed bytes); download the file again");
    if (rc == Z_MEM_ERROR) throw Error(name + ": out of memory while decompressing");
    // Z_BUF_ERROR or Z_OK with the input used up: the stream stops early.
    if (inf.zs.avail_in == 0 && in_pos == bytes.size && inf.zs.avail_out != 0)
      throw Error(name + ": truncated gzip data: the stream ends after " + std::to_string(bytes.size) +
                  " compressed bytes without its end marker; download the file again");
    if (rc != Z_OK && rc != Z_BUF_ERROR) throw Error(name + ": zlib error " + std::to_string(rc));
  }
}

std::vector<std::uint8_t> maybe_gunzip(const std::string& name, std::vector<std::uint8_t> bytes,
                                       std::size_t max_output) {
  if (!is_gzip(view(bytes))) return bytes;
  return gunzip(name, view(bytes), max_output);
}

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path.string() + ": file not found");
  if (std::filesystem::is_directory(path, ec)) throw Error(path.string() + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const auto end = in.tellg();
  if (end < 0) throw Error(path.string() + ": cannot determine the file size");
  in.seekg(0, std::ios::beg);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(end));
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw Error(path.string() + ": read error after " + std::to_string(in.gcount()) + " of " +
                std::to_string(bytes.size()) + " bytes");
  return bytes;
}

std::filesystem::path find_data_file(const std::filesystem::path& dir, const std::string& name,
                                     const std::string& what) {
  std::error_code ec;
  const auto plain = dir / name;
  if (std::filesystem::is_regular_file(plain, ec)) return plain;
  const auto gz = dir / (name + ".gz");
  if (std::filesystem::is_regular_file(gz, ec)) return gz;
  throw Error(plain.string() + ": file not found (nor " + gz.filename().string() + "); expected " + what + " in " +
              dir.string());
}

std::vector<std::uint8_t> read_data_file(const std::filesystem::path& path) {
  return maybe_gunzip(path.string(), read_file(path));
}

std::string byte_count(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

}  // namespace quarry::formats
