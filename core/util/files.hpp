// Reading the text files a user names (pipelines, sweeps, pool files), with errors that
// say what is wrong with the path.
#pragma once

#include <string>

namespace quarry {

/// The whole content of `path`; an Error "PATH: cannot open the WHAT (why)" when it does not
/// exist, is a directory, or cannot be read.
std::string read_text_file(const std::string& path, const std::string& what);

}  // namespace quarry
