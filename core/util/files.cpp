#include "core/util/files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw Error(path + ": cannot open the " + what + " (no such file)");
  if (fs::is_directory(status))
    throw Error(path + ": cannot open the " + what + " (it is a directory; give the " + what + " inside it)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the " + what + " (" + std::strerror(errno) + ")");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the " + what);
  return buf.str();
}

}  // namespace quarry
