#include "core/pipeline/pipeline.hpp"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "quarry/error.hpp"
#include "quarry/param_check.hpp"

namespace quarry {

namespace {

constexpr const char* kOverridePrefix = "--set ";

// The --set assignments of the pipeline being parsed: values copied into the
// document lose their source position, so an error on one names its --set instead.
thread_local const std::vector<std::string>* current_overrides = nullptr;

[[noreturn]] void fail_at(const toml::node& node, const std::string& file, const std::string& key,
                          const std::string& what) {
  if (node.source().begin.line == 0 && current_overrides) {
    for (const auto& o : *current_overrides) {
      const auto eq = o.find('=');
      const std::string path = o.substr(0, eq);
      std::string normalised = key;  // strategies[1].name -> strategies.1.name
      for (std::size_t i; (i = normalised.find('[')) != std::string::npos;) {
        normalised.replace(i, 1, ".");
        normalised.erase(normalised.find(']', i), 1);
      }
      if (path == normalised || normalised.rfind(path + ".", 0) == 0)
        throw Error(kOverridePrefix + o + ": key '" + key + "': " + what);
    }
  }
  throw Error(where(node, file) + ": key '" + key + "': " + what);
}

/// toml++ 3.3 (Debian's) reaches __builtin_unreachable when it asks whether some
/// non-ASCII code points are whitespace (found by fuzz_pipeline: `momentum = \u0451`):
/// undefined behaviour in the library the program links. It asks only outside
/// strings and comments, and after a backslash in a multi-line basic string; so
/// these code points are rejected there (outside strings TOML allows no non-ASCII
/// at all), and allowed in strings and comments, where they are valid and safe.
bool trips_toml_whitespace_check(std::uint32_t c) {
  if (c <= 0xA0 || c >= 0xFEFF || c == 0x3000) return false;
  const auto block = (c - 0xA0) / 0x3FA;  // toml++'s lookup: blocks 0, 11 and 63 are not handled
  return block == 0 || block == 11 || block == 63;
}

/// Checks toml++ should not have to make, with the position and character in the message:
/// control characters (TOML allows only tab, LF and CR in CRLF, strings and comments
/// included; toml++ reports some only as "could not determine value type"), and
/// non-ASCII characters outside strings and comments (see above).
void check_characters(const std::string& text, const std::string& file) {
  enum class In { Toml, Comment, Basic, Literal, MultiBasic, MultiLiteral };
  In in = In::Toml;
  // In a multi-line basic string, toml++ tests for whitespace the character after a
  // backslash and, after a line-ending backslash, each character up to the next non-blank.
  bool escaped = false, skipping = false;
  std::size_t line = 1, column = 1;
  auto fail = [&](const std::string& what) {
    throw Error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": TOML syntax error: " + what);
  };
  auto code = [](std::uint32_t c) {
    char buf[12];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return std::string(buf);
  };
  auto quotes = [&](std::size_t i, char q) {
    std::size_t n = 0;
    while (i + n < text.size() && text[i + n] == q) ++n;
    return n;
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 1;
    if (c < 0x80) {
      const bool crlf = c == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
      if ((c < 0x20 && c != '\t' && c != '\n' && !crlf) || c == 0x7f)
        fail("control character " + code(c) + " is not allowed in a TOML document");
      switch (in) {
        case In::Toml:
          if (c == '#') in = In::Comment;
          else if (c == '"') { len = quotes(i, '"') >= 3 ? 3 : 1; in = len == 3 ? In::MultiBasic : In::Basic; }
          else if (c == '\'') { len = quotes(i, '\'') >= 3 ? 3 : 1; in = len == 3 ? In::MultiLiteral : In::Literal; }
          break;
        case In::Comment:
          if (c == '\n') in = In::Toml;
          break;
        case In::Basic:
          if (c == '\\') len = i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) < 0x80 ? 2 : 1;
          else if (c == '"' || c == '\n') in = In::Toml;
          break;
        case In::Literal:
          if (c == '\'' || c == '\n') in = In::Toml;
          break;
        case In::MultiBasic:
          if (escaped) {  // the escaped character; whitespace here starts a line-ending backslash
            escaped = false;
            skipping = c == ' ' || c == '\t' || c == '\n' || c == '\r';
            break;
          }
          if (skipping) {
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') break;
            skipping = false;
          }
          if (c == '\\') {
            escaped = true;
          } else if (c == '"') {
            len = quotes(i, '"');
            if (len >= 3) in = In::Toml;  // up to two more quotes belong to the string
          }
          break;
        case In::MultiLiteral:
          if (c == '\'') {
            len = quotes(i, '\'');
            if (len >= 3) in = In::Toml;
          }
          break;
      }
    } else {
      // A UTF-8 sequence (toml++ reports invalid UTF-8 itself).
      len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      std::uint32_t cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0Fu : c & 0x1Fu;
      for (std::size_t k = 1; k < len && i + k < text.size(); ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3Fu);
      if (len == 1) cp = c;
      if (in == In::Toml)
        fail("character " + code(cp) + " outside a string or comment (TOML allows only ASCII there)");
      if (in == In::MultiBasic && (escaped || skipping) && trips_toml_whitespace_check(cp))
        fail("character " + code(cp) + " after a backslash is not supported here (toml++ 3.3 cannot check it)");
      escaped = skipping = false;
    }
    if (c < 0x80) {
      for (std::size_t k = 0; k < len && i + k < text.size(); ++k) {
        if (text[i + k] == '\n') {
          ++line;
          column = 1;
        } else {
          ++column;
        }
      }
    } else {
      ++column;  // one code point
    }
    i += len;
  }
}

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

