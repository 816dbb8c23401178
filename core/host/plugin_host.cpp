#include "core/host/plugin_host.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <unistd.h>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>

#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

// Library handles for the life of the process: deliberately never destroyed,
// so no component can outlive the code it came from, even during static destruction.
std::vector<boost::dll::shared_library>& library_handles() {
  static auto* handles = new std::vector<boost::dll::shared_library>();
  return *handles;
}

class CollectingRegistrar : public Registrar {
 public:
  void add(ComponentInfo info) override { added.push_back(std::move(info)); }
  std::vector<ComponentInfo> added;
};

fs::path executable_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p.parent_path();
}

template <typename F>
auto guarded(const RegisteredComponent& c, const char* what, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string(to_string(c.info.kind)) + " '" + c.info.name + "' (" + c.file + ") threw while " + what +
                ": " + e.what());
  } catch (...) {
    throw Error(std::string(to_string(c.info.kind)) + " '" + c.info.name + "' (" + c.file +
                ") threw a non-standard exception while " + what);
  }
}

}  // namespace

std::vector<fs::path> PluginHost::search_path(const std::vector<std::string>& extra) {
  std::vector<fs::path> out;
  for (const auto& e : extra) out.emplace_back(e);
  if (const char* env = std::getenv("QUARRY_PLUGIN_PATH")) {
    std::string s(env);
    std::size_t start = 0;
    while (start <= s.size()) {
      auto end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) out.emplace_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  const auto exe = executable_dir();
  // The build tree's plugins, for binaries running from a build tree (<build>/bin, with
  // <build>/CMakeCache.txt): found from the executable's location, so a build folder copied
  // elsewhere (to a GPU machine, say) still finds its plugins. An installed quarry uses its
  // own lib/quarry/plugins.
  std::error_code ec;
  if (!exe.empty() && fs::is_regular_file(exe.parent_path() / "CMakeCache.txt", ec))
    out.push_back(exe.parent_path() / "plugins");
  if (!exe.empty()) out.push_back(exe.parent_path() / "lib" / "quarry" / "plugins");
  return out;
}

void PluginHost::discover(const std::vector<std::string>& extra) {
  for (const auto& dir : search_path(extra)) load_directory(dir);
}

void PluginHost::load_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".so") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load_file(f);
}

bool PluginHost::load_file(const fs::path& file_in) {
  std::error_code ec;
  const fs::path file = fs::weakly_canonical(file_in, ec);
  const std::string name = file.string();
  if (std::find(loaded_files_.begin(), loaded_files_.end(), name) != loaded_files_.end()) return true;
  auto refuse = [&](const std::string& reason) {
    log_.warn("refused plugin " + name + ": " + reason);
    refused_.push_back({name, reason});
    return false;
  };
  boost::dll::shared_library lib;
  try {
    lib.load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return refuse(std::string("cannot load library: ") + e.what());
  }
  if (!lib.has(QUARRY_PLUGIN_ENTRY_SYMBOL))
    return refuse("no entry point '" QUARRY_PLUGIN_ENTRY_SYMBOL "' (not a Quarry plugin, or built without QUARRY_PLUGIN)");
  const PluginEntry* entry = nullptr;
  try {
    entry = lib.get<const PluginEntry*()>(QUARRY_PLUGIN_ENTRY_SYMBOL)();
  } catch (const std::exception& e) {
    return refuse(std::string("entry point failed: ") + e.what());
  }
  if (!entry) return refuse("entry point returned null");
  // Only the first field is read before the ABI version is known to match.
  if (entry->abi_version != kAbiVersion)
    return refuse("ABI version mismatch: plugin has " + std::to_string(entry->abi_version) + ", host has " +
                  std::to_string(kAbiVersion) + "; rebuild the plugin against this SDK");
  if (entry->struct_size < sizeof(PluginEntry))
    return refuse("entry struct too small (" + std::to_string(entry->struct_size) + " bytes)");
  const std::string fp = entry->build_fingerprint ? entry->build_fingerprint : "";
  if (fp != kBuildFingerprint)
    return refuse("build fingerprint mismatch: plugin '" + fp + "', host '" + kBuildFingerprint +
                  "'; rebuild the plugin with the host's compiler and LibTorch");
  const std::string plugin_name = entry->name ? entry->name : "";
  const std::string plugin_version = entry->version ? entry->version : "";
  if (plugin_name.empty() || !entry->register_components) return refuse("entry has no name or no register function");

  CollectingRegistrar reg;
  try {
    entry->register_components(reg);
  } catch (const std::exception& e) {
    return refuse(std::string("registration threw: ") + e.what());
  } catch (...) {
    return refuse("registration threw a non-standard exception");
  }
  for (const auto& c : reg.added) {
    const bool has_factory = (c.kind == ComponentKind::Dataset && c.make_dataset) ||
                             (c.kind == ComponentKind::Model && c.make_model) ||
                             (c.kind == ComponentKind::Strategy && c.make_strategy);
    if (c.name.empty() || !has_factory) return refuse("component '" + c.name + "' has no name or no factory");
    if (const auto* dup = find(c.kind, c.name))
      return refuse(std::string(to_string(c.kind)) + " '" + c.name + "' is already provided by " + dup->file);
  }
  library_handles().push_back(std::move(lib));
  loaded_files_.push_back(name);
  for (auto& c : reg.added) components_.push_back({std::move(c), plugin_name, plugin_version, name});
  log_.debug("loaded plugin " + plugin_name + " " + plugin_version + " from " + name);
  return true;
}

