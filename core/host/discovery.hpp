// Which plugins a command sees: the --plugin-path folders, then the pipeline file's
// [run].plugin_paths, then the default search path (PluginHost::search_path).
#pragma once

#include <string>
#include <vector>

namespace quarry {

class PluginHost;

/// Load those plugins into `host`; `pipeline_file` may be empty.
void discover_plugins(PluginHost& host, const std::vector<std::string>& plugin_paths,
                      const std::string& pipeline_file = "");

}  // namespace quarry
