// libFuzzer entry point for the pipeline parser (TOML syntax, the schema of every
// core section, [hpo].space, the resolved-pipeline writer). Build and run:
// scripts/fuzz.sh pipeline SECONDS. No plugins are loaded (host = nullptr), so
// component tables only need a name. Only quarry::Error may escape; anything else
// (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/pipeline/pipeline.hpp"
#include "quarry/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto p = quarry::parse_pipeline(text, "fuzz.toml", {}, nullptr);
    // What was accepted must parse back to itself: the resolved pipeline is stored with each run.
    const auto again = quarry::parse_pipeline(p.resolved_toml, "resolved.toml", {}, nullptr);
    if (again.resolved_toml != p.resolved_toml) __builtin_trap();
  } catch (const quarry::Error&) {
  }
  return 0;
}
