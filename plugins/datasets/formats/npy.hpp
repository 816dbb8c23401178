// NumPy's .npy format, as np.save writes it: the magic "\x93NUMPY", a version byte
// pair (1.0, 2.0 or 3.0), a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0),
// a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }
// padded with spaces and ended by '\n', then the raw array in C order. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "formats/bytes.hpp"

namespace quarry::formats {

/// What a .npy header promises; `data` points into the parsed bytes.
struct NpyArray {
  char kind = 0;              ///< 'f' float, 'i' signed, 'u' unsigned, 'b' bool
  std::size_t item_size = 0;  ///< bytes per element
  bool big_endian = false;
  std::vector<std::uint64_t> shape;
  std::string descr;          ///< as written, for messages ("<f4")
  const std::uint8_t* data = nullptr;
  std::size_t data_size = 0;  ///< = product(shape) * item_size, checked
  std::uint64_t count() const;
};

/// Parse and check the header. Throws quarry::Error naming `name` on: a file too short
/// or without the magic, an unknown version, a header that is not the dict np.save writes,
/// an unsupported dtype (structured, object, strings, complex), Fortran order, or a data
/// length that differs from what the shape promises (truncated or trailing bytes).
NpyArray parse_npy(const std::string& name, Bytes bytes);

/// N x D features (float16, float32 or float64, either byte order) as float32, row-major.
/// Throws when the array is not 2-D, is empty in D, or holds a non-finite value.
struct NpyMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> values;
};
NpyMatrix npy_features(const std::string& name, const NpyArray& array);

/// N labels (any integer dtype, either byte order) as int64. Throws when the array is not
/// 1-D, or a label is negative or >= num_classes (num_classes <= 0: no upper bound).
std::vector<std::int64_t> npy_labels(const std::string& name, const NpyArray& array, std::int64_t num_classes);

/// IEEE half -> float (exact).
float half_to_float(std::uint16_t h);

}  // namespace quarry::formats
