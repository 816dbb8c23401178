// Declaring a plugin: one macro, one registration function.
//
//   QUARRY_PLUGIN("my-strategies", "1.0.0") {
//     registrar.strategy<MyStrategy>("mine", "What it does", {quarry::param_int("k", 5, "...")});
//   }
//
// The macro exports `quarry_plugin_entry`, a plain struct whose first field is
// the SDK ABI version, followed by the build fingerprint (version.hpp). The host
// reads those two before it touches anything else and refuses the library on a
// mismatch. Registration is an explicit call from the host, never a static
// initialiser. Libraries stay loaded for the life of the process, so nothing a
// plugin creates outlives its code.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "quarry/component_kind.hpp"
#include "quarry/dataset.hpp"
#include "quarry/model.hpp"
#include "quarry/params.hpp"
#include "quarry/strategy.hpp"
#include "quarry/version.hpp"

namespace quarry {

using DatasetFactory = std::function<std::shared_ptr<Dataset>(const Params&)>;
using ModelFactory = std::function<std::shared_ptr<Model>(const Params&, const ModelSpec&)>;
using StrategyFactory = std::function<std::shared_ptr<Strategy>(const Params&)>;

/// One registered component. Exactly one factory is set, matching `kind`.
struct ComponentInfo {
  ComponentKind kind = ComponentKind::Strategy;
  std::string name;
  std::string description;
  std::vector<ParamSpec> params;
  DatasetFactory make_dataset;
  ModelFactory make_model;
  StrategyFactory make_strategy;
};

/// What a plugin's registration function is handed.
class Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add(ComponentInfo info) = 0;

  /// T(const Params&) : Dataset
  template <typename T>
  void dataset(std::string name, std::string description, std::vector<ParamSpec> params) {
    ComponentInfo c{ComponentKind::Dataset, std::move(name), std::move(description), std::move(params), {}, {}, {}};
    c.make_dataset = [](const Params& p) -> std::shared_ptr<Dataset> { return std::make_shared<T>(p); };
    add(std::move(c));
  }
  /// T(const Params&, const ModelSpec&) : Model
  template <typename T>
  void model(std::string name, std::string description, std::vector<ParamSpec> params) {
    ComponentInfo c{ComponentKind::Model, std::move(name), std::move(description), std::move(params), {}, {}, {}};
    c.make_model = [](const Params& p, const ModelSpec& s) -> std::shared_ptr<Model> {
      return std::make_shared<T>(p, s);
    };
    add(std::move(c));
  }
  /// T(const Params&) : Strategy
  template <typename T>
  void strategy(std::string name, std::string description, std::vector<ParamSpec> params) {
    ComponentInfo c{ComponentKind::Strategy, std::move(name), std::move(description), std::move(params), {}, {}, {}};
    c.make_strategy = [](const Params& p) -> std::shared_ptr<Strategy> { return std::make_shared<T>(p); };
    add(std::move(c));
  }
};

/// The plain struct every plugin exports. Fields are only ever appended;
/// `struct_size` tells the host how many a plugin has.
struct PluginEntry {
  std::uint32_t abi_version;      ///< must be first: QUARRY_ABI_VERSION
  std::uint32_t struct_size;      ///< sizeof(PluginEntry) as the plugin saw it
  const char* build_fingerprint;  ///< QUARRY_BUILD_FINGERPRINT
  const char* name;
  const char* version;
  void (*register_components)(Registrar& registrar);
};

}  // namespace quarry

#define QUARRY_PLUGIN_ENTRY_SYMBOL "quarry_plugin_entry"

/// Declares the plugin; the braces that follow are its registration function,
/// with `registrar` in scope.
#define QUARRY_PLUGIN(NAME, VERSION)                                                           \
  static void quarry_plugin_register_(::quarry::Registrar& registrar);                         \
  extern "C" __attribute__((visibility("default"))) const ::quarry::PluginEntry*               \
  quarry_plugin_entry() {                                                                      \
    static const ::quarry::PluginEntry entry{QUARRY_ABI_VERSION, sizeof(::quarry::PluginEntry), \
                                             QUARRY_BUILD_FINGERPRINT, NAME, VERSION,          \
                                             &quarry_plugin_register_};                        \
    return &entry;                                                                             \
  }                                                                                            \
  static void quarry_plugin_register_(::quarry::Registrar& registrar)
