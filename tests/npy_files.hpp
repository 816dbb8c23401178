// Writing NumPy .npy files by hand (the exact bytes np.save writes), for the .npy parser's
// tests and the embeddings fixtures; and CHECK_HAS for messages.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "testing.hpp"

namespace quarry::testing {

// A .npy file by hand: version 1.0, the header dict as given (padded as np.save pads it).
inline std::vector<std::uint8_t> npy_bytes(const std::string& dict, const void* data, std::size_t size,
                                    std::uint8_t major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  const auto len = static_cast<std::uint32_t>(header.size());
  out.push_back(len & 0xFF);
  out.push_back((len >> 8) & 0xFF);
  if (major != 1) {
    out.push_back((len >> 16) & 0xFF);
    out.push_back((len >> 24) & 0xFF);
  }
  out.insert(out.end(), header.begin(), header.end());
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + size);
  return out;
}

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

inline void write_npy_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline void write_features(const std::filesystem::path& path, const torch::Tensor& x) {
  auto c = x.to(torch::kFloat32).contiguous();
  write_npy_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " +
                                 shape_text({c.size(0), c.size(1)}) + ", }",
                             c.data_ptr<float>(), static_cast<std::size_t>(c.numel()) * 4));
}

inline void write_labels(const std::filesystem::path& path, const torch::Tensor& y) {
  auto c = y.to(torch::kInt64).contiguous();
  write_npy_file(path, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': " + shape_text({c.size(0)}) + ", }",
                             c.data_ptr<std::int64_t>(), static_cast<std::size_t>(c.numel()) * 8));
}

inline bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") == 0; }

}  // namespace quarry::testing

// CHECK that `text` contains `part`, printing the text when it does not.
#define CHECK_HAS(text, part)                                             \
  do {                                                                    \
    const std::string text_ = (text);                                     \
    CHECK_MESSAGE(text_.find(part) != std::string::npos, text_);         \
  } while (0)
