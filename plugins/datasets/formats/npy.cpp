#include "formats/npy.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "formats/bytes.hpp"
#include "quarry/error.hpp"

namespace quarry::formats {

namespace {


std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80)) out += c >= 32 && c < 127 ? static_cast<char>(c) : '?';
  return s.size() > 80 ? out + "..." : out;
}

// A reader for the one Python literal np.save writes: a dict of str keys to str, bool
// and tuple-of-int values. Tolerates the spacing and quoting variants other writers use.
class HeaderReader {
 public:
  HeaderReader(const std::string& name, const std::string& text) : name_(name), s_(text) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": bad .npy header: " + what + " in \"" + printable(s_) + "\"");
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* where) {
    if (!eat(c)) fail(std::string("expected '") + c + "' " + where);
  }
  bool at_end() {
    skip_space();
    return i_ == s_.size();
  }
  std::string string_literal() {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) fail("expected a quoted string");
    const char q = s_[i_++];
    const auto end = s_.find(q, i_);
    if (end == std::string::npos) fail("unterminated string");
    std::string v = s_.substr(i_, end - i_);
    i_ = end + 1;
    return v;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair<const char*, bool>{"True", true}, {"False", false}})
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        return value;
      }
    fail("expected True or False for 'fortran_order'");
  }
  std::vector<std::uint64_t> shape() {
    expect('(', "to open 'shape'");
    std::vector<std::uint64_t> dims;
    while (!eat(')')) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') fail("expected a non-negative integer in 'shape'");
      std::uint64_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        const auto digit = static_cast<std::uint64_t>(s_[i_++] - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("a dimension in 'shape' overflows");
        v = v * 10 + digit;
      }
      if (eat('L')) {}  // Python 2 long literal
      dims.push_back(v);
      if (dims.size() > 32) fail("more than 32 dimensions in 'shape'");
      if (!eat(',')) {
        expect(')', "to close 'shape'");
        break;
      }
    }
    return dims;
  }

 private:
  const std::string& name_;
  const std::string& s_;
  std::size_t i_ = 0;
};

std::uint16_t load16(const std::uint8_t* p, bool big) {
  return big ? static_cast<std::uint16_t>(p[0] << 8 | p[1]) : static_cast<std::uint16_t>(p[1] << 8 | p[0]);
}
std::uint32_t load32(const std::uint8_t* p, bool big) {
  std::uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= std::uint32_t{p[big ? 3 - k : k]} << (8 * k);
  return v;
}
std::uint64_t load64(const std::uint8_t* p, bool big) {
  std::uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= std::uint64_t{p[big ? 7 - k : k]} << (8 * k);
  return v;
}

std::string dims_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

std::uint64_t NpyArray::count() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;  // checked against the file size by parse_npy, so no overflow here
  return n;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1u, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  float v;
  if (exponent == 0)
    v = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals
  else if (exponent == 31)
    v = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  return sign ? -v : v;
}

