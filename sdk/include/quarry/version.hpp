// Quarry SDK version and the build fingerprint a plugin carries.
//
// C++ interfaces and torch::Tensor cross the plugin boundary, so a plugin is
// tied to one compiler family, one libstdc++ ABI and one LibTorch major.minor.
// The fingerprint below says which; the host refuses a plugin whose fingerprint
// differs from its own (see plugin.hpp).
#pragma once

#include <cstdint>

#include <torch/version.h>

#define QUARRY_SDK_VERSION_MAJOR 0
#define QUARRY_SDK_VERSION_MINOR 3
#define QUARRY_SDK_VERSION_STRING "0.3.0"

/// Bumped whenever PluginEntry, Registrar or an interface changes layout.
#define QUARRY_ABI_VERSION 5u

#define QUARRY_STR2_(x) #x
#define QUARRY_STR_(x) QUARRY_STR2_(x)

#if defined(__clang__)
#define QUARRY_COMPILER_FAMILY "clang"
#elif defined(__GNUC__)
#define QUARRY_COMPILER_FAMILY "gcc"
#else
#define QUARRY_COMPILER_FAMILY "other"
#endif

#if defined(_GLIBCXX_USE_CXX11_ABI)
#define QUARRY_CXX11_ABI QUARRY_STR_(_GLIBCXX_USE_CXX11_ABI)
#else
#define QUARRY_CXX11_ABI "na"
#endif

/// e.g. "compiler=gcc;cxx11abi=1;torch=1.13;sdk=0.3"
#define QUARRY_BUILD_FINGERPRINT                                   \
  "compiler=" QUARRY_COMPILER_FAMILY ";cxx11abi=" QUARRY_CXX11_ABI \
  ";torch=" QUARRY_STR_(TORCH_VERSION_MAJOR) "." QUARRY_STR_(      \
      TORCH_VERSION_MINOR) ";sdk=" QUARRY_STR_(QUARRY_SDK_VERSION_MAJOR) "." QUARRY_STR_(QUARRY_SDK_VERSION_MINOR)

namespace quarry {
inline constexpr std::uint32_t kAbiVersion = QUARRY_ABI_VERSION;
inline constexpr const char* kSdkVersion = QUARRY_SDK_VERSION_STRING;
inline constexpr const char* kBuildFingerprint = QUARRY_BUILD_FINGERPRINT;
}  // namespace quarry
