// The schema of each core section of a pipeline, as quarry::ParamSpec lists: what
// read_table checks a section against, and what `quarry run --help` prints.
#pragma once

#include <vector>

#include "quarry/params.hpp"

namespace quarry {

const std::vector<ParamSpec>& run_schema();
const std::vector<ParamSpec>& train_schema();
const std::vector<ParamSpec>& al_schema();
const std::vector<ParamSpec>& dataset_core_schema();  ///< Quarry's keys in the [dataset] table
const std::vector<ParamSpec>& hpo_schema();
const std::vector<ParamSpec>& backbone_schema();

}  // namespace quarry
