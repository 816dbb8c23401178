// The torch-free .npy parser (plugins/datasets/formats/npy.*): round trips of files numpy
// writes, every malformed-file case, and its fuzz corpus and regressions.
#include "testing.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "core/training/schedule.hpp"
#include "formats/bytes.hpp"
#include "formats/npy.hpp"
#include "quarry/error.hpp"
#include "npy_files.hpp"
#include "support.hpp"

namespace test_npy {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::TempDir;
namespace fs = std::filesystem;
namespace qf = quarry::formats;

using namespace quarry::testing;

namespace {

std::string npy_error(const std::vector<std::uint8_t>& bytes, bool features = true) {
  try {
    auto a = qf::parse_npy("x.npy", qf::view(bytes));
    if (features)
      qf::npy_features("x.npy", a);
    else
      qf::npy_labels("x.npy", a, 10);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("npy: round trips of every supported dtype written by numpy") {
  if (!have_numpy()) {
    MESSAGE("skipped: /usr/bin/python3 has no numpy (scripts/setup.sh installs python3-numpy)");
    return;
  }
  TempDir dir;
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "x = (np.arange(15).reshape(5, 3) * 0.25 - 1.5)\n"
      "for t in ['<f4', '>f4', '<f2', '>f2', '<f8', '>f8']: np.save(f'{d}/x_{t[0] == \">\"}_{t[1:]}.npy', x.astype(t))\n"
      "np.lib.format.write_array(open(f'{d}/x_v2.npy', 'wb'), x.astype(np.float32), version=(2, 0))\n"
      "np.lib.format.write_array(open(f'{d}/x_v3.npy', 'wb'), x.astype(np.float32), version=(3, 0))\n"
      "y = np.array([0, 3, 9, 1, 7])\n"
      "for t in ['<i8', '>i8', '<i4', '>i4', '<i2', '|i1', '|u1', '<u2', '<u4', '>u8']: "
      "np.save(f'{d}/y_{t[0] == \">\"}_{t[1:]}.npy', y.astype(t))\n"
      "np.save(f'{d}/y_bool.npy', np.array([True, False, True]))\n"
      "np.save(f'{d}/empty.npy', np.zeros((0, 3), np.float32))\n";
  {
    std::ofstream(dir.path() / "make.py") << script;
  }
  REQUIRE(std::system(("/usr/bin/python3 " + (dir.path() / "make.py").string() + " " + dir.str()).c_str()) == 0);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".npy") continue;
    CAPTURE(name);
    ++files;
    const auto bytes = qf::read_file(entry.path());
    const auto a = qf::parse_npy(name, qf::view(bytes));
    if (name[0] == 'x') {
      const auto m = qf::npy_features(name, a);
      REQUIRE(m.rows == 5);
      REQUIRE(m.cols == 3);
      for (int i = 0; i < 15; ++i) CHECK(m.values[i] == static_cast<float>(i * 0.25 - 1.5));
    } else if (name == "empty.npy") {
      const auto m = qf::npy_features(name, a);
      CHECK(m.rows == 0);
      CHECK(m.cols == 3);
    } else if (name == "y_bool.npy") {
      CHECK(qf::npy_labels(name, a, 2) == std::vector<std::int64_t>{1, 0, 1});
    } else {
      CHECK(qf::npy_labels(name, a, 10) == std::vector<std::int64_t>{0, 3, 9, 1, 7});
      CHECK_THROWS_WITH(qf::npy_labels(name, a, 9), doctest::Contains("label out of range: label 9 at index 2"));
    }
  }
  CHECK(files == 20);
}

TEST_CASE("npy: half floats convert exactly") {
  CHECK(qf::half_to_float(0x3C00) == 1.0f);
  CHECK(qf::half_to_float(0xC000) == -2.0f);
  CHECK(qf::half_to_float(0x7BFF) == 65504.0f);
  CHECK(qf::half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(std::isinf(qf::half_to_float(0x7C00)));
  CHECK(std::isnan(qf::half_to_float(0x7E00)));
}

TEST_CASE("npy: each malformed file is an error naming the file and what is wrong") {
  const float four[4] = {1, 2, 3, 4};
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  auto with = [&](const std::string& dict, std::size_t size = 16) { return npy_bytes(dict, four, size); };
  CHECK(npy_error(with(ok)) == "(no error)");
  CHECK(npy_error({}) == "x.npy: empty file, expected a NumPy .npy file");
  CHECK_HAS(npy_error({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}), "not a NumPy .npy file");
  CHECK_HAS(npy_error({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}), ".npz archive");
  CHECK_HAS(npy_error({0x93, 'N', 'U', 'M'}), "truncated");
  auto bad_version = with(ok);
  bad_version[6] = 4;
  CHECK_HAS(npy_error(bad_version), "unsupported .npy format version 4.0");
  auto long_header = with(ok);
  long_header[8] = 0xFF, long_header[9] = 0x7F;
  CHECK_HAS(npy_error(long_header), "the header promises 32767 bytes of header text");
  auto no_newline = with(ok);
  no_newline[no_newline.size() - 17] = ' ';
  CHECK_HAS(npy_error(no_newline), "does not end with a newline");
  CHECK_HAS(npy_error(with("['descr', '<f4']")), "bad .npy header: expected '{'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'shape': (2, 2), }")), "missing key 'fortran_order'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, }")), "missing key 'shape'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}")),
             "unknown key 'x'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 2), }")),
             "expected True or False");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }")),
             "non-negative integer in 'shape'");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }")),
             "overflows");
  CHECK_HAS(npy_error(with("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }")),
             "structured dtypes");
  for (const char* dtype : {"<c8", "|O", "<U3", "<M8", "|S4", "<f16", "<f3"})
    CHECK_HAS(npy_error(with(std::string("{'descr': '") + dtype + "', 'fortran_order': False, 'shape': (2, 2), }")),
               "unsupported dtype");
  CHECK_HAS(npy_error(with("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 2), }")),
             "no byte order");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }")),
             "Fortran-ordered");
  CHECK_HAS(npy_error(with(ok, 12)), "x.npy: truncated: the header promises shape (2, 2) of <f4 (16 bytes), the file has 12 bytes");
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }")),
             "more than 2^64 bytes");
  auto trailing = with(ok);
  trailing.push_back(0);
  CHECK_HAS(npy_error(trailing), "1 byte of trailing data");
  // What the arrays hold.
  CHECK_HAS(npy_error(with("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }")),
             "features must be a 2-D array N x D, got shape (4,)");
  CHECK_HAS(npy_error(with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }")),
             "features must be float16, float32 or float64");
  CHECK_HAS(npy_error(with(ok), false), "labels must be integers");
  CHECK_HAS(npy_error(with("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }"), false),
             "labels must be a 1-D array");
  const std::int32_t negative[2] = {1, -1};
  CHECK_HAS(npy_error(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", negative, 8), false),
             "label out of range: label -1 at index 1, expected 0..9");
  const float nan[2] = {1, std::nanf("")};
  CHECK_HAS(npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", nan, 8)),
             "non-finite feature value nan at row 0, column 1");
  // Variants other writers produce are accepted: double quotes, no trailing comma, version 2.
  CHECK(npy_error(with("{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"<f4\"}")) == "(no error)");
  CHECK(npy_error(npy_bytes(ok, four, 16, 2)) == "(no error)");
}

TEST_CASE("npy fuzz corpus and regressions: every input parses or throws quarry::Error") {
  int files = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = quarry::testing::source_dir() / "tests" / "fuzz" / kind / "npy";
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      ++files;
      const auto name = entry.path().string();
      CAPTURE(name);
      const auto bytes = qf::read_file(entry.path());
      try {
        const auto a = qf::parse_npy(name, qf::view(bytes));
        try {
          qf::npy_features(name, a);
        } catch (const Error&) {
        }
        try {
          qf::npy_labels(name, a, 10);
        } catch (const Error&) {
        }
      } catch (const Error&) {
      }
    }
  }
  CHECK(files >= 7);  // the committed seeds at least
}

}  // namespace test_npy
