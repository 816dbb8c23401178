#include "core/host/discovery.hpp"

#include "core/host/plugin_host.hpp"
#include "core/pipeline/pipeline.hpp"

namespace quarry {

void discover_plugins(PluginHost& host, const std::vector<std::string>& plugin_paths, const std::string& pipeline_file) {
  auto paths = plugin_paths;
  if (!pipeline_file.empty())
    for (const auto& p : peek_plugin_paths(pipeline_file)) paths.push_back(p);
  host.discover(paths);
}

Pipeline parse_stored_pipeline(const std::string& text, const std::string& file, PluginHost& host) {
  for (const auto& pp : peek_plugin_paths(text, file)) host.load_directory(pp);
  return parse_pipeline(text, file, {}, &host);
}

}  // namespace quarry
