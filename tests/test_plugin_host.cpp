#include "testing.hpp"

#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "quarry/error.hpp"
#include "paths.hpp"

namespace test_plugin_host {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::test_plugin_dir;

namespace {
struct CaptureLogger : Logger {
  std::vector<std::string> lines;
  void debug(const std::string& m) override { lines.push_back("debug: " + m); }
  void info(const std::string& m) override { lines.push_back("info: " + m); }
  void warn(const std::string& m) override { lines.push_back("warn: " + m); }
};
}  // namespace

TEST_CASE("mismatched plugins are refused with a reason and the others still load") {
  CaptureLogger log;
  PluginHost host(log);
  host.load_directory(test_plugin_dir());
  auto refused_for = [&](const std::string& stem) -> std::string {
    for (const auto& r : host.refused())
      if (r.file.find(stem) != std::string::npos) return r.reason;
    return "";
  };
  const auto torch_reason = refused_for("mismatched_torch");
  CHECK(torch_reason.find("fingerprint mismatch") != std::string::npos);
  CHECK(torch_reason.find("torch=0.4") != std::string::npos);
  CHECK(torch_reason.find(kBuildFingerprint) != std::string::npos);
  CHECK(refused_for("wrong_abi").find("ABI version mismatch") != std::string::npos);
  CHECK(refused_for("no_entry_point").find("no entry point") != std::string::npos);
  // One warning line per refused library, naming both sides.
  int warn_lines = 0;
  for (const auto& l : log.lines)
    if (l.rfind("warn: refused plugin", 0) == 0) ++warn_lines;
  CHECK(warn_lines == 3);
  // The well-formed test plugin loaded despite its neighbours.
  REQUIRE(host.find(ComponentKind::Strategy, "misbehaving") != nullptr);
  CHECK(host.find(ComponentKind::Strategy, "misbehaving")->plugin == "misbehaving");
}

TEST_CASE("unknown component names list what is available") {
  CaptureLogger log;
  PluginHost host(log);
  host.load_directory(test_plugin_dir());
  try {
    host.get(ComponentKind::Strategy, "nope");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("unknown strategy 'nope'") != std::string::npos);
    CHECK(std::string(e.what()).find("misbehaving") != std::string::npos);
  }
}

TEST_CASE("a plugin that throws while constructed is reported, not a crash") {
  CaptureLogger log;
  PluginHost host(log);
  host.load_directory(test_plugin_dir());
  Params p("strategy");
  CHECK_THROWS_WITH_AS(host.make_strategy("throws_on_construction", p),
                       doctest::Contains("deliberate failure in constructor"), Error);
}

TEST_CASE("component parameters: unknown, mistyped, out of range") {
  CaptureLogger log;
  PluginHost host(log);
  host.load_directory(test_plugin_dir());
  Params unknown("strategy 'misbehaving'");
  unknown.set("colour", std::string("red"));
  CHECK_THROWS_WITH_AS(host.make_strategy("misbehaving", unknown), doctest::Contains("unknown parameter 'colour'"), Error);
  Params mistyped("strategy 'misbehaving'");
  mistyped.set("mode", std::int64_t{3});
  CHECK_THROWS_WITH_AS(host.make_strategy("misbehaving", mistyped),
                       doctest::Contains("parameter 'mode': expected string, got integer"), Error);
  Params bad_choice("strategy 'misbehaving'");
  bad_choice.set("mode", std::string("sideways"));
  CHECK_THROWS_WITH_AS(host.make_strategy("misbehaving", bad_choice), doctest::Contains("expected one of"), Error);
}

}  // namespace test_plugin_host
