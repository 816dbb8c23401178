// What the pipeline parser needs to know about plugins: which components exist
// and the parameters each takes. Torch-free on purpose, so core/config.cpp (and
// the pipeline fuzzer, tests/fuzz/fuzz_pipeline.cpp) build without LibTorch.
// PluginHost is the implementation the program uses.
#pragma once

#include <string>
#include <vector>

#include "quarry/component_kind.hpp"
#include "quarry/params.hpp"

namespace quarry {

class ComponentCatalog {
 public:
  virtual ~ComponentCatalog() = default;
  /// The parameter specs of component `name` of `kind`, or nullptr when there is none.
  virtual const std::vector<ParamSpec>* find_params(ComponentKind kind, const std::string& name) const = 0;
  /// The names of every component of `kind`, sorted.
  virtual std::vector<std::string> names(ComponentKind kind) const = 0;
};

}  // namespace quarry
