// What every command shares: the registry, the console, opening a results store.
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "core/cli/cli.hpp"
#include "quarry/error.hpp"

namespace quarry::cli {

namespace fs = std::filesystem;

std::vector<std::pair<int, CommandSetup>>& CommandRegistry::all() {
  static std::vector<std::pair<int, CommandSetup>> commands;
  return commands;
}

SpdLogger& console() {
  static SpdLogger l(console_logger());
  return l;
}

std::unique_ptr<Store> open_existing_store(const std::string& results) {
  const auto db = fs::path(results) / "quarry.db";
  if (!fs::exists(db))
    throw Error("no results store at " + db.string() +
                " (run a pipeline first, or pass --results DIR where one was written)");
  return std::make_unique<Store>(db);
}

std::string fmt_metric(double v, bool percent) {
  if (v < 0 || std::isnan(v)) return "-";
  return percent ? fmt::format("{:.2f}", 100.0 * v) : fmt::format("{:.4f}", v);
}

}  // namespace quarry::cli
