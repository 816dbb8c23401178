// Setting labels from the keys that vary between the stored pipelines of compared runs.
#include "core/report/setting.hpp"

#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/pipeline/toml.hpp"
#include "quarry/error.hpp"

namespace quarry::report {

namespace {

bool identity_key(const std::string& key) {
  static const std::set<std::string> keys = {"run.name",     "run.seeds",    "run.results", "run.threads",
                                             "run.plugin_paths", "dataset.name", "model.name"};
  return keys.count(key) > 0 || key == "strategies" || key.rfind("strategies.", 0) == 0;
}

std::string value_text(const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) return fmt::format("{:g}", f->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = n.as_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < a->size(); ++i) s += (i ? "," : "") + value_text(*a->get(i));
    return s + "]";
  }
  if (const auto* t = n.as_table()) {
    std::string s = "{";
    bool first = true;
    for (auto&& [k, v] : *t) {
      s += (first ? "" : ",") + std::string(k.str()) + "=" + value_text(v);
      first = false;
    }
    return s + "}";
  }
  std::ostringstream os;
  n.visit([&](auto&& x) { os << x; });
  return os.str();
}

void flatten(const toml::table& t, const std::string& prefix, std::map<std::string, std::string>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (identity_key(key)) continue;
    if (const auto* sub = v.as_table()) flatten(*sub, key, out);
    else out[key] = value_text(v);
  }
}

}  // namespace

std::string seed_free(const std::string& value, std::int64_t seed) {
  const std::string mark = "-s" + std::to_string(seed);
  const auto at = value.find('@');
  const std::string run = value.substr(0, at);
  if (run.size() < mark.size() || run.compare(run.size() - mark.size(), mark.size(), mark) != 0) return value;
  return run.substr(0, run.size() - mark.size()) + "-s{seed}" + (at == std::string::npos ? "" : value.substr(at));
}

std::map<std::string, std::string> setting_values(const std::string& pipeline_toml) {
  std::map<std::string, std::string> out;
  flatten(parse_toml(pipeline_toml, "stored pipeline"), "", out);
  return out;
}

std::vector<std::string> label_settings(std::vector<RunData>& runs, std::vector<std::string>& warnings) {
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<RunData*, std::map<std::string, std::string>>>>
      combos;
  for (auto& r : runs) {
    if (r.run.kind != "al" || r.run.pipeline.empty()) continue;
    try {
      auto values = setting_values(r.run.pipeline);
      if (auto it = values.find("hpo.from_run"); it != values.end()) it->second = seed_free(it->second, r.run.seed);
      combos[{r.run.dataset, r.run.model}].emplace_back(&r, std::move(values));
    } catch (const Error& e) {
      warnings.push_back("run " + r.run.id + ": its stored pipeline cannot be read (" + e.what() +
                         "); its setting is labelled by learning rate and weight decay only");
    }
  }
  std::set<std::string> all_varying;
  for (auto& [combo, members] : combos) {
    std::set<std::string> keys;
    for (const auto& [r, values] : members)
      for (const auto& [k, v] : values) keys.insert(k);
    std::vector<std::string> varying;
    for (const auto& k : keys) {
      std::set<std::string> seen;
      for (const auto& [r, values] : members) {
        const auto it = values.find(k);
        seen.insert(it == values.end() ? std::string("\x01") : it->second);  // absent differs from any value
      }
      if (seen.size() > 1) varying.push_back(k);
    }
    if (varying.empty()) continue;
    bool lr_wd = false;
    for (const auto& k : varying) lr_wd = lr_wd || k == "train.lr" || k == "train.weight_decay";
    for (auto& [r, values] : members) {
      // The learning rate and weight decay as hp_label writes them, read from the pipeline itself.
      auto value = [&](const char* k) {
        const auto it = values.find(k);
        return it == values.end() ? std::string("-") : it->second;
      };
      std::string label = lr_wd ? "lr=" + value("train.lr") + " wd=" + value("train.weight_decay") : "";
      for (const auto& k : varying) {
        if (k == "train.lr" || k == "train.weight_decay") continue;
        const auto it = values.find(k);
        label += (label.empty() ? "" : " ") + k + "=" + (it == values.end() ? std::string("-") : it->second);
      }
      r->hp = label;
    }
    all_varying.insert(varying.begin(), varying.end());
  }
  return {all_varying.begin(), all_varying.end()};
}

}  // namespace quarry::report