/// A TOML value as a ParamValue, or nullopt for tables, mixed arrays, dates.
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
                  const std::string& file, const std::set<std::string>& skip = {}) {
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
      throw Error(at + ": key '" + join(prefix, key) + "': unknown key" + hint);
    }
    auto value = to_param(v);
    if (!value) fail_at(v, file, join(prefix, key), std::string("expected ") + to_string(spec->type) + ", got " + toml_type_name(v));
    auto coerced = coerce(*spec, *value);
    if (!coerced)
      fail_at(v, file, join(prefix, key),
              std::string("expected ") + to_string(spec->type) + ", got " + to_string(type_of(*value)));
    if (auto problem = check_value(*spec, *coerced)) fail_at(v, file, join(prefix, key), *problem);
    params.set(key, std::move(*coerced));
  }
  for (const auto& s : specs) {
    if (params.has(s.name)) continue;
    if (!s.default_value)
      throw Error(where(t, file) + ": key '" + join(prefix, s.name) + "': missing required key (" + s.help + ")");
    params.set(s.name, *s.default_value);
  }
  return params;
}

/// Record where every key under `node` (at key path `prefix`) was written.
void record_positions(const toml::node& node, const std::string& prefix, const std::string& file,
                      std::map<std::string, std::string>& out) {
  if (!prefix.empty()) out[prefix] = where(node, file);
  if (const auto* t = node.as_table()) {
    for (auto&& [k, v] : *t) record_positions(v, join(prefix, std::string(k.str())), file, out);
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

toml::table to_toml(const Params& p, const std::string& name = "") {
  toml::table t;
  if (!name.empty()) t.insert_or_assign("name", name);
  for (const auto& [k, v] : p.values()) put(t, k, v);
  return t;
}

ComponentConfig read_component(const toml::table& t, const std::string& prefix, const std::string& file,
                               ComponentKind kind, const ComponentCatalog* host, const std::set<std::string>& core_keys,
                               const std::vector<ParamSpec>& core_specs, Params* core_out) {
  const toml::node* name_node = t.get("name");
  if (!name_node) throw Error(where(t, file) + ": key '" + join(prefix, "name") + "': missing required key (the " +
                              to_string(kind) + " to use; see `quarry plugins`)");
  if (!name_node->is_string()) fail_at(*name_node, file, join(prefix, "name"), std::string("expected string, got ") + toml_type_name(*name_node));
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
      fail_at(*name_node, file, join(prefix, "name"),
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

}  // namespace

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

const toml::table* toml_section(const toml::table& root, const std::string& name, const std::string& file,
                           bool required) {
  const toml::node* n = root.get(name);
  if (!n) {
    if (required) throw Error(file + ": missing required section [" + name + "]");
    return nullptr;
  }
  if (!n->is_table()) fail_at(*n, file, name, std::string("expected a table, got ") + toml_type_name(*n));
  return n->as_table();
}

std::string where(const toml::node& node, const std::string& fallback_file) {
  const auto& src = node.source();
  const std::string path = src.path ? *src.path : fallback_file;
  if (path.rfind(kOverridePrefix, 0) == 0) return path;
  if (src.begin.line == 0) return "command line (--set)";  // copied values lose their position
  return path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

const std::vector<ParamSpec>& run_schema() {
  static const std::vector<ParamSpec> s = {
      param_string("name", "", "name of the study (default: the pipeline file's name)"),
      [] {
        auto p = param_required("seeds", ParamType::IntList, "seeds; each (strategy, seed) pair is one run");
        p.default_value = ParamValue{std::vector<std::int64_t>{1}};
        p.min = 0;
        return p;
      }(),
      param_string("device", "auto", "auto | cpu | cuda | cuda:N"),
      param_int("threads", 0, "CPU threads for LibTorch (0 = LibTorch's default)", 0, 1024),
      param_string("results", "runs", "folder holding the results store (quarry.db) and per-run logs"),
      [] {
        auto p = param_required("plugin_paths", ParamType::StringList, "extra folders to load plugins from");
        p.default_value = ParamValue{std::vector<std::string>{}};
        return p;
      }(),
      param_int("memory_budget_mb", 1024, "memory a strategy may use for temporary matrices", 1, 1 << 20),
  };
  return s;
}

const std::vector<ParamSpec>& dataset_core_schema() {
  static const std::vector<ParamSpec> s = {
      param_float("validation_fraction", 0.1, "share of the train split held out for validation (per seed)", 0.0, 0.9),
      param_int("pool_subset", 0, "> 0: keep a seeded random subset of this many pool images (quick runs)", 0),
      param_int("test_subset", 0, "> 0: evaluate on the first N test images (quick runs)", 0),
  };
  return s;
}

const std::vector<ParamSpec>& train_schema() {
  static const std::vector<ParamSpec> s = {
      param_int("epochs", 200, "epochs per training", 1, 100000),
      param_int("batch_size", 32, "training batch size", 1, 1 << 20),
      param_float("lr", 0.01, "SGD learning rate", 1e-12, 100.0),
      param_float("weight_decay", 5e-4, "SGD weight decay", 0.0, 10.0),
      param_float("momentum", 0.9, "SGD momentum", 0.0, 1.0),
      param_bool("nesterov", false, "Nesterov momentum"),
      param_int("warmup_epochs", 10, "linear warm-up from 0.01 x lr over this many epochs, then cosine to 0", 0, 100000),
      param_string("epoch_mode", "sampled", "sampled: floor(n/batch)+1 random batches (the reference); shuffled: one pass",
                   {"sampled", "shuffled"}),
      param_bool("augment", true, "random crop with zero padding and horizontal flip"),
      param_int("crop_padding", 4, "zero padding of the random crop", 0, 64),
      param_bool("flip", true, "random horizontal flip (when augment = true)"),
      param_int("predict_batch_size", 128, "batch size for evaluation and querying", 1, 1 << 20),
      param_string("init", "same", "same: every cycle from the seed's initial weights; continue: from the last cycle's",
                   {"same", "continue"}),
      param_bool("mixed_precision", false, "autocast to float16 on CUDA (ignored on CPU)"),
  };
  return s;
}

const std::vector<ParamSpec>& al_schema() {
  static const std::vector<ParamSpec> s = {
      param_int("initial", 100, "random initial labels (ignored with initial_pool)", 1),
      param_string("initial_pool", "", "pool JSON (quarry pool export) to start from instead"),
      param_bool("class_balanced", false, "draw the initial labels class-balanced"),
      param_int("query_size", 100, "labels acquired per cycle", 1),
      param_int("budget", 4000, "labels at the end (the last cycle trains on this many)", 1),
      param_int("candidate_subset", 10000, "unlabeled images a strategy scores per cycle (0 = all)", 0),
  };
  return s;
}

const std::vector<ParamSpec>& hpo_schema() {
  static const std::vector<ParamSpec> s = {
      [] {
        auto p = param_required("sizes", ParamType::IntList, "pool sizes after which to tune (e.g. [2000, 4000])");
        p.default_value = ParamValue{std::vector<std::int64_t>{}};
        p.min = 1;
        return p;
      }(),
      param_int("every", 0, "re-tune every N cycles during DAL and keep querying with the tuned setting (0 = off)", 0),
      param_int("trials", 50, "trials per search", 1, 100000),
      param_string("sampler", "tpe", "tpe | random", {"tpe", "random"}),
      param_int("startup_trials", 10, "random trials before TPE models the history", 0, 100000),
      param_int("splits", 3, "random validation splits per trial", 1, 100),
      param_float("split_fraction", 0.1, "share of the pool in each validation split", 0.01, 0.5),
      param_int("folds", 0, "> 1: K-fold cross-validation instead of random splits", 0, 100),
      param_int("parallel", 1, "trials run at once", 1, 64),
      param_bool("enqueue_current", true, "first trial = the pipeline's own [train] setting"),
  };
  return s;
}

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

std::string Pipeline::where(const std::string& key) const {
  const auto it = positions.find(key);
  return it != positions.end() ? it->second : file;
}

std::vector<std::string> peek_plugin_paths(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    const auto root = parse_toml(buf.str(), path);
    std::vector<std::string> out;
    if (auto* arr = root["run"]["plugin_paths"].as_array())
      for (auto& e : *arr)
        if (auto s = e.as_string()) out.push_back(s->get());
    return out;
  } catch (...) {
    return {};  // parse_pipeline reports the problem properly
  }
}

Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides,
                       const ComponentCatalog* host) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the pipeline file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_pipeline(buf.str(), path, overrides, host);
}

toml::table parse_toml(const std::string& text, const std::string& file) {
  check_characters(text, file);
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw Error(file + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                ": TOML syntax error: " + std::string(e.description()));
  }
}

