// Pixel statistics of a PNG that headless Chromium or rsvg-convert wrote, decoded here (zlib
// inflate + the five PNG filters), for tests that check a rendering is not blank.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "testing.hpp"

namespace quarry::testing {

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Pixel statistics of an 8-bit PNG, decoded here (zlib inflate + the five PNG filters).
struct PngStats {
  std::uint32_t width = 0, height = 0;
  std::size_t distinct = 0, non_white = 0, bluish = 0, orangeish = 0;
};
inline PngStats png_stats(const std::filesystem::path& p) {
  const std::string s = read_bytes(p);
  REQUIRE(s.size() > 8);
  REQUIRE(s.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  auto u32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(s[at])) << 24) | (std::uint32_t(std::uint8_t(s[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(s[at + 2])) << 8) | std::uint32_t(std::uint8_t(s[at + 3]));
  };
  PngStats st;
  int depth = 0, colour = 0;
  std::string idat;
  for (std::size_t at = 8; at + 8 <= s.size();) {
    const std::uint32_t len = u32(at);
    const std::string type = s.substr(at + 4, 4);
    if (type == "IHDR") {
      st.width = u32(at + 8);
      st.height = u32(at + 12);
      depth = std::uint8_t(s[at + 16]);
      colour = std::uint8_t(s[at + 17]);
    } else if (type == "IDAT") {
      idat += s.substr(at + 8, len);
    }
    at += 12 + len;
  }
  REQUIRE(depth == 8);
  const std::map<int, int> channels = {{0, 1}, {2, 3}, {4, 2}, {6, 4}};
  REQUIRE(channels.count(colour));
  const std::size_t bpp = static_cast<std::size_t>(channels.at(colour)), stride = st.width * bpp;
  std::vector<unsigned char> raw((stride + 1) * st.height);
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()), idat.size()) == Z_OK);
  REQUIRE(raw_len == raw.size());
  std::vector<unsigned char> img(stride * st.height), prev(stride, 0);
  for (std::uint32_t y = 0; y < st.height; ++y) {
    const unsigned char filter = raw[y * (stride + 1)];
    const unsigned char* in = &raw[y * (stride + 1) + 1];
    unsigned char* out = &img[y * stride];
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? out[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      int pred = 0;
      if (filter == 1) pred = a;
      else if (filter == 2) pred = b;
      else if (filter == 3) pred = (a + b) / 2;
      else if (filter == 4) {
        const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
        pred = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
      }
      out[x] = static_cast<unsigned char>(in[x] + pred);
    }
    std::copy(out, out + stride, prev.begin());
  }
  std::set<std::uint32_t> colours;
  for (std::size_t i = 0; i < img.size(); i += bpp) {
    const int r = img[i], g = bpp >= 3 ? img[i + 1] : r, b = bpp >= 3 ? img[i + 2] : r;
    const int alpha = bpp == 4 ? img[i + 3] : (bpp == 2 ? img[i + 1] : 255);
    colours.insert((std::uint32_t(r) << 16) | (std::uint32_t(g) << 8) | std::uint32_t(b));
    if (alpha > 0 && (r < 245 || g < 245 || b < 245)) ++st.non_white;
    if (alpha > 0 && b > r + 80 && b > 120) ++st.bluish;               // #0072B2
    if (alpha > 0 && r > b + 120 && r > 150 && g < 150) ++st.orangeish;  // #D55E00
  }
  st.distinct = colours.size();
  return st;
}

}  // namespace quarry::testing
