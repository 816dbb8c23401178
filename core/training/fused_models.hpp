// The fused architectures behind make_fused_net (core/training/fused_net.hpp): one class per
// in-tree model plugin, built from the members' parameters by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/training/fused_net.hpp"

namespace quarry {

/// The names of the model plugins that have a fused equivalent, for messages.
const char* fused_model_names();

/// The fused `name` of `models` on `streams` streams, nullptr when `name` has none; throws
/// quarry::Error when a member lacks a parameter the architecture needs.
std::unique_ptr<FusedNet> make_fused_architecture(const std::string& name, const Params& params,
                                                  const std::vector<Model*>& models, std::int64_t streams);

}  // namespace quarry
