// A plugin that claims to be built against another LibTorch: the host must refuse it
// with one log line naming both fingerprints, and go on loading the others.
#include <quarry/quarry.hpp>

namespace {
void register_nothing(quarry::Registrar&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const quarry::PluginEntry* quarry_plugin_entry() {
  static const quarry::PluginEntry entry{QUARRY_ABI_VERSION, sizeof(quarry::PluginEntry),
                                         "compiler=gcc;cxx11abi=0;torch=0.4;sdk=0.3", "mismatched-torch", "1.0.0",
                                         &register_nothing};
  return &entry;
}
