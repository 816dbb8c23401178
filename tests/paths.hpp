// Where the tests find the build and the sources, at run time: nothing about the build's
// location is compiled in, so a build folder copied to another machine (a GPU one, say) runs
// its tests there, and ccache shares the test objects between clones.
#pragma once

#include <filesystem>
#include <string>

namespace quarry::testing {

/// The build folder: $QUARRY_TEST_BINARY_DIR (ctest sets it), else two levels above this
/// test executable (<build>/bin/quarry_tests).
const std::filesystem::path& binary_dir();
/// The source tree: $QUARRY_TEST_SOURCE_DIR (ctest sets it), else the build's CMakeCache.txt
/// CMAKE_HOME_DIRECTORY when that folder exists, else the build folder's parent.
const std::filesystem::path& source_dir();
/// <build>/plugins: the in-tree plugins.
std::filesystem::path plugin_dir();
/// <build>/tests/test_plugins: the deliberately broken plugins.
std::filesystem::path test_plugin_dir();
/// <build>/bin/quarry.
std::string quarry_binary();

}  // namespace quarry::testing
