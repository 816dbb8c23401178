// The sweep file: parsing, expanding the grid into cells and validating each cell's
// pipeline; and the `quarry run` arguments of a cell.
#include "core/util/files.hpp"
#include "core/sweep/spec.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/pipeline/pipeline.hpp"
#include "core/pipeline/toml.hpp"
#include "core/sweep/transfer.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

namespace {

void check_keys(const toml::table& t, const std::string& prefix, const std::string& file,
                const std::vector<std::string>& known) {
  for (auto&& [k, v] : t) {
    const std::string key(k.str());
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const auto& n : known) list += (list.empty() ? "" : " ") + n;
    fail_at(v, file, prefix.empty() ? key : prefix + "." + key, "unknown key (known: " + list + ")");
  }
}

std::string get_string(const toml::table& t, const std::string& key, const std::string& prefix,
                       const std::string& file, const std::string& fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_string()) fail_at(*n, file, prefix + "." + key, std::string("expected string, got ") + toml_type_name(*n));
  const std::string v = n->as_string()->get();
  if (v.empty()) fail_at(*n, file, prefix + "." + key, "must not be empty");
  return v;
}

std::int64_t get_int(const toml::table& t, const std::string& key, const std::string& prefix, const std::string& file,
                     std::int64_t fallback, std::int64_t min) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  if (!n->is_integer()) fail_at(*n, file, prefix + "." + key, std::string("expected integer, got ") + toml_type_name(*n));
  const std::int64_t v = n->as_integer()->get();
  if (v < min) fail_at(*n, file, prefix + "." + key, "must be >= " + std::to_string(min));
  return v;
}

const toml::array* get_array(const toml::table& t, const std::string& key, const std::string& prefix,
                             const std::string& file, toml::node_type element, const char* element_name) {
  const toml::node* n = t.get(key);
  if (!n) return nullptr;
  const toml::array* a = n->as_array();
  if (!a) fail_at(*n, file, prefix + "." + key, std::string("expected an array of ") + element_name + ", got " + toml_type_name(*n));
  if (a->empty()) fail_at(*n, file, prefix + "." + key, "needs at least one value");
  for (const auto& e : *a)
    if (e.type() != element)
      fail_at(e, file, prefix + "." + key, std::string("expected ") + element_name + ", got " + toml_type_name(e));
  return a;
}

/// A TOML value as the text after "key = " (what apply_override parses back). Floats in
/// their shortest round-trip form (0.1, not 0.10000000000000001): they appear in run ids.
std::string toml_text(const toml::node& n) {
  if (const auto* f = n.as_floating_point()) {
    std::string s = fmt::format("{}", f->get());
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // stays a float (not inf/nan)
    return s;
  }
  if (const auto* a = n.as_array()) {
    std::string s = "[";
    for (std::size_t i = 0; i < a->size(); ++i) s += (i ? ", " : "") + toml_text(*a->get(i));
    return s + "]";
  }
  if (const auto* tb = n.as_table()) {
    std::string s = "{";
    bool first = true;
    for (auto&& [k, v] : *tb) {
      s += std::string(first ? " " : ", ") + "\"" + std::string(k.str()) + "\" = " + toml_text(v);
      first = false;
    }
    return s + " }";
  }
  toml::table t;
  n.visit([&](auto&& x) { t.insert_or_assign("v", x); });
  std::ostringstream os;
  os << toml::toml_formatter(t);
  std::string s = os.str();
  const auto eq = s.find('=');
  s = s.substr(eq + 1);
  while (!s.empty() && (s.front() == ' ')) s.erase(s.begin());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string toml_string(const std::string& s) { return toml_text(toml::value<std::string>(s)); }

/// The part of a run id a value contributes: letters, digits and ._+- kept, the rest '_'.
std::string id_part(const std::string& s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '+' || c == '-') ? c : '_';
  return out.empty() ? "_" : out;
}

/// One --set override and where in the sweep file it came from (for error messages).
struct Override {
  std::string assignment;  ///< key.path=value
  std::string origin;      ///< "file:line:column: key 'grid.hp[0].train.lr'"
};

