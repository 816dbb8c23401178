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
#include "quarry/params.hpp"

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace quarry {

/// A component chosen in a pipeline: its name and its validated parameters.
struct ComponentConfig {
  std::string name;
  Params params;
};

struct TrainConfig {
  std::int64_t epochs = 200;
  std::int64_t batch_size = 32;
  double lr = 0.01;
  double weight_decay = 5e-4;
  double momentum = 0.9;
  bool nesterov = false;
  std::int64_t warmup_epochs = 10;
  std::string epoch_mode = "sampled";  ///< "sampled": floor(n/batch)+1 random batches; "shuffled": one pass
  bool augment = true;
  std::int64_t crop_padding = 4;
  bool flip = true;
  std::int64_t predict_batch_size = 128;
  std::string init = "same";  ///< "same": every cycle from the seed's initial weights; "continue"
  bool mixed_precision = false;
};

struct LoopConfig {
  std::int64_t initial = 100;
  std::string initial_pool;  ///< a pool JSON file (quarry pool export); empty = random initial labels
  bool class_balanced = false;
  std::int64_t query_size = 100;
  std::int64_t budget = 4000;
  std::int64_t candidate_subset = 10000;  ///< 0 = score the whole unlabeled pool
};

struct SearchDimension {
  std::string name;  ///< train key it sets: lr, weight_decay, momentum, epochs, batch_size, ...
  std::string type;  ///< log_uniform | uniform | int | categorical
  double low = 0, high = 0;
  bool log = false;
  std::vector<std::string> choices;
};

struct HpoConfig {
  bool enabled = false;
  std::vector<std::int64_t> sizes;  ///< pool sizes after which to tune (e.g. 2000, 4000)
  std::int64_t every = 0;           ///< re-tune every N cycles during DAL and keep querying with the result
  std::int64_t trials = 50;
  std::string sampler = "tpe";  ///< tpe | random
  std::int64_t startup_trials = 10;
  std::int64_t splits = 3;           ///< random validation splits
  double split_fraction = 0.1;       ///< of the pool, per split
  std::int64_t folds = 0;            ///< > 0: K-fold instead of random splits
  std::int64_t parallel = 1;
  bool enqueue_current = true;       ///< first trial = the pipeline's own setting
  std::vector<SearchDimension> space;
};

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

/// Just [run].plugin_paths (so plugins can be discovered before full validation).
std::vector<std::string> peek_plugin_paths(const std::string& path);

/// The schema of each core section, for `quarry run --help` and docs.
const std::vector<ParamSpec>& run_schema();
const std::vector<ParamSpec>& train_schema();
const std::vector<ParamSpec>& al_schema();
const std::vector<ParamSpec>& dataset_core_schema();
const std::vector<ParamSpec>& hpo_schema();

/// Apply one "key.path=value" override to a TOML table (value parsed as TOML, else as a string).
void apply_override(toml::table& root, const std::string& assignment);

/// Parse TOML text read from `file`: characters toml++ cannot take safely are rejected first
/// (check_characters), and a syntax error is an Error "file:line:column: TOML syntax error: ...".
/// Every TOML file Quarry reads (pipelines, sweeps) goes through here.
toml::table parse_toml(const std::string& text, const std::string& file);

/// A TOML node's type as messages name it: table, array, string, integer, float, boolean, date/time.
const char* toml_type_name(const toml::node& node);

/// The table `name` of `root`, or nullptr when absent and not required. A missing
/// required section or a non-table value is an Error naming the file (and position).
const toml::table* toml_section(const toml::table& root, const std::string& name, const std::string& file,
                                bool required);

/// "file:line:column" of a node.
std::string where(const toml::node& node, const std::string& fallback_file);

}  // namespace quarry
