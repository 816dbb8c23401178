// Tables of a pipeline read against a schema: a core section or a component's table
// checked with the same quarry::ParamSpec lists plugins declare, and written back out
// (defaults filled in) for the resolved pipeline stored with each run.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/host/component_catalog.hpp"
#include "core/pipeline/toml_fwd.hpp"
#include "quarry/params.hpp"

namespace quarry {

/// A component chosen in a pipeline: its name and its validated parameters.
struct ComponentConfig {
  std::string name;
  Params params;
};

/// "prefix.key", or "key" without a prefix.
std::string join_key(const std::string& prefix, const std::string& key);

/// A TOML value as a ParamValue, or nullopt for tables, mixed arrays, dates.
std::optional<ParamValue> to_param(const toml::node& n);

/// Validate table `t` (at key path `prefix`) against `specs`; keys in `skip` are left to the caller.
Params read_table(const toml::table& t, const std::vector<ParamSpec>& specs, const std::string& prefix,
                  const std::string& file, const std::set<std::string>& skip = {});

/// Record where every key under `node` (at key path `prefix`) was written.
void record_positions(const toml::node& node, const std::string& prefix, const std::string& file,
                      std::map<std::string, std::string>& out);

/// Set `key` of `t` to `v`.
void put(toml::table& t, const std::string& key, const ParamValue& v);
/// Params as a TOML table (with `name` first when given).
toml::table to_toml(const Params& p, const std::string& name = "");

/// A component table: its `name` must be a component of `kind` that `host` knows (any name
/// when host is null), the rest its parameters. `core_keys` are Quarry's own keys living in the
/// table (dataset.validation_fraction); with `core_out` they are read there against `core_specs`.
ComponentConfig read_component(const toml::table& t, const std::string& prefix, const std::string& file,
                               ComponentKind kind, const ComponentCatalog* host, const std::set<std::string>& core_keys,
                               const std::vector<ParamSpec>& core_specs, Params* core_out);

}  // namespace quarry
