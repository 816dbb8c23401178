// quarry: the command-line entry point. Commands register themselves (cli.hpp).
#include <algorithm>
#include <iostream>

#include "core/cli/cli.hpp"
#include "core/util/allocator.hpp"
#include "quarry/error.hpp"
#include "quarry/version.hpp"

int main(int argc, char** argv) {
  quarry::keep_freed_memory();
  CLI::App app{
      "Quarry: pool-based deep active learning with plugins.\n"
      "A pipeline (TOML) names a dataset, a model, a training protocol, the loop's sizes and the strategies to\n"
      "compare; `quarry run` trains, evaluates and queries cycle by cycle and records every cycle in\n"
      "<results>/quarry.db (SQLite) with CSV next to it. `quarry COMMAND --help` explains each command."};
  app.set_version_flag("--version", std::string("quarry ") + QUARRY_VERSION + " (SDK " + quarry::kSdkVersion + ", " +
                                        quarry::kBuildFingerprint + ")");
  app.require_subcommand(1);
  quarry::cli::GlobalOptions g;
  app.add_option("--plugin-path", g.plugin_paths, "extra folder to load plugins from (repeatable)");
  auto commands = quarry::cli::CommandRegistry::all();
  std::stable_sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& [order, setup] : commands) {
    const auto before = app.get_subcommands({}).size();
    auto fn = setup(app, g);
    const auto subs = app.get_subcommands({});
    if (subs.size() > before) runners.emplace_back(subs.back(), std::move(fn));
  }
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, fn] : runners)
      if (sub->parsed()) return fn();
  } catch (const quarry::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
