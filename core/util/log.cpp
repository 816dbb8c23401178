#include "core/util/log.hpp"

#include <algorithm>

#include <chrono>
#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace quarry {

namespace {
std::shared_ptr<spdlog::sinks::sink> console_sink() {
  static auto sink = [] {
    auto s = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    s->set_pattern("%^[%H:%M:%S %l]%$ %v");
    return s;
  }();
  return sink;
}
spdlog::level::level_enum env_level() {
  const char* v = std::getenv("QUARRY_LOG_LEVEL");
  return v ? spdlog::level::from_str(v) : spdlog::level::info;
}
}  // namespace

std::shared_ptr<spdlog::logger> console_logger() {
  static auto logger = [] {
    auto l = std::make_shared<spdlog::logger>("quarry", console_sink());
    l->set_level(env_level());
    return l;
  }();
  return logger;
}

SpdLogger::SpdLogger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
void SpdLogger::debug(const std::string& m) { logger_->debug(m); }
void SpdLogger::info(const std::string& m) { logger_->info(m); }
void SpdLogger::warn(const std::string& m) { logger_->warn(m); }

std::shared_ptr<SpdLogger> make_run_logger(const std::string& name, const std::filesystem::path& file) {
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false);
  file_sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e %l] %v");
  auto l = std::make_shared<spdlog::logger>(name, spdlog::sinks_init_list{console_sink(), file_sink});
  l->set_level(env_level());
  l->flush_on(spdlog::level::info);
  return std::make_shared<SpdLogger>(l);
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(Logger& log, std::string what, std::int64_t total, double min_interval_s)
    : log_(log), what_(std::move(what)), total_(total), min_interval_s_(min_interval_s), start_(now_seconds()) {}

void Progress::step(std::int64_t done, const std::string& extra) {
  const double t = now_seconds();
  if (done < total_ && t - last_ < min_interval_s_) return;
  last_ = t;
  const double elapsed = t - start_;
  // A total that was too small never shows more than 100% or a negative ETA.
  done = std::max<std::int64_t>(done, 0);
  const auto total = std::max(total_, done);
  const double eta = done > 0 ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0.0;
  log_.info(fmt::format("{} {}/{} ({:.0f}%) {:.1f}s elapsed, ETA {:.1f}s{}{}", what_, done, total,
                        total > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0, elapsed,
                        eta, extra.empty() ? "" : " ", extra));
}

}  // namespace quarry
