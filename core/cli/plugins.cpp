// quarry plugins: every component the host found, with its parameters, and every refused library.
#include <iostream>

#include <fmt/format.h>

#include "core/cli/cli.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"

namespace quarry::cli {

namespace {

int plugins_command(const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g.plugin_paths);
  std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", "KIND", "NAME", "VERSION", "FILE");
  for (auto kind : {ComponentKind::Dataset, ComponentKind::Model, ComponentKind::Strategy})
    for (const auto& name : host.names(kind)) {
      const auto* c = host.find(kind, name);
      std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", to_string(kind), name, c->version, c->file);
      std::cout << fmt::format("{:<9} {:<22} {:<10} {}\n", "", "", "", c->info.description);
      for (const auto& s : c->info.params)
        std::cout << fmt::format("{:<9} {:<22} {:<10}   {} ({}{}) {}\n", "", "", "", s.name, to_string(s.type),
                                 s.default_value ? ", default " + to_string(*s.default_value) : ", required", s.help);
    }
  if (!host.refused().empty()) {
    std::cout << "\nRefused libraries:\n";
    for (const auto& r : host.refused()) std::cout << "  " << r.file << ": " << r.reason << "\n";
  }
  std::cout << "\nSearch path:";
  for (const auto& d : PluginHost::search_path(g.plugin_paths)) std::cout << " " << d.string();
  std::cout << "\n";
  return 0;
}

QUARRY_COMMAND(30) {
  app.add_subcommand("plugins", "List every plugin component (kind, name, version, file, parameters) and every refused library");
  return [&g] { return plugins_command(g); };
}

}  // namespace

}  // namespace quarry::cli
