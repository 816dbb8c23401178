// Pipelines: TOML files validated against a schema.
//
// Every error names file:line:column and the key path. The schema of each
// section is a list of quarry::ParamSpec, the same type plugins use for their
// parameters, so core sections and component tables are checked by one piece
// of code (read_table).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/host/component_catalog.hpp"
#include "core/pipeline/settings.hpp"
#include "core/pipeline/tables.hpp"
#include "core/pipeline/toml.hpp"
#include "quarry/params.hpp"

namespace quarry {

struct Pipeline {
  std::string file;  ///< where it was read from
  std::string name;
  std::vector<std::int64_t> seeds{1};
  std::string device = "auto";
  std::int64_t threads = 0;
  std::string results = "runs";
  std::vector<std::string> plugin_paths;
  std::int64_t memory_budget_mb = 1024;

  ComponentConfig dataset;
  double validation_fraction = 0.1;
  std::int64_t pool_subset = 0;  ///< > 0: use a seeded random subset of the pool (quick runs)
  std::int64_t test_subset = 0;  ///< > 0: evaluate on the first N test images (quick runs)
  ComponentConfig model;
  TrainConfig train;
  LoopConfig al;
  std::vector<ComponentConfig> strategies;
  HpoConfig hpo;
  BackboneConfig backbone;

  /// The fully resolved pipeline (defaults filled in), as TOML, stored with each run.
  std::string resolved_toml;

  /// Where each key was written (key path such as "al.budget" -> "file:line:column",
  /// or "--set ..." for an override), for problems found only once data is loaded.
  std::map<std::string, std::string> positions;
  /// positions[key], or the pipeline file when the key was left at its default.
  std::string where(const std::string& key) const;
};

/// Parse `text` (named `file` in messages), apply `--set` overrides ("key.path=value"),
/// and validate it, including component tables against the components `host` knows
/// (a PluginHost in the program). `host` may be null: component tables are then only
/// checked for a name. Every problem is a quarry::Error; nothing else is thrown.
Pipeline parse_pipeline(const std::string& text, const std::string& file, const std::vector<std::string>& overrides,
                        const ComponentCatalog* host);
/// Read and parse a pipeline file.
Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                       const ComponentCatalog* host);

/// Just [run].plugin_paths (so plugins can be discovered before full validation): of the
/// pipeline file `path`, or of pipeline text (a run's stored pipeline). Empty when unreadable.
std::vector<std::string> peek_plugin_paths(const std::string& path);
std::vector<std::string> peek_plugin_paths(const std::string& text, const std::string& file);

}  // namespace quarry
