// Logging: spdlog behind quarry::Logger, console plus an optional file per run.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "quarry/logger.hpp"

namespace spdlog {
class logger;
}

namespace quarry {

/// The process-wide console logger (created on first use). Level from QUARRY_LOG_LEVEL.
std::shared_ptr<spdlog::logger> console_logger();

/// A quarry::Logger forwarding to an spdlog logger.
class SpdLogger : public Logger {
 public:
  explicit SpdLogger(std::shared_ptr<spdlog::logger> logger);
  void debug(const std::string& message) override;
  void info(const std::string& message) override;
  void warn(const std::string& message) override;
  spdlog::logger& spd() { return *logger_; }

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

/// A logger writing to the console and to `file` (appending, for resumed runs).
std::shared_ptr<SpdLogger> make_run_logger(const std::string& name, const std::filesystem::path& file);

/// Progress with ETA for long work: "<what> 37/200 (18%) 12.3s elapsed, ETA 52.1s".
class Progress {
 public:
  Progress(Logger& log, std::string what, std::int64_t total, double min_interval_s = 5.0);
  void step(std::int64_t done, const std::string& extra = "");

 private:
  Logger& log_;
  std::string what_;
  std::int64_t total_;
  double min_interval_s_;
  double start_;
  double last_ = -1e9;
};

double now_seconds();

}  // namespace quarry
