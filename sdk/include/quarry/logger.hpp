// The logger a component gets from the host. The host forwards to its own
// sinks (console and the run's log file), so plugins need no logging library.
#pragma once

#include <string>

namespace quarry {

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void debug(const std::string& message) = 0;
  virtual void info(const std::string& message) = 0;
  virtual void warn(const std::string& message) = 0;
};

}  // namespace quarry
