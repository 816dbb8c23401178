// The one exception type Quarry throws for user-facing problems: bad config,
// bad data, a misbehaving plugin. The message carries the context (file, key,
// what was expected, what was found).
#pragma once

#include <stdexcept>
#include <string>

namespace quarry {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace quarry
