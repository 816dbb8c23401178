// Typed component parameters.
//
// Every component (dataset, model, strategy) declares the parameters it reads
// from its TOML table as a list of ParamSpec. The host validates the table
// against that list before the component is created: an unknown key, a value
// of the wrong type or out of range is an error naming file:line:column and the
// key. The component then reads the validated values through Params.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "quarry/error.hpp"

namespace quarry {

enum class ParamType { Bool, Int, Float, String, IntList, FloatList, StringList };

const char* to_string(ParamType type);

using ParamValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                std::vector<double>, std::vector<std::string>>;

/// One parameter a component accepts.
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Float;
  std::optional<ParamValue> default_value;  ///< nullopt: the key is required
  std::string help;
  std::optional<double> min;                 ///< inclusive, for Int/Float (and their lists)
  std::optional<double> max;                 ///< inclusive
  std::vector<std::string> choices;          ///< allowed values for String, empty = any
};

// Builders, so a component's parameter list reads like a table.
ParamSpec param_bool(std::string name, bool def, std::string help);
ParamSpec param_int(std::string name, std::int64_t def, std::string help,
                    std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
ParamSpec param_float(std::string name, double def, std::string help,
                      std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
ParamSpec param_string(std::string name, std::string def, std::string help,
                       std::vector<std::string> choices = {});
/// A required parameter (no default) of any type.
ParamSpec param_required(std::string name, ParamType type, std::string help);

/// Validated parameter values handed to a component factory.
class Params {
 public:
  Params() = default;
  explicit Params(std::string owner) : owner_(std::move(owner)) {}

  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, ParamValue>& values() const { return values_; }
  const std::string& owner() const { return owner_; }

  bool get_bool(const std::string& name) const { return get<bool>(name); }
  std::int64_t get_int(const std::string& name) const { return get<std::int64_t>(name); }
  double get_float(const std::string& name) const;  ///< accepts an Int value too
  const std::string& get_string(const std::string& name) const { return get<std::string>(name); }
  const std::vector<std::int64_t>& get_int_list(const std::string& name) const {
    return get<std::vector<std::int64_t>>(name);
  }
  const std::vector<double>& get_float_list(const std::string& name) const {
    return get<std::vector<double>>(name);
  }
  const std::vector<std::string>& get_string_list(const std::string& name) const {
    return get<std::vector<std::string>>(name);
  }

  /// Fill the defaults of specs not set, and check every value against its spec.
  /// Throws Error naming the key on an unknown key, a wrong type or a value out of range.
  void apply_specs(const std::vector<ParamSpec>& specs);

 private:
  template <typename T>
  const T& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw Error(owner_ + ": parameter '" + name + "' was not declared or not set");
    if (auto* v = std::get_if<T>(&it->second)) return *v;
    throw Error(owner_ + ": parameter '" + name + "' read with the wrong type");
  }

  std::string owner_;
  std::map<std::string, ParamValue> values_;
};

/// Human-readable rendering ("0.01", "[1, 2]", "\"cpu\"").
std::string to_string(const ParamValue& value);
/// Type of a value, for messages.
ParamType type_of(const ParamValue& value);

}  // namespace quarry