/// Flatten a table of overrides ("train.lr" = 0.1, or train = { lr = 0.1 }) into assignments.
void flatten(const toml::table& t, const std::string& key_prefix,
             std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [k, v] : t) {
    const std::string key = key_prefix.empty() ? std::string(k.str()) : key_prefix + "." + std::string(k.str());
    if (const auto* sub = v.as_table())
      flatten(*sub, key, out);
    else
      out.emplace_back(key, &v);
  }
}

void check_override_key(const std::string& key, const toml::node& n, const std::string& file, const std::string& path) {
  if (key == "run.results") fail_at(n, file, path, "a sweep's cells share one store; set [sweep] results instead");
  if (key == "run.seeds") fail_at(n, file, path, "seeds are an axis of the grid; set [grid] seeds instead");
  if (key == "strategies" || key.rfind("strategies.", 0) == 0)
    fail_at(n, file, path, "strategies are an axis of the grid; set [grid] strategies instead");
}

/// An axis of the grid: named values, each a list of overrides.
struct AxisValue {
  std::string label;  ///< its part of the run id ("" = contributes nothing)
  std::vector<Override> overrides;
};

}  // namespace

Sweep load_sweep(const std::string& path, const ComponentCatalog* host) {
  return parse_sweep(read_text_file(path, "sweep file"), path, host);
}