NpyArray parse_npy(const std::string& name, Bytes bytes) {
  static const std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size == 0) throw Error(name + ": empty file, expected a NumPy .npy file");
  if (bytes.size < 10 || std::memcmp(bytes.data, kMagic, bytes.size < 6 ? bytes.size : 6) != 0) {
    const bool zipped = bytes.size >= 2 && bytes.data[0] == 'P' && bytes.data[1] == 'K';
    if (bytes.size >= 6 && std::memcmp(bytes.data, kMagic, 6) != 0)
      throw Error(name + ": not a NumPy .npy file (no \\x93NUMPY magic)" +
                  (zipped ? std::string("; it looks like an .npz archive: save each array with np.save") : ""));
    throw Error(name + ": truncated: " + byte_count(bytes.size) + ", a .npy header needs at least 10");
  }
  const unsigned major = bytes.data[6], minor = bytes.data[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    throw Error(name + ": unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                " (expected 1.0, 2.0 or 3.0)");
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (bytes.size < prefix)
    throw Error(name + ": truncated: " + byte_count(bytes.size) + ", a version " + std::to_string(major) +
                ".0 header needs at least " + std::to_string(prefix));
  const std::uint64_t header_len = major == 1 ? load16(bytes.data + 8, false) : load32(bytes.data + 8, false);
  if (header_len > bytes.size - prefix)
    throw Error(name + ": truncated: the header promises " + byte_count(header_len) + " of header text, the file has " +
                byte_count(bytes.size - prefix) + " after the prefix");
  const std::string text(reinterpret_cast<const char*>(bytes.data + prefix), static_cast<std::size_t>(header_len));
  if (text.empty() || text.back() != '\n') throw Error(name + ": bad .npy header: it does not end with a newline");

  NpyArray a;
  bool have_descr = false, have_order = false, have_shape = false, fortran = false;
  HeaderReader r(name, text);
  r.expect('{', "at the start of the header");
  while (!r.eat('}')) {
    const std::string key = r.string_literal();
    r.expect(':', "after a key");
    if (key == "descr") {
      if (r.eat('[')) r.fail("structured dtypes (a list 'descr') are not supported; save a plain numeric array");
      a.descr = r.string_literal();
      have_descr = true;
    } else if (key == "fortran_order") {
      fortran = r.boolean();
      have_order = true;
    } else if (key == "shape") {
      a.shape = r.shape();
      have_shape = true;
    } else {
      r.fail("unknown key '" + printable(key) + "'");
    }
    if (!r.eat(',')) {
      r.expect('}', "to close the header");
      break;
    }
  }
  if (!r.at_end()) r.fail("text after the closing '}'");
  if (!have_descr || !have_order || !have_shape)
    r.fail(std::string("missing key '") + (!have_descr ? "descr" : !have_order ? "fortran_order" : "shape") + "'");
  if (fortran)
    throw Error(name + ": Fortran-ordered array (fortran_order: True); save a C-ordered one, e.g. "
                "np.save(path, np.ascontiguousarray(x))");

  // descr: byte order, kind, item size ("<f4", "|u1", ">i8", "=f2").
  const std::string& d = a.descr;
  if (d.size() < 3 || (d[0] != '<' && d[0] != '>' && d[0] != '|' && d[0] != '='))
    throw Error(name + ": unsupported dtype '" + printable(d) + "' (expected e.g. '<f4', '<f2', '<i8', '|u1')");
  a.big_endian = d[0] == '>';
  a.kind = d[1];
  const std::string size_text = d.substr(2);
  if (size_text.size() > 1 || size_text[0] < '1' || size_text[0] > '8')
    throw Error(name + ": unsupported dtype '" + printable(d) + "'");
  a.item_size = static_cast<std::size_t>(size_text[0] - '0');
  const bool ok = (a.kind == 'f' && (a.item_size == 2 || a.item_size == 4 || a.item_size == 8)) ||
                  ((a.kind == 'i' || a.kind == 'u') &&
                   (a.item_size == 1 || a.item_size == 2 || a.item_size == 4 || a.item_size == 8)) ||
                  (a.kind == 'b' && a.item_size == 1);
  if (!ok)
    throw Error(name + ": unsupported dtype '" + printable(d) +
                "' (supported: float16/32/64, signed and unsigned integers of 1, 2, 4 or 8 bytes, bool)");
  if (a.item_size > 1 && d[0] == '|') throw Error(name + ": dtype '" + d + "' has no byte order ('|') but more than one byte");

  const std::uint64_t available = bytes.size - prefix - header_len;
  std::uint64_t want = a.item_size;
  bool overflow = false;
  for (auto dim : a.shape) {
    if (dim == 0) {
      want = 0, overflow = false;  // an empty array, whatever the other dimensions say
      break;
    }
    if (want > std::numeric_limits<std::uint64_t>::max() / dim) overflow = true;
    if (!overflow) want *= dim;
  }
  const std::string promised = "shape " + dims_text(a.shape) + " of " + d;
  if (overflow || want > available)
    throw Error(name + ": truncated: the header promises " + promised + " (" +
                (overflow ? std::string("more than 2^64 bytes") : byte_count(want)) + "), the file has " +
                byte_count(available) + " of data");
  if (want < available)
    throw Error(name + ": " + byte_count(available - want) + " of trailing data: the header promises " + promised +
                " (" + byte_count(want) + ")");
  a.data = bytes.data + prefix + header_len;
  a.data_size = static_cast<std::size_t>(want);
  return a;
}

NpyMatrix npy_features(const std::string& name, const NpyArray& a) {
  if (a.kind != 'f')
    throw Error(name + ": features must be float16, float32 or float64, got dtype '" + a.descr +
                "'; convert with x.astype(np.float32)");
  if (a.shape.size() != 2)
    throw Error(name + ": features must be a 2-D array N x D, got shape " + dims_text(a.shape));
  if (a.shape[1] == 0) throw Error(name + ": features have D = 0 columns");
  NpyMatrix m;
  m.rows = static_cast<std::int64_t>(a.shape[0]);
  m.cols = static_cast<std::int64_t>(a.shape[1]);
  const std::uint64_t n = a.count();
  m.values.resize(static_cast<std::size_t>(n));
  const std::uint8_t* p = a.data;
  for (std::uint64_t i = 0; i < n; ++i, p += a.item_size) {
    float v;
    if (a.item_size == 2) {
      v = half_to_float(load16(p, a.big_endian));
    } else if (a.item_size == 4) {
      const std::uint32_t bits = load32(p, a.big_endian);
      std::memcpy(&v, &bits, 4);
    } else {
      const std::uint64_t bits = load64(p, a.big_endian);
      double dv;
      std::memcpy(&dv, &bits, 8);
      v = static_cast<float>(dv);
    }
    if (!std::isfinite(v))
      throw Error(name + ": non-finite feature value " + std::to_string(v) + " at row " + std::to_string(i / a.shape[1]) +
                  ", column " + std::to_string(i % a.shape[1]) +
                  (a.item_size == 8 ? std::string(" (float64 values beyond float32's range overflow)") : ""));
    m.values[static_cast<std::size_t>(i)] = v;
  }
  return m;
}

std::vector<std::int64_t> npy_labels(const std::string& name, const NpyArray& a, std::int64_t num_classes) {
  if (a.kind != 'i' && a.kind != 'u' && a.kind != 'b')
    throw Error(name + ": labels must be integers, got dtype '" + a.descr + "'; convert with y.astype(np.int64)");
  if (a.shape.size() != 1) throw Error(name + ": labels must be a 1-D array of N integers, got shape " + dims_text(a.shape));
  const auto n = static_cast<std::size_t>(a.shape[0]);
  std::vector<std::int64_t> labels(n);
  const std::uint8_t* p = a.data;
  for (std::size_t i = 0; i < n; ++i, p += a.item_size) {
    std::uint64_t bits = a.item_size == 1   ? p[0]
                         : a.item_size == 2 ? load16(p, a.big_endian)
                         : a.item_size == 4 ? load32(p, a.big_endian)
                                            : load64(p, a.big_endian);
    std::int64_t v;
    if (a.kind == 'i') {
      const unsigned shift = 64 - 8 * static_cast<unsigned>(a.item_size);  // sign-extend
      v = static_cast<std::int64_t>(bits << shift) >> shift;
    } else {
      if (bits > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw Error(name + ": label out of range: " + std::to_string(bits) + " at index " + std::to_string(i));
      v = static_cast<std::int64_t>(bits);
    }
    if (v < 0 || (num_classes > 0 && v >= num_classes))
      throw Error(name + ": label out of range: label " + std::to_string(v) + " at index " + std::to_string(i) +
                  (num_classes > 0 ? ", expected 0.." + std::to_string(num_classes - 1) : std::string(", expected >= 0")));
    labels[i] = v;
  }
  return labels;
}

}  // namespace quarry::formats
