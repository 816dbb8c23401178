// Loads an image folder through the image_folder plugin, as a pipeline does, and prints one
// JSON line per load: the first (decoding, with an empty cache folder) and the second (cached).
//   bench_image_folder DATA_DIR CACHE_DIR IMAGE_SIZE THREADS
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "core/host/plugin_host.hpp"
#include "quarry/dataset.hpp"

namespace {
struct QuietLogger : quarry::Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: bench_image_folder DATA_DIR CACHE_DIR IMAGE_SIZE THREADS\n";
    return 2;
  }
  QuietLogger log;
  quarry::PluginHost host(log);
  // The build's plugins sit next to bin/ in <build>/plugins.
  host.load_directory(std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "plugins");
  std::filesystem::remove_all(argv[2]);
  for (const char* load : {"first", "cached"}) {
    quarry::Params p("dataset 'image_folder'");
    p.set("path", std::string(argv[1]));
    p.set("cache_dir", std::string(argv[2]));
    p.set("image_size", std::int64_t(std::stoll(argv[3])));
    p.set("threads", std::int64_t(std::stoll(argv[4])));
    const auto start = std::chrono::steady_clock::now();
    const auto d = host.make_dataset("image_folder", p)->load(log);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto n = d.train.size() + d.test.size();
    std::printf("{\"side\": \"quarry (%s load)\", \"images\": %lld, \"seconds\": %.4f}\n", load,
                static_cast<long long>(n), s);
  }
  return 0;
}
