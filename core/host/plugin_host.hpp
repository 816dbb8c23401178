// Finding, checking and loading plugins; the registry of their components.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/host/component_catalog.hpp"
#include "quarry/plugin.hpp"

namespace quarry {

/// A component as the host knows it: what the plugin registered, plus where it came from.
struct RegisteredComponent {
  ComponentInfo info;
  std::string plugin;   ///< plugin name
  std::string version;  ///< plugin version
  std::string file;     ///< library path
};

struct RefusedLibrary {
  std::string file;
  std::string reason;
};

/// Loads plugin libraries and keeps their components. Libraries are never
/// unloaded (their handles live until the process ends), so nothing a plugin
/// created can outlive its code.
class PluginHost : public ComponentCatalog {
 public:
  explicit PluginHost(Logger& log) : log_(log) {}

  /// Where plugins are looked for, in order: `extra` (config's plugin_paths),
  /// QUARRY_PLUGIN_PATH (colon-separated), the build's plugin folder, and the
  /// install's lib/quarry/plugins next to the executable.
  static std::vector<std::filesystem::path> search_path(const std::vector<std::string>& extra = {});

  /// Load every *.so in `dir` (non-recursive, sorted by name). Missing dirs are skipped.
  void load_directory(const std::filesystem::path& dir);
  /// Load one library. A refused library is logged with its reason and remembered; never throws.
  bool load_file(const std::filesystem::path& file);
  /// load_directory over search_path(extra).
  void discover(const std::vector<std::string>& extra = {});

  const std::vector<RegisteredComponent>& components() const { return components_; }
  const std::vector<RefusedLibrary>& refused() const { return refused_; }

  /// The component, or nullptr.
  const RegisteredComponent* find(ComponentKind kind, const std::string& name) const;
  /// The component, or an Error listing the known names of that kind.
  const RegisteredComponent& get(ComponentKind kind, const std::string& name) const;
  std::vector<std::string> names(ComponentKind kind) const override;
  /// ComponentCatalog: the registered component's parameter specs, or nullptr.
  const std::vector<ParamSpec>* find_params(ComponentKind kind, const std::string& name) const override;

  // Create a component from already-validated params (Params::apply_specs is run
  // again here, so programmatic callers get the same checks). Exceptions from the
  // plugin are rethrown as Error naming the component and its library.
  std::shared_ptr<Dataset> make_dataset(const std::string& name, Params params) const;
  std::shared_ptr<Model> make_model(const std::string& name, Params params, const ModelSpec& spec) const;
  std::shared_ptr<Strategy> make_strategy(const std::string& name, Params params) const;

 private:
  Logger& log_;
  std::vector<RegisteredComponent> components_;
  std::vector<RefusedLibrary> refused_;
  std::vector<std::string> loaded_files_;
};

}  // namespace quarry
