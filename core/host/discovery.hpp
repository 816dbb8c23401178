// Which plugins a command sees: the --plugin-path folders, then the pipeline file's
// [run].plugin_paths, then the default search path (PluginHost::search_path).
#pragma once

#include <string>
#include <vector>

#include "core/pipeline/pipeline.hpp"

namespace quarry {

class PluginHost;

/// Load those plugins into `host`; `pipeline_file` may be empty.
void discover_plugins(PluginHost& host, const std::vector<std::string>& plugin_paths,
                      const std::string& pipeline_file = "");

/// A run's stored pipeline (`text`, named `file` in messages), validated after its own
/// [run].plugin_paths are loaded into `host` (its components may come from them).
Pipeline parse_stored_pipeline(const std::string& text, const std::string& file, PluginHost& host);

}  // namespace quarry
