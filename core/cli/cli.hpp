// The command-line front end. Each command lives in its own file under core/cli/
// and registers itself with QUARRY_COMMAND; main.cpp only builds the app.
// These files are compiled into the `quarry` executable (not quarry_core), so
// static registration is safe here. They hold front ends only: options, --help, printing;
// the work is done by quarry_core.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/store/store.hpp"
#include "core/util/log.hpp"


namespace quarry::cli {

/// Options every command sees.
struct GlobalOptions {
  std::vector<std::string> plugin_paths;  ///< --plugin-path
};

/// A command adds its subcommand to `app` and returns the function that runs it.
using CommandSetup = std::function<std::function<int()>(CLI::App& app, const GlobalOptions& g)>;

struct CommandRegistry {
  /// (order, setup): commands are listed in `--help` by order.
  static std::vector<std::pair<int, CommandSetup>>& all();
};

struct RegisterCommand {
  RegisterCommand(int order, CommandSetup setup) { CommandRegistry::all().emplace_back(order, std::move(setup)); }
};

/// The console logger commands log to.
SpdLogger& console();

/// The results store of an earlier run in `results`; an Error with the way out when there is none.
std::unique_ptr<Store> open_existing_store(const std::string& results);

/// A value as a table cell: percent with two decimals (or four decimals when !percent), "-" when unset.
std::string fmt_metric(double v, bool percent = true);

}  // namespace quarry::cli

#define QUARRY_CLI_CAT2_(a, b) a##b
#define QUARRY_CLI_CAT_(a, b) QUARRY_CLI_CAT2_(a, b)
/// QUARRY_COMMAND(order) { ... return [=]{ return 0; }; }  with `app` and `g` in scope.
#define QUARRY_COMMAND(ORDER)                                                                          \
  static std::function<int()> QUARRY_CLI_CAT_(quarry_command_setup_, __LINE__)(                       \
      CLI::App & app, const ::quarry::cli::GlobalOptions& g);                                          \
  static ::quarry::cli::RegisterCommand QUARRY_CLI_CAT_(quarry_command_reg_, __LINE__)(                \
      ORDER, &QUARRY_CLI_CAT_(quarry_command_setup_, __LINE__));                                       \
  static std::function<int()> QUARRY_CLI_CAT_(quarry_command_setup_, __LINE__)(                       \
      CLI::App & app, [[maybe_unused]] const ::quarry::cli::GlobalOptions& g)
