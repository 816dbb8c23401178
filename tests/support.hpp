// Shared helpers for tests: a logger that captures, a temporary folder, and a
// plugin host with the in-tree plugins and the test plugins loaded.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/host/plugin_host.hpp"
#include "paths.hpp"
#include "quarry/logger.hpp"

namespace quarry::testing {

struct CaptureLogger : Logger {
  std::vector<std::string> lines;
  void debug(const std::string& m) override { lines.push_back("debug: " + m); }
  void info(const std::string& m) override { lines.push_back("info: " + m); }
  void warn(const std::string& m) override { lines.push_back("warn: " + m); }
};

/// A fresh empty folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

/// The host with build/plugins and the test plugins loaded (shared by all tests).
const PluginHost& host();

/// A strategy from host(), with these parameters (checked against the plugin's specs).
std::shared_ptr<Strategy> make_strategy(const std::string& name, const std::map<std::string, ParamValue>& values = {});

/// A model from host() for feature vectors of `d` values and `k` classes (a head: linear, mlp),
/// with these parameters; its weights are drawn after torch::manual_seed(3).
std::shared_ptr<Model> make_head(const std::string& name, std::int64_t d, std::int64_t k,
                                 const std::vector<std::pair<std::string, ParamValue>>& values = {});

/// A small pipeline on the synthetic dataset (fast on CPU); extra TOML is appended.
std::string synthetic_pipeline(const std::string& results, const std::string& extra_strategies = "",
                               std::int64_t budget = 40, std::int64_t epochs = 3);

}  // namespace quarry::testing