Pipeline parse_pipeline(const std::string& text, const std::string& file, const std::vector<std::string>& overrides,
                        const ComponentCatalog* host) {
  toml::table root = parse_toml(text, file);
  for (const auto& o : overrides) apply_override(root, o);
  struct OverrideScope {
    explicit OverrideScope(const std::vector<std::string>* o) { current_overrides = o; }
    ~OverrideScope() { current_overrides = nullptr; }
  } override_scope(&overrides);

  static const std::set<std::string> sections = {"run", "dataset", "model", "train", "al", "strategies", "hpo"};
  for (auto&& [k, v] : root)
    if (!sections.count(std::string(k.str())))
      fail_at(v, file, std::string(k.str()),
              "unknown section (known: run dataset model train al strategies hpo)");

  Pipeline p;
  p.file = file;
  record_positions(root, "", file, p.positions);
  toml::table resolved;

  // [run]
  static const toml::table empty;
  const toml::table* run_t = toml_section(root, "run", file, false);
  Params run = read_table(run_t ? *run_t : empty, run_schema(), "run", file);
  p.name = run.get_string("name");
  if (p.name.empty()) {
    const auto slash = file.find_last_of('/');
    std::string stem = file.substr(slash == std::string::npos ? 0 : slash + 1);
    p.name = stem.substr(0, stem.find_last_of('.'));
    run.set("name", p.name);
  }
  p.seeds = run.get_int_list("seeds");
  if (p.seeds.empty()) {
    const toml::node* n = run_t ? run_t->get("seeds") : nullptr;
    throw Error(where(n ? *n : root, file) + ": key 'run.seeds': needs at least one seed");
  }
  p.device = run.get_string("device");
  if (!(p.device == "auto" || p.device == "cpu" || p.device == "cuda" || p.device.rfind("cuda:", 0) == 0)) {
    const toml::node* n = run_t ? run_t->get("device") : nullptr;
    throw Error((n ? where(*n, file) : file) + ": key 'run.device': expected auto, cpu, cuda or cuda:N, got \"" +
                p.device + "\"");
  }
  p.threads = run.get_int("threads");
  p.results = run.get_string("results");
  p.plugin_paths = run.get_string_list("plugin_paths");
  p.memory_budget_mb = run.get_int("memory_budget_mb");
  resolved.insert_or_assign("run", to_toml(run));

  // [dataset]
  const toml::table* ds_t = toml_section(root, "dataset", file, true);
  static const std::set<std::string> ds_core = {"validation_fraction", "pool_subset", "test_subset"};
  Params ds_core_params;
  p.dataset = read_component(*ds_t, "dataset", file, ComponentKind::Dataset, host, ds_core, dataset_core_schema(),
                             &ds_core_params);
  p.validation_fraction = ds_core_params.get_float("validation_fraction");
  p.pool_subset = ds_core_params.get_int("pool_subset");
  p.test_subset = ds_core_params.get_int("test_subset");
  {
    auto t = to_toml(p.dataset.params, p.dataset.name);
    for (const auto& [k, v] : ds_core_params.values()) put(t, k, v);
    resolved.insert_or_assign("dataset", std::move(t));
  }

  // [model]
  const toml::table* m_t = toml_section(root, "model", file, true);
  p.model = read_component(*m_t, "model", file, ComponentKind::Model, host, {}, {}, nullptr);
  resolved.insert_or_assign("model", to_toml(p.model.params, p.model.name));

  // [train]
  const toml::table* tr_t = toml_section(root, "train", file, false);
  Params tr = read_table(tr_t ? *tr_t : empty, train_schema(), "train", file);
  auto& t = p.train;
  t.epochs = tr.get_int("epochs");
  t.batch_size = tr.get_int("batch_size");
  t.lr = tr.get_float("lr");
  t.weight_decay = tr.get_float("weight_decay");
  t.momentum = tr.get_float("momentum");
  t.nesterov = tr.get_bool("nesterov");
  t.warmup_epochs = tr.get_int("warmup_epochs");
  t.epoch_mode = tr.get_string("epoch_mode");
  t.augment = tr.get_bool("augment");
  t.crop_padding = tr.get_int("crop_padding");
  t.flip = tr.get_bool("flip");
  t.predict_batch_size = tr.get_int("predict_batch_size");
  t.init = tr.get_string("init");
  t.mixed_precision = tr.get_bool("mixed_precision");
  if (t.nesterov && t.momentum <= 0) {
    const toml::node* n = tr_t ? tr_t->get("nesterov") : nullptr;
    throw Error((n ? where(*n, file) : file) + ": key 'train.nesterov': Nesterov needs momentum > 0");
  }
  resolved.insert_or_assign("train", to_toml(tr));

  // [al]
  const toml::table* al_t = toml_section(root, "al", file, false);
  Params al = read_table(al_t ? *al_t : empty, al_schema(), "al", file);
  auto& l = p.al;
  l.initial = al.get_int("initial");
  l.initial_pool = al.get_string("initial_pool");
  l.class_balanced = al.get_bool("class_balanced");
  l.query_size = al.get_int("query_size");
  l.budget = al.get_int("budget");
  l.candidate_subset = al.get_int("candidate_subset");
  if (l.initial_pool.empty() && l.initial > l.budget) {
    const toml::node* n = al_t ? al_t->get("initial") : nullptr;
    throw Error((n ? where(*n, file) : file) + ": key 'al.initial': " + std::to_string(l.initial) +
                " initial labels exceed the budget of " + std::to_string(l.budget));
  }
  resolved.insert_or_assign("al", to_toml(al));

  // [[strategies]]
  const toml::node* st = root.get("strategies");
  if (!st) throw Error(file + ": missing required section [[strategies]] (e.g. [[strategies]] name = \"random\")");
  const toml::array* arr = st->as_array();
  if (!arr || arr->empty() || !arr->is_homogeneous(toml::node_type::table))
    fail_at(*st, file, "strategies", "expected one or more [[strategies]] tables");
  toml::array resolved_strategies;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string prefix = "strategies[" + std::to_string(i) + "]";
    p.strategies.push_back(read_component(*arr->get(i)->as_table(), prefix, file, ComponentKind::Strategy, host, {},
                                          {}, nullptr));
    resolved_strategies.push_back(to_toml(p.strategies.back().params, p.strategies.back().name));
  }
  resolved.insert_or_assign("strategies", std::move(resolved_strategies));

  // [hpo]
  if (const toml::table* h_t = toml_section(root, "hpo", file, false)) {
    Params h = read_table(*h_t, hpo_schema(), "hpo", file, {"space"});
    auto& o = p.hpo;
    o.enabled = true;
    o.sizes = h.get_int_list("sizes");
    o.every = h.get_int("every");
    o.trials = h.get_int("trials");
    o.sampler = h.get_string("sampler");
    o.startup_trials = h.get_int("startup_trials");
    o.splits = h.get_int("splits");
    o.split_fraction = h.get_float("split_fraction");
    o.folds = h.get_int("folds");
    o.parallel = h.get_int("parallel");
    o.enqueue_current = h.get_bool("enqueue_current");
    if (o.folds == 1) fail_at(*h_t->get("folds"), file, "hpo.folds", "K-fold needs folds >= 2 (0 = random splits)");
    auto tr_h = to_toml(h);
    static const std::vector<ParamSpec> dim_schema = {
        param_string("type", "log_uniform", "log_uniform | uniform | int | categorical",
                     {"log_uniform", "uniform", "int", "categorical"}),
        param_float("low", 0.0, "lower bound"),
        param_float("high", 0.0, "upper bound"),
        param_bool("log", false, "int on a log scale"),
        [] {
          auto c = param_required("choices", ParamType::StringList, "values of a categorical dimension");
          c.default_value = ParamValue{std::vector<std::string>{}};
          return c;
        }(),
    };
    static const std::set<std::string> tunable = {"lr", "weight_decay", "momentum", "epochs", "batch_size",
                                                  "warmup_epochs", "nesterov", "augment", "epoch_mode"};
    toml::table space_out;
    if (const toml::node* sp = h_t->get("space")) {
      if (!sp->is_table()) fail_at(*sp, file, "hpo.space", "expected a table of dimensions");
      for (auto&& [k, v] : *sp->as_table()) {
        const std::string key = "hpo.space." + std::string(k.str());
        if (!tunable.count(std::string(k.str())))
          fail_at(v, file, key, "not a tunable [train] key (tunable: lr weight_decay momentum epochs batch_size warmup_epochs nesterov augment epoch_mode)");
        if (!v.is_table()) fail_at(v, file, key, "expected a table like { type = \"log_uniform\", low = 1e-5, high = 1e-1 }");
        Params d = read_table(*v.as_table(), dim_schema, key, file);
        SearchDimension dim{std::string(k.str()), d.get_string("type"), d.get_float("low"), d.get_float("high"),
                            d.get_bool("log"), d.get_string_list("choices")};
        if (dim.type == "categorical" ? dim.choices.empty() : !(dim.low < dim.high))
          fail_at(v, file, key, dim.type == "categorical" ? "needs choices" : "needs low < high");
        if ((dim.type == "log_uniform" || dim.log) && dim.low <= 0) fail_at(v, file, key, "a log scale needs low > 0");
        o.space.push_back(dim);
        space_out.insert_or_assign(std::string(k.str()), to_toml(d));
      }
    }
    if (o.space.empty()) {
      o.space = {{"lr", "log_uniform", 1e-5, 1e-1, false, {}}, {"weight_decay", "log_uniform", 1e-5, 1e-1, false, {}}};
      for (const auto& d : o.space) {
        toml::table dt;
        dt.insert_or_assign("type", d.type);
        dt.insert_or_assign("low", d.low);
        dt.insert_or_assign("high", d.high);
        space_out.insert_or_assign(d.name, std::move(dt));
      }
    }
    tr_h.insert_or_assign("space", std::move(space_out));
    resolved.insert_or_assign("hpo", std::move(tr_h));
  }

  std::ostringstream os;
  os << resolved;
  p.resolved_toml = os.str();
  return p;
}

}  // namespace quarry
