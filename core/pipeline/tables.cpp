#include "core/pipeline/tables.hpp"

#include <toml++/toml.h>

#include "core/pipeline/toml.hpp"
#include "quarry/error.hpp"
#include "quarry/param_check.hpp"

namespace quarry {

std::string join_key(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}


std::optional<ParamValue> to_param(const toml::node& n) {
  if (auto v = n.as_boolean()) return ParamValue{v->get()};
  if (auto v = n.as_integer()) return ParamValue{static_cast<std::int64_t>(v->get())};
  if (auto v = n.as_floating_point()) return ParamValue{v->get()};
  if (auto v = n.as_string()) return ParamValue{v->get()};
  if (auto a = n.as_array()) {
    if (a->empty()) return ParamValue{std::vector<std::int64_t>{}};
    if (a->is_homogeneous(toml::node_type::integer)) {
      std::vector<std::int64_t> out;
      for (auto& e : *a) out.push_back(e.as_integer()->get());
      return ParamValue{out};
    }
    bool numeric = true;
    for (auto& e : *a) numeric = numeric && (e.is_integer() || e.is_floating_point());
    if (numeric) {
      std::vector<double> out;
      for (auto& e : *a) out.push_back(e.is_integer() ? static_cast<double>(e.as_integer()->get()) : e.as_floating_point()->get());
      return ParamValue{out};
    }
    if (a->is_homogeneous(toml::node_type::string)) {
      std::vector<std::string> out;
      for (auto& e : *a) out.push_back(e.as_string()->get());
      return ParamValue{out};
    }
  }
  return std::nullopt;
}

/// Validate table `t` (at key path `prefix`) against `specs`; keys in `skip` are left to the caller.
Params read_table(const toml::table& t, const std::vector<ParamSpec>& specs, const std::string& prefix,
                  const std::string& file, const std::set<std::string>& skip) {
  Params params(prefix);
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (skip.count(key)) continue;
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == key) spec = &s;
    if (!spec) {
      std::string hint = known_keys_hint(specs);
      if (!skip.empty()) {  // the caller's own keys (e.g. name) are known too
        hint = " (known:";
        for (const auto& sp : specs) hint += " " + sp.name;
        for (const auto& sk : skip) hint += " " + sk;
        hint += ")";
      }
      // At the key itself, not its value: the key is what is wrong.
      const auto& src = k.source();
      const std::string at = src.begin ? (src.path ? *src.path : file) + ":" + std::to_string(src.begin.line) + ":" +
                                             std::to_string(src.begin.column)
                                       : where(v, file);
      throw Error(at + ": key '" + join_key(prefix, key) + "': unknown key" + hint);
    }
    auto value = to_param(v);
    if (!value) fail_at(v, file, join_key(prefix, key), std::string("expected ") + to_string(spec->type) + ", got " + toml_type_name(v));
    auto coerced = coerce(*spec, *value);
    if (!coerced)
      fail_at(v, file, join_key(prefix, key),
              std::string("expected ") + to_string(spec->type) + ", got " + to_string(type_of(*value)));
    if (auto problem = check_value(*spec, *coerced)) fail_at(v, file, join_key(prefix, key), *problem);
    params.set(key, std::move(*coerced));
  }
  for (const auto& s : specs) {
    if (params.has(s.name)) continue;
    if (!s.default_value)
      throw Error(where(t, file) + ": key '" + join_key(prefix, s.name) + "': missing required key (" + s.help + ")");
    params.set(s.name, *s.default_value);
  }
  return params;
}

/// Record where every key under `node` (at key path `prefix`) was written.
void record_positions(const toml::node& node, const std::string& prefix, const std::string& file,
                      std::map<std::string, std::string>& out) {
  if (!prefix.empty()) out[prefix] = where(node, file);
  if (const auto* t = node.as_table()) {
    for (auto&& [k, v] : *t) record_positions(v, join_key(prefix, std::string(k.str())), file, out);
  } else if (const auto* a = node.as_array()) {
    for (std::size_t i = 0; i < a->size(); ++i)
      if (a->get(i)->is_table()) record_positions(*a->get(i), prefix + "[" + std::to_string(i) + "]", file, out);
  }
}

void put(toml::table& t, const std::string& key, const ParamValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, std::int64_t> || std::is_same_v<T, double> ||
                      std::is_same_v<T, std::string>) {
          t.insert_or_assign(key, x);
        } else {
          toml::array a;
          for (const auto& e : x) a.push_back(e);
          t.insert_or_assign(key, std::move(a));
        }
      },
      v);
}

toml::table to_toml(const Params& p, const std::string& name) {
  toml::table t;
  if (!name.empty()) t.insert_or_assign("name", name);
  for (const auto& [k, v] : p.values()) put(t, k, v);
  return t;
}

ComponentConfig read_component(const toml::table& t, const std::string& prefix, const std::string& file,
                               ComponentKind kind, const ComponentCatalog* host, const std::set<std::string>& core_keys,
                               const std::vector<ParamSpec>& core_specs, Params* core_out) {
  const toml::node* name_node = t.get("name");
  if (!name_node) throw Error(where(t, file) + ": key '" + join_key(prefix, "name") + "': missing required key (the " +
                              to_string(kind) + " to use; see `quarry plugins`)");
  if (!name_node->is_string()) fail_at(*name_node, file, join_key(prefix, "name"), std::string("expected string, got ") + toml_type_name(*name_node));
  ComponentConfig c;
  c.name = name_node->as_string()->get();
  std::set<std::string> skip = core_keys;
  skip.insert("name");
  if (core_out) {
    // Core keys living in the component's table (e.g. dataset.validation_fraction),
    // read in place so their positions survive.
    std::set<std::string> not_core;
    for (auto&& [k, v] : t)
      if (!core_keys.count(std::string(k.str()))) not_core.insert(std::string(k.str()));
    *core_out = read_table(t, core_specs, prefix, file, not_core);
  }
  if (host) {
    const std::vector<ParamSpec>* specs = host->find_params(kind, c.name);
    if (!specs) {
      std::string known;
      for (const auto& n : host->names(kind)) known += (known.empty() ? "" : ", ") + n;
      fail_at(*name_node, file, join_key(prefix, "name"),
              std::string("unknown ") + to_string(kind) + " '" + c.name + "' (available: " +
                  (known.empty() ? "none" : known) + "; see `quarry plugins`)");
    }
    c.params = read_table(t, *specs, prefix, file, skip);
  } else {
    c.params = Params(prefix);
    for (auto&& [k, v] : t)
      if (!skip.count(std::string(k.str())))
        if (auto pv = to_param(v)) c.params.set(std::string(k.str()), *pv);
  }
  return c;
}

}  // namespace quarry
