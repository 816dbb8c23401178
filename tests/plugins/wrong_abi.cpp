// A plugin from a future SDK: its ABI version is not the host's.
#include <quarry/quarry.hpp>

namespace {
void register_nothing(quarry::Registrar&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const quarry::PluginEntry* quarry_plugin_entry() {
  static const quarry::PluginEntry entry{QUARRY_ABI_VERSION + 100, sizeof(quarry::PluginEntry), QUARRY_BUILD_FINGERPRINT,
                                         "wrong-abi", "9.9.9", &register_nothing};
  return &entry;
}