const RegisteredComponent* PluginHost::find(ComponentKind kind, const std::string& name) const {
  for (const auto& c : components_)
    if (c.info.kind == kind && c.info.name == name) return &c;
  return nullptr;
}

const std::vector<ParamSpec>* PluginHost::find_params(ComponentKind kind, const std::string& name) const {
  const auto* c = find(kind, name);
  return c ? &c->info.params : nullptr;
}

std::vector<std::string> PluginHost::names(ComponentKind kind) const {
  std::vector<std::string> out;
  for (const auto& c : components_)
    if (c.info.kind == kind) out.push_back(c.info.name);
  std::sort(out.begin(), out.end());
  return out;
}

const RegisteredComponent& PluginHost::get(ComponentKind kind, const std::string& name) const {
  if (const auto* c = find(kind, name)) return *c;
  std::string known;
  for (const auto& n : names(kind)) known += (known.empty() ? "" : ", ") + n;
  throw Error(std::string("unknown ") + to_string(kind) + " '" + name + "' (available: " +
              (known.empty() ? "none; is QUARRY_PLUGIN_PATH set?" : known) + "; see `quarry plugins`)");
}

std::shared_ptr<Dataset> PluginHost::make_dataset(const std::string& name, Params params) const {
  const auto& c = get(ComponentKind::Dataset, name);
  params.apply_specs(c.info.params);
  auto d = guarded(c, "being created", [&] { return c.info.make_dataset(params); });
  if (!d) throw Error("dataset '" + name + "' (" + c.file + ") returned no object");
  return d;
}

std::shared_ptr<Model> PluginHost::make_model(const std::string& name, Params params, const ModelSpec& spec) const {
  const auto& c = get(ComponentKind::Model, name);
  params.apply_specs(c.info.params);
  auto m = guarded(c, "being created", [&] { return c.info.make_model(params, spec); });
  if (!m) throw Error("model '" + name + "' (" + c.file + ") returned no object");
  return m;
}

std::shared_ptr<Strategy> PluginHost::make_strategy(const std::string& name, Params params) const {
  const auto& c = get(ComponentKind::Strategy, name);
  params.apply_specs(c.info.params);
  auto s = guarded(c, "being created", [&] { return c.info.make_strategy(params); });
  if (!s) throw Error("strategy '" + name + "' (" + c.file + ") returned no object");
  return s;
}

}  // namespace quarry
