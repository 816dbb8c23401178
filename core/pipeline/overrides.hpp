// `--set key.path=value`: one override applied to a parsed TOML document.
#pragma once

#include <string>

#include "core/pipeline/toml_fwd.hpp"

namespace quarry {

/// Apply one "key.path=value" override to a TOML table (value parsed as TOML, else as a
/// string; "strategies.1.name" indexes arrays). Its values carry "--set key.path=value"
/// as their source, so errors on them name the override.
void apply_override(toml::table& root, const std::string& assignment);

}  // namespace quarry
