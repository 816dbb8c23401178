// The command-line front end: each `quarry <command>` is one function here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quarry {

struct GlobalOptions {
  std::vector<std::string> plugin_paths;  ///< --plugin-path
};

class PluginHost;
/// Load the plugins every command sees: --plugin-path, then the pipeline file's
/// [run].plugin_paths (when `pipeline_file` is given), then the default search path.
void discover_plugins(PluginHost& host, const GlobalOptions& g, const std::string& pipeline_file = "");

struct RunRequest {
  std::string pipeline;                 ///< pipeline file (empty with resume)
  std::vector<std::string> sets;        ///< --set overrides
  std::string resume;                   ///< run id to continue
  std::string results = "runs";         ///< results folder (with resume)
  std::vector<std::string> strategies;  ///< only these strategies
  std::vector<std::int64_t> seeds;      ///< only these seeds
  std::string run_id;                   ///< fixed id for a single (strategy, seed): skip if finished, resume if not
};
int cmd_run(const RunRequest& r, const GlobalOptions& g);
int cmd_validate(const std::string& pipeline, const std::vector<std::string>& sets, const GlobalOptions& g);
int cmd_plugins(const GlobalOptions& g);
int cmd_runs(const std::string& results);
int cmd_show(const std::string& results, const std::string& run);
int cmd_pool_export(const std::string& results, const std::string& run, std::int64_t size, const std::string& out);
int cmd_export(const std::string& results, const std::string& out);

/// Learning curves of several runs side by side (mean over seeds per strategy).
std::string learning_curve_table(const std::string& results, const std::vector<std::string>& run_ids);

}  // namespace quarry
