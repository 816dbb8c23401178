// Checking one parameter value against its spec. Shared by Params::apply_specs
// and the host's TOML validation, which adds file:line:column to the message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "quarry/params.hpp"

namespace quarry {

/// The value converted to the spec's type (int -> float, int list -> float list), or nullopt.
std::optional<ParamValue> coerce(const ParamSpec& spec, const ParamValue& value);
/// What is wrong with an already-coerced value (range, choices), or nullopt when it is fine.
std::optional<std::string> check_value(const ParamSpec& spec, const ParamValue& value);
/// " (known: a b c)" for unknown-key messages.
std::string known_keys_hint(const std::vector<ParamSpec>& specs);

}  // namespace quarry