Sweep parse_sweep(const std::string& text, const std::string& file, const ComponentCatalog* host) {
  const toml::table root = parse_toml(text, file);
  check_keys(root, "", file, {"sweep", "grid", "slurm"});
  auto section = [&](const std::string& name, bool required) { return toml_section(root, name, file, required); };
  static const toml::table empty;

  Sweep sw;
  const fs::path dir = fs::absolute(fs::path(file)).parent_path();
  sw.file = fs::absolute(fs::path(file)).lexically_normal().string();

  // [sweep]
  const toml::table& s = *section("sweep", true);
  check_keys(s, "sweep", file, {"name", "base", "results"});
  {
    const std::string stem = fs::path(file).stem().string();
    sw.name = get_string(s, "name", "sweep", file, stem);
    if (id_part(sw.name) != sw.name)
      fail_at(*s.get("name"), file, "sweep.name", "use letters, digits and . _ + - only (it starts every run id)");
  }
  const toml::node* base_node = s.get("base");
  if (!base_node)
    throw Error(where(s, file) + ": key 'sweep.base': missing required key (the base pipeline, relative to the sweep file)");
  const std::string base_rel = get_string(s, "base", "sweep", file, "");
  sw.base = (dir / base_rel).lexically_normal().string();
  if (!fs::exists(sw.base))
    fail_at(*base_node, file, "sweep.base", "no pipeline file " + sw.base + " (paths are relative to the sweep file)");
  const std::string base_text = read_text_file(sw.base, "pipeline file");
  Pipeline base;
  try {
    base = parse_pipeline(base_text, sw.base, {}, host);
  } catch (const Error& e) {
    throw Error(where(*base_node, file) + ": key 'sweep.base': the base pipeline is invalid: " + e.what());
  }
  if (s.get("results"))
    sw.results = (dir / get_string(s, "results", "sweep", file, "")).lexically_normal().string();
  else
    sw.results = fs::absolute(base.results).lexically_normal().string();  // like `quarry run`: from the cwd

  // [slurm]
  if (const toml::table* sl = section("slurm", false)) {
    check_keys(*sl, "slurm", file, {"partition", "time", "gpus", "cpus_per_task", "extra"});
    sw.slurm.partition = get_string(*sl, "partition", "slurm", file, "");
    sw.slurm.time = get_string(*sl, "time", "slurm", file, "");
    sw.slurm.gpus = get_int(*sl, "gpus", "slurm", file, 0, 0);
    sw.slurm.cpus_per_task = get_int(*sl, "cpus_per_task", "slurm", file, 0, 0);
    if (auto* a = get_array(*sl, "extra", "slurm", file, toml::node_type::string, "strings"))
      for (const auto& e : *a) sw.slurm.extra.push_back(e.as_string()->get());
  }

  // [grid]
  const toml::table* g = section("grid", false);
  const toml::table& grid = g ? *g : empty;
  check_keys(grid, "grid", file, {"strategies", "seeds", "hp", "set"});

  std::vector<std::string> strategies;
  std::map<std::string, const toml::node*> strategy_nodes;
  if (auto* a = get_array(grid, "strategies", "grid", file, toml::node_type::string, "strings")) {
    for (const auto& e : *a) {
      const std::string n = e.as_string()->get();
      if (strategy_nodes.count(n)) fail_at(e, file, "grid.strategies", "strategy '" + n + "' is listed twice");
      strategies.push_back(n);
      strategy_nodes[n] = &e;
    }
  } else {
    for (const auto& st : base.strategies)
      if (std::find(strategies.begin(), strategies.end(), st.name) == strategies.end()) strategies.push_back(st.name);
  }

  std::vector<std::int64_t> seeds;
  if (auto* a = get_array(grid, "seeds", "grid", file, toml::node_type::integer, "integers")) {
    for (const auto& e : *a) {
      const std::int64_t v = e.as_integer()->get();
      if (v < 0) fail_at(e, file, "grid.seeds", "seeds are >= 0");
      if (std::find(seeds.begin(), seeds.end(), v) != seeds.end())
        fail_at(e, file, "grid.seeds", "seed " + std::to_string(v) + " is listed twice");
      seeds.push_back(v);
    }
  } else {
    seeds = base.seeds;
  }

  // Axes other than strategy and seed: [[grid.hp]] first, then [grid.set] keys in file order.
  std::vector<std::vector<AxisValue>> axes;
  if (const toml::node* hp = grid.get("hp")) {
    const toml::array* a = hp->as_array();
    if (!a || a->empty() || !a->is_homogeneous(toml::node_type::table))
      fail_at(*hp, file, "grid.hp", "expected one or more [[grid.hp]] tables (name = \"HP1\" and --set keys)");
    std::vector<AxisValue> axis;
    std::set<std::string> names;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table& t = *a->get(i)->as_table();
      const std::string path = "grid.hp[" + std::to_string(i) + "]";
      const toml::node* nn = t.get("name");
      if (!nn) throw Error(where(t, file) + ": key '" + path + ".name': missing required key (e.g. name = \"HP1\")");
      const std::string name = get_string(t, "name", path, file, "");
      if (id_part(name) != name) fail_at(*nn, file, path + ".name", "use letters, digits and . _ + - only (it is part of run ids)");
      if (!names.insert(name).second) fail_at(*nn, file, path + ".name", "setting '" + name + "' is defined twice");
      AxisValue v{name, {}};
      std::vector<std::pair<std::string, const toml::node*>> keys;
      flatten(t, "", keys);
      for (const auto& [key, node] : keys) {
        if (key == "name") continue;
        check_override_key(key, *node, file, path + "." + key);
        v.overrides.push_back({key + "=" + toml_text(*node), where(*node, file) + ": key '" + path + "." + key + "'"});
      }
      if (v.overrides.empty()) fail_at(t, file, path, "setting '" + name + "' sets no key (e.g. \"train.lr\" = 0.01)");
      axis.push_back(std::move(v));
    }
    axes.push_back(std::move(axis));
  }
  if (const toml::node* st = grid.get("set")) {
    if (!st->is_table()) fail_at(*st, file, "grid.set", std::string("expected a table of key = [values], got ") + toml_type_name(*st));
    std::vector<std::pair<std::string, const toml::node*>> keys;
    flatten(*st->as_table(), "", keys);
    for (const auto& [key, node] : keys) {
      const std::string path = "grid.set." + key;
      check_override_key(key, *node, file, path);
      std::vector<AxisValue> axis;
      auto add = [&](const toml::node& v) {
        const std::string text = toml_text(v);
        const std::string label = v.is_string() ? v.as_string()->get() : text;
        for (const auto& other : axis)
          if (other.overrides[0].assignment == key + "=" + text) fail_at(v, file, path, "value " + text + " is listed twice");
        axis.push_back({id_part(label), {{key + "=" + text, where(v, file) + ": key '" + path + "'"}}});
      };
      if (const toml::array* a = node->as_array()) {
        if (a->empty()) fail_at(*node, file, path, "needs at least one value");
        for (const auto& e : *a) add(e);
      } else {
        add(*node);  // a single value: set in every cell, no part of the id
        axis.back().label.clear();
      }
      axes.push_back(std::move(axis));
    }
  }

  // Cartesian product: strategy x axes... x seed, seeds innermost.
  std::vector<std::vector<std::size_t>> combos{{}};
  for (const auto& axis : axes) {
    std::vector<std::vector<std::size_t>> next;
    for (const auto& c : combos)
      for (std::size_t i = 0; i < axis.size(); ++i) {
        next.push_back(c);
        next.back().push_back(i);
      }
    combos = std::move(next);
  }
  std::map<std::string, std::string> ids;  // id -> what made it, to report collisions
  for (const auto& strategy : strategies) {
    const bool in_base = std::any_of(base.strategies.begin(), base.strategies.end(),
                                     [&](const ComponentConfig& c) { return c.name == strategy; });
    for (const auto& combo : combos)
      for (auto seed : seeds) {
        SweepCell cell;
        cell.index = sw.cells.size();
        cell.strategy = strategy;
        cell.seed = seed;
        std::vector<Override> ov = {{"run.results=" + toml_string(sw.results), ""},
                                    {"run.seeds=[" + std::to_string(seed) + "]", ""},
                                    {"run.name=" + toml_string(sw.name), ""}};
        if (!in_base)
          ov.push_back({"strategies=[{ name = " + toml_string(strategy) + " }]",
                        strategy_nodes.count(strategy)
                            ? where(*strategy_nodes[strategy], file) + ": key 'grid.strategies'"
                            : ""});
        cell.id = sw.name + "-" + id_part(strategy);
        for (std::size_t a = 0; a < axes.size(); ++a) {
          const AxisValue& v = axes[a][combo[a]];
          if (!v.label.empty()) cell.id += "-" + v.label;
          if (a == 0 && grid.get("hp")) cell.hp = v.label;
          ov.insert(ov.end(), v.overrides.begin(), v.overrides.end());
        }
        cell.id += "-s" + std::to_string(seed);
        std::string what;
        for (const auto& o : ov) what += " " + o.assignment;
        if (auto it = ids.find(cell.id); it != ids.end())
          throw Error(file + ": two cells get the run id '" + cell.id + "' (values that differ only in characters "
                      "other than letters, digits and ._+-); cells:" + it->second + " and" + what);
        ids[cell.id] = what;
        for (const auto& o : ov) cell.sets.push_back(o.assignment);
        // Validate the cell's pipeline now, so a bad grid fails before anything runs.
        try {
          Pipeline p = parse_pipeline(base_text, sw.base, cell.sets, host);
          cell.device = p.device;
        } catch (const Error& e) {
          // Point at the sweep file's value behind the failing key (the last override of a key wins).
          const std::string msg = e.what();
          for (auto o = ov.rbegin(); o != ov.rend(); ++o) {
            if (o->origin.empty()) continue;
            const std::string key = o->assignment.substr(0, o->assignment.find('='));
            const bool hit = msg.find("--set " + o->assignment) != std::string::npos ||
                             msg.find("key '" + key + "'") != std::string::npos ||
                             msg.find("key '" + key + ".") != std::string::npos ||
                             msg.find("key '" + key + "[") != std::string::npos;
            if (!hit) continue;
            // An overridden node has no place in the base file (toml++ reports 0:0 there): name the override.
            std::string detail = msg;
            const std::string nowhere = sw.base + ":0:0: ";
            if (detail.rfind(nowhere, 0) == 0) detail = "--set " + o->assignment + ": " + detail.substr(nowhere.size());
            throw Error(o->origin + ": in cell " + cell.id + ": " + detail);
          }
          throw Error(file + ": cell " + cell.id + " (base " + sw.base + " with" + what + "): " + msg);
        }
        sw.cells.push_back(std::move(cell));
      }
  }
  link_transfers(sw);
  return sw;
}

std::vector<std::string> cell_arguments(const Sweep& sweep, const SweepCell& cell, std::int64_t threads,
                                        const std::vector<std::string>& plugin_paths) {
  std::vector<std::string> a;
  for (const auto& p : plugin_paths) {
    a.push_back("--plugin-path");
    a.push_back(p);
  }
  a.insert(a.end(), {"run", sweep.base, "--strategy", cell.strategy, "--seed", std::to_string(cell.seed), "--run-id",
                     cell.id});
  bool sets_threads = false;
  for (const auto& s : cell.sets) {
    a.push_back("--set=" + s);
    sets_threads = sets_threads || s.rfind("run.threads=", 0) == 0;
  }
  if (threads > 0 && !sets_threads) a.push_back("--set=run.threads=" + std::to_string(threads));
  return a;
}

}  // namespace quarry
