// TOML as Quarry reads it: the one entry point every TOML file goes through (pipelines,
// sweeps), positions as "file:line:column", and errors that name the key.
#pragma once

#include <string>
#include <vector>

#include "core/pipeline/toml_fwd.hpp"

namespace quarry {

/// The source name of a `--set` assignment's value: "--set key=value".
inline constexpr const char* kOverridePrefix = "--set ";

/// Parse TOML text read from `file`: characters toml++ cannot take safely are rejected first
/// (check_characters), and a syntax error is an Error "file:line:column: TOML syntax error: ...".
/// Every TOML file Quarry reads (pipelines, sweeps) goes through here.
toml::table parse_toml(const std::string& text, const std::string& file);

/// Reject what toml++ should not see: control characters, and non-ASCII characters outside
/// strings and comments (toml++ 3.3 reaches undefined behaviour on some). Error names file:line:column.
void check_characters(const std::string& text, const std::string& file);

/// A TOML node's type as messages name it: table, array, string, integer, float, boolean, date/time.
const char* toml_type_name(const toml::node& node);

/// The table `name` of `root`, or nullptr when absent and not required. A missing
/// required section or a non-table value is an Error naming the file (and position).
const toml::table* toml_section(const toml::table& root, const std::string& name, const std::string& file,
                                bool required);

/// "file:line:column" of a node.
std::string where(const toml::node& node, const std::string& fallback_file);

/// Throw an Error "file:line:column: key 'k': what" at `node`; a value that came from a
/// --set override (it has no position) names that override instead.
[[noreturn]] void fail_at(const toml::node& node, const std::string& file, const std::string& key,
                          const std::string& what);

/// While alive, fail_at attributes position-less values to these --set assignments.
class OverrideScope {
 public:
  explicit OverrideScope(const std::vector<std::string>* overrides);
  ~OverrideScope();
  OverrideScope(const OverrideScope&) = delete;
  OverrideScope& operator=(const OverrideScope&) = delete;
};

}  // namespace quarry
