// The search space over [train] keys: from hpo.space to a SearchSpace, and between its
// points and TrainConfig / stored JSON. Torch-free.
#pragma once

#include <optional>
#include <string>

#include "core/hpo/search_space.hpp"
#include "core/pipeline/settings.hpp"

namespace quarry {

/// The search space of hpo.space (the protocol's lr/weight_decay space when empty).
hpo::SearchSpace search_space_of(const HpoConfig& hpo);
/// `base` with the keys of `a` set. nesterov/augment are categorical "true"/"false".
TrainConfig apply_assignment(const hpo::SearchSpace& space, const hpo::Assignment& a, TrainConfig base);
/// The point of `space` that `cfg` is (clamped into the bounds); nullopt when a
/// categorical value of `cfg` is not among the choices.
std::optional<hpo::Assignment> assignment_of(const hpo::SearchSpace& space, const TrainConfig& cfg);
/// {"lr": 0.01, "weight_decay": 0.0005, "nesterov": "true"}: numbers as numbers, choices as text.
std::string params_json(const hpo::SearchSpace& space, const hpo::Assignment& a);
/// `base` with every key of a stored params_json set, whatever space wrote it (a setting
/// transferred from another run); throws quarry::Error naming a key that is not a tunable one.
TrainConfig apply_params_json(const std::string& json, TrainConfig base);
/// Reads params_json's output back; throws quarry::Error when a dimension is missing or out of range.
hpo::Assignment assignment_from_json(const hpo::SearchSpace& space, const std::string& json);

}  // namespace quarry
