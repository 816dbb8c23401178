#include "core/pipeline/overrides.hpp"

#include <sstream>
#include <vector>

#include <toml++/toml.h>

#include "core/pipeline/toml.hpp"
#include "quarry/error.hpp"

namespace quarry {

void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--set '" + assignment + "': expected key.path=value (e.g. --set train.lr=0.05)");
  const std::string path = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const std::string source = kOverridePrefix + assignment;
  check_characters(text, source);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + text, source);
  } catch (const toml::parse_error&) {
    parsed = toml::parse("v = \"\"", source);
    parsed.insert_or_assign("v", text);  // a bare word is a string: --set model.name=resnet18
  }
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string k; std::getline(ss, k, '.');) {
    if (k.empty()) throw Error("--set '" + assignment + "': empty key in '" + path + "'");
    keys.push_back(k);
  }
  toml::node* cur = &root;
  for (std::size_t i = 0; i + 1 <= keys.size(); ++i) {
    const std::string& k = keys[i];
    const bool last = i + 1 == keys.size();
    if (auto* t = cur->as_table()) {
      if (last) {
        parsed.get("v")->visit([&](auto&& x) { t->insert_or_assign(k, x); });
        return;
      }
      if (!t->get(k)) t->insert_or_assign(k, toml::table{});
      cur = t->get(k);
    } else if (auto* a = cur->as_array()) {
      std::size_t idx = 0;
      try {
        idx = std::stoul(k);
      } catch (...) {
        throw Error("--set '" + assignment + "': '" + k + "' indexes an array; use a number");
      }
      if (idx >= a->size()) throw Error("--set '" + assignment + "': index " + k + " is past the array's end");
      if (last) {
        parsed.get("v")->visit([&](auto&& x) { a->replace(a->begin() + static_cast<std::ptrdiff_t>(idx), x); });
        return;
      }
      cur = a->get(idx);
    } else {
      throw Error("--set '" + assignment + "': '" + keys[i - 1] + "' is not a table");
    }
  }
}

}  // namespace quarry
