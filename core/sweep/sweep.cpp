#include "core/sweep/sweep.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <toml++/toml.h>
#include <torch/cuda.h>

#include "core/cli/commands.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/util/log.hpp"
#include "core/store/store.hpp"
#include "quarry/error.hpp"

extern char** environ;

namespace quarry {

namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------- parsing

[[noreturn]] void fail_at(const toml::node& node, const std::string& file, const std::string& key,
                          const std::string& what) {
  throw Error(where(node, file) + ": key '" + key + "': " + what);
}

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

std::string compress_ranges(const std::vector<std::size_t>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("/._-+=:,@%").find(c) != std::string::npos;
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path store_file(const Sweep& s) { return fs::path(s.results) / "quarry.db"; }

/// Rewrite <results>/csv once every cell has stopped: cells finishing together each export
/// the CSV files, and two such writers may interleave.
void export_csv(const Sweep& s) {
  if (fs::exists(store_file(s))) Store(store_file(s)).export_csv(fs::path(s.results) / "csv");
}

std::string self_exe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the quarry executable (/proc/self/exe): " + ec.message());
  return p.string();
}

std::int64_t usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<std::int64_t>(1, std::thread::hardware_concurrency());
}

/// Run a shell command; its stdout and stderr together, and its exit status.
std::pair<int, std::string> shell(const std::string& command) {
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (!f) throw Error("cannot run '" + command + "'");
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  return s;
}

std::string last_lines(const fs::path& file, std::size_t n) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (std::size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) out += "    " + lines[i] + "\n";
  return out;
}

std::string fmt_seconds(double s) {
  if (s < 120) return fmt::format("{:.0f}s", s);
  if (s < 7200) return fmt::format("{:.1f}min", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}

std::vector<std::size_t> unfinished(const std::vector<std::string>& statuses, std::size_t* skipped) {
  std::vector<std::size_t> out;
  *skipped = 0;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i] == "finished") ++*skipped;
    else out.push_back(i);
  }
  return out;
}

// ---------------------------------------------------------------- local child processes

std::atomic<int> g_interrupted{0};
extern "C" void on_interrupt(int sig) { g_interrupted = sig; }

/// Restores SIGINT/SIGTERM handlers when the local executor returns.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

/// fork + exec `exe args` with `env` overrides, stdout and stderr appended to `log`.
pid_t spawn(const std::string& exe, const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const fs::path& log) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<std::string> argv_s{exe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv(*e);
    if (!env.count(kv.substr(0, kv.find('=')))) env_s.push_back(kv);
  }
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw Error("cannot write " + log.string());
  const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (in >= 0) ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execve(exe.c_str(), argv.data(), envp.data());
    static const char msg[] = "quarry sweep: cannot execute the quarry executable\n";
    [[maybe_unused]] auto w = ::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out);
  if (in >= 0) ::close(in);
  if (pid < 0) throw Error("cannot start a child process (fork failed)");
  return pid;
}

}  // namespace

// ---------------------------------------------------------------- loading and expanding

Sweep load_sweep(const std::string& path, const ComponentCatalog* host) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the sweep file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_sweep(buf.str(), path, host);
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
  std::string base_text;
  {
    std::ifstream in(sw.base, std::ios::binary);
    std::stringstream b;
    b << in.rdbuf();
    base_text = b.str();
  }
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

std::vector<std::string> cell_statuses(const Sweep& sweep) {
  std::vector<std::string> out(sweep.cells.size());
  if (!fs::exists(store_file(sweep))) return out;
  Store store(store_file(sweep));
  std::map<std::string, std::string> status;
  for (const auto& r : store.runs()) status[r.id] = r.status;
  for (std::size_t i = 0; i < sweep.cells.size(); ++i)
    if (auto it = status.find(sweep.cells[i].id); it != status.end()) out[i] = it->second;
  return out;
}

std::string sweep_table(const Sweep& sweep) {
  std::unique_ptr<Store> store;
  if (fs::exists(store_file(sweep))) store = std::make_unique<Store>(store_file(sweep));
  std::size_t w = 4;
  for (const auto& c : sweep.cells) w = std::max(w, c.id.size());
  std::string out = fmt::format("{:<{}} {:<9} {:>7} {:>7}\n", "CELL", w, "STATUS", "LABELS", "TEST%");
  for (const auto& c : sweep.cells) {
    std::string status = "-", labels = "-", acc = "-";
    if (store)
      if (auto r = store->find_run(c.id); r && r->id == c.id) {
        status = r->status;
        const auto cycles = store->cycles(c.id);
        if (!cycles.empty()) {
          labels = std::to_string(cycles.back().labeled);
          acc = fmt::format("{:.2f}", 100.0 * cycles.back().test_accuracy);
        }
      }
    out += fmt::format("{:<{}} {:<9} {:>7} {:>7}\n", c.id, w, status, labels, acc);
  }
  return out;
}

// ---------------------------------------------------------------- local executor

SweepSummary run_sweep_local(const Sweep& sweep, const LocalOptions& opts, std::ostream& out) {
  SweepSummary sum;
  sum.total = sweep.cells.size();
  const auto statuses = cell_statuses(sweep);
  const auto pending = unfinished(statuses, &sum.skipped);

  const std::int64_t cores = usable_cores();
  std::int64_t gpus = 0;
  const bool wants_cuda = std::any_of(sweep.cells.begin(), sweep.cells.end(),
                                      [](const SweepCell& c) { return c.device != "cpu"; });
  if (wants_cuda && torch::cuda::is_available()) gpus = static_cast<std::int64_t>(torch::cuda::device_count());
  std::int64_t jobs = opts.jobs > 0 ? opts.jobs : (gpus > 0 ? gpus : cores);
  jobs = std::max<std::int64_t>(1, std::min<std::int64_t>(jobs, std::max<std::size_t>(1, pending.size())));
  const std::int64_t threads = std::max<std::int64_t>(1, cores / jobs);
  const std::string exe = opts.quarry_exe.empty() ? self_exe() : opts.quarry_exe;
  const fs::path logs = fs::path(sweep.results) / "sweep-logs";

  out << fmt::format("sweep {}: {} cells, {} finished already, {} to run; {} at once, {} thread(s) each{}\n"
                     "results: {} (`quarry runs --results {}`)\n",
                     sweep.name, sum.total, sum.skipped, pending.size(), jobs, threads,
                     gpus > 0 ? fmt::format(", {} GPU(s): one cell per GPU", gpus) : "",
                     store_file(sweep).string(), sweep.results);
  if (opts.dry_run) {
    for (std::size_t i = 0; i < sweep.cells.size(); ++i) {
      const auto& c = sweep.cells[i];
      out << fmt::format("[{}] {} ({})\n", i, c.id, statuses[i].empty() ? "to run" : statuses[i]);
      if (statuses[i] == "finished") continue;
      std::string cmd = shell_quote(exe);
      for (const auto& a : cell_arguments(sweep, c, threads, opts.plugin_paths)) cmd += " " + shell_quote(a);
      out << "    " << cmd << "\n";
    }
    out.flush();
    return sum;
  }
  if (pending.empty()) {
    out << "nothing to run: every cell is finished\n" << sweep_table(sweep);
    return sum;
  }
  fs::create_directories(logs);

  struct Child {
    std::size_t cell;
    double start;
    std::int64_t slot;
  };
  std::map<pid_t, Child> running;
  std::vector<char> slot_used(static_cast<std::size_t>(jobs), 0);
  std::size_t next = 0, done = 0;
  const double t0 = now_seconds();
  InterruptGuard guard;
  bool stopping = false;
  while (!running.empty() || (!stopping && next < pending.size())) {
    if (g_interrupted && !stopping) {
      stopping = true;
      out << fmt::format("\ninterrupted: stopping {} running cell(s); run the sweep again to resume them\n",
                         running.size());
      out.flush();
      for (const auto& [pid, c] : running) ::kill(pid, SIGTERM);
    }
    while (!stopping && next < pending.size() && static_cast<std::int64_t>(running.size()) < jobs) {
      const SweepCell& c = sweep.cells[pending[next++]];
      std::int64_t slot = 0;
      while (slot_used[static_cast<std::size_t>(slot)]) ++slot;
      slot_used[static_cast<std::size_t>(slot)] = 1;
      std::map<std::string, std::string> env = {{"OMP_NUM_THREADS", std::to_string(threads)}};
      if (gpus > 0) env["CUDA_VISIBLE_DEVICES"] = std::to_string(slot % gpus);
      const fs::path log = logs / (c.id + ".log");
      const pid_t pid = spawn(exe, cell_arguments(sweep, c, threads, opts.plugin_paths), env, log);
      running[pid] = {c.index, now_seconds(), slot};
      out << fmt::format("started  {}{}{} (log {})\n", c.id,
                         statuses[c.index].empty() ? "" : " (resuming a " + statuses[c.index] + " run)",
                         gpus > 0 ? fmt::format(" on GPU {}", slot % gpus) : "", log.string());
      out.flush();
    }
    bool reaped = false;
    for (auto it = running.begin(); it != running.end();) {
      int status = 0;
      const pid_t r = ::waitpid(it->first, &status, WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      reaped = true;
      const SweepCell& c = sweep.cells[it->second.cell];
      const double secs = now_seconds() - it->second.start;
      slot_used[static_cast<std::size_t>(it->second.slot)] = 0;
      const int code = r < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      ++done;
      // The store decides: a child killed after its last commit still finished its run.
      std::string now_status;
      {
        Store store(store_file(sweep));
        if (auto run = store.find_run(c.id); run && run->id == c.id) now_status = run->status;
      }
      const double el = now_seconds() - t0;
      const std::size_t left = pending.size() - done;
      const std::string eta = left == 0 || stopping ? "" : fmt::format(", ETA ~{}", fmt_seconds(el / static_cast<double>(done) * static_cast<double>(left)));
      if (now_status == "finished") {
        ++sum.finished;
        out << fmt::format("[{}/{}] finished {} in {} | {} running, {} waiting | {} elapsed{}\n", done,
                           pending.size(), c.id, fmt_seconds(secs), running.size() - 1, pending.size() - next,
                           fmt_seconds(el), eta);
      } else if (stopping) {
        ++sum.interrupted;
        out << fmt::format("[{}/{}] interrupted {} after {}; it resumes when the sweep runs again\n", done,
                           pending.size(), c.id, fmt_seconds(secs));
      } else {
        ++sum.failed;
        const fs::path log = logs / (c.id + ".log");
        out << fmt::format("[{}/{}] FAILED {} after {} ({}); last lines of {}:\n{}", done, pending.size(), c.id,
                           fmt_seconds(secs),
                           code == 0 ? "exit 0 but the run is " + (now_status.empty() ? std::string("missing") : now_status)
                                     : "exit status " + std::to_string(code),
                           log.string(), last_lines(log, 5));
      }
      out.flush();
      it = running.erase(it);
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::size_t not_started = pending.size() - next;
  export_csv(sweep);
  out << "\n" << sweep_table(sweep);
  out << fmt::format("\nsweep {}: {} finished, {} failed, {} skipped (finished before){}{} of {} cells; {:.0f}s\n",
                     sweep.name, sum.finished, sum.failed, sum.skipped,
                     sum.interrupted ? fmt::format(", {} interrupted", sum.interrupted) : "",
                     not_started ? fmt::format(", {} not started", not_started) : "", sum.total, now_seconds() - t0);
  if (sum.failed || sum.interrupted || not_started)
    out << "run the sweep again to resume unfinished cells (finished ones are skipped)\n";
  out.flush();
  return sum;
}

// ---------------------------------------------------------------- Slurm executor

std::string slurm_script(const Sweep& sweep, const SlurmOptions& opts, const std::vector<std::size_t>& pending) {
  const std::string exe = opts.quarry_exe.empty() ? self_exe() : opts.quarry_exe;
  const fs::path dir = fs::path(sweep.results) / "slurm";
  const std::string partition = opts.partition.empty() ? sweep.slurm.partition : opts.partition;
  const std::string time = opts.time.empty() ? sweep.slurm.time : opts.time;
  const std::int64_t gpus = opts.gpus >= 0 ? opts.gpus : sweep.slurm.gpus;
  const std::int64_t cpus = opts.cpus_per_task >= 0 ? opts.cpus_per_task : sweep.slurm.cpus_per_task;
  const std::string workdir = opts.workdir.empty() ? fs::current_path().string() : opts.workdir;
  std::string s = "#!/bin/bash\n";
  s += fmt::format("# Quarry sweep '{}': {} of its {} cells, one array task each (task id = cell index).\n"
                   "# Written by `quarry sweep {}`; each task runs one cell with a fixed run id, so a\n"
                   "# finished cell is skipped and an interrupted one resumed.\n",
                   sweep.name, pending.size(), sweep.cells.size(), sweep.file);
  s += "#SBATCH --job-name=quarry-" + sweep.name + "\n";
  s += "#SBATCH --array=" + compress_ranges(pending) + (opts.jobs > 0 ? "%" + std::to_string(opts.jobs) : "") + "\n";
  s += "#SBATCH --output=" + (dir / (sweep.name + "-%A_%a.out")).string() + "\n";
  s += "#SBATCH --error=" + (dir / (sweep.name + "-%A_%a.err")).string() + "\n";
  s += "#SBATCH --chdir=" + workdir + "\n";
  if (!partition.empty()) s += "#SBATCH --partition=" + partition + "\n";
  if (!time.empty()) s += "#SBATCH --time=" + time + "\n";
  if (gpus > 0) s += "#SBATCH --gres=gpu:" + std::to_string(gpus) + "\n";
  if (cpus > 0) s += "#SBATCH --cpus-per-task=" + std::to_string(cpus) + "\n";
  for (const auto& e : sweep.slurm.extra) s += "#SBATCH " + e + "\n";
  s += "\nset -eu\n";
  s += "exec " + shell_quote(exe);
  for (const auto& p : opts.plugin_paths) s += " --plugin-path " + shell_quote(p);
  s += " sweep " + shell_quote(sweep.file) + " --cell \"$SLURM_ARRAY_TASK_ID\"\n";
  return s;
}

SweepSummary run_sweep_slurm(const Sweep& sweep, const SlurmOptions& opts, std::ostream& out) {
  SweepSummary sum;
  sum.total = sweep.cells.size();
  const auto pending = unfinished(cell_statuses(sweep), &sum.skipped);
  if (pending.empty()) {
    out << fmt::format("sweep {}: all {} cells are finished; nothing to submit\n", sweep.name, sum.total)
        << sweep_table(sweep);
    return sum;
  }
  const fs::path dir = fs::path(sweep.results) / "slurm";
  const fs::path script_file = dir / (sweep.name + ".sbatch");
  const std::string script = slurm_script(sweep, opts, pending);
  fs::create_directories(dir);
  {
    std::ofstream f(script_file);
    f << script;
    if (!f) throw Error("cannot write " + script_file.string());
  }
  out << fmt::format("sweep {}: {} cells, {} finished already, {} in the job array; script {}\n", sweep.name,
                     sum.total, sum.skipped, pending.size(), script_file.string());
  if (opts.dry_run) {
    out << script;
    out.flush();
    return sum;
  }
  // With --wait, Ctrl-C (or SIGTERM) cancels the array: the user is watching it in the foreground.
  // Losing the terminal (SIGHUP) does not: the array runs on, as after a submission without --wait.
  std::optional<InterruptGuard> interrupt;
  if (opts.wait) interrupt.emplace();
  auto [rc, text] = shell("sbatch --parsable " + shell_quote(script_file.string()));
  if (rc != 0)
    throw Error("sbatch failed (exit status " + std::to_string(rc) + "): " + trim(text) +
                "\n(is Slurm up? `sinfo` should list a partition; for a local test cluster run scripts/slurm-up.sh)");
  // --parsable prints "jobid" or "jobid;cluster" (sbatch may print warnings on lines before it).
  std::string job = trim(text);
  if (auto nl = job.find_last_of('\n'); nl != std::string::npos) job = job.substr(nl + 1);
  job = trim(job.substr(0, job.find(';')));
  if (job.empty() || !std::all_of(job.begin(), job.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    throw Error("sbatch printed no job id: " + trim(text));
  out << fmt::format("submitted job {} ({} tasks); output in {}/{}-{}_<cell>.out\n", job, pending.size(), dir.string(),
                     sweep.name, job);
  out << "job id: " << job << "\n";
  if (!opts.wait) {
    out << fmt::format("follow it with `squeue -j {}`; `quarry sweep {} --status` shows the cells\n", job, sweep.file);
    out.flush();
    return sum;  // submitted; the caller does not judge a sweep still running
  }
  out.flush();
  const double t0 = now_seconds();
  std::size_t last_finished = static_cast<std::size_t>(-1);
  int squeue_errors = 0;
  bool cancelled = false;
  for (;;) {
    for (double slept = 0; slept < opts.poll_seconds && !g_interrupted; slept += 0.1)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (g_interrupted && !cancelled) {
      cancelled = true;
      auto [crc, ctext] = shell("scancel " + job);
      out << (crc == 0 ? fmt::format("\ninterrupted: cancelled job {}; finished cells are kept, run the sweep again "
                                     "to submit the rest\n", job)
                       : fmt::format("\ninterrupted, but `scancel {}` failed: {}\n", job, trim(ctext)));
      out.flush();
    }
    auto [qrc, qtext] = shell("squeue -h -j " + job + " -o %i");
    bool gone = false;
    std::size_t queued = 0;
    if (qrc == 0) {
      std::istringstream is(qtext);
      for (std::string l; std::getline(is, l);)
        if (!trim(l).empty()) ++queued;
      gone = queued == 0;
      squeue_errors = 0;
    } else if (qtext.find("Invalid job id") != std::string::npos) {
      gone = true;  // purged from the controller: long done
    } else if (++squeue_errors >= 10) {
      throw Error("squeue keeps failing while waiting for job " + job + ": " + trim(qtext));
    }
    std::size_t fin = 0;
    const auto st = cell_statuses(sweep);
    for (auto i : pending) fin += st[i] == "finished";
    if (fin != last_finished || gone) {
      out << fmt::format("[job {}] {}/{} cells finished, {} task(s) queued or running, {} elapsed\n", job, fin,
                         pending.size(), queued, fmt_seconds(now_seconds() - t0));
      out.flush();
      last_finished = fin;
    }
    if (gone) break;
  }
  // No accounting database is needed: the store says which cells finished.
  export_csv(sweep);
  const auto st = cell_statuses(sweep);
  for (auto i : pending) {
    if (st[i] == "finished") {
      ++sum.finished;
    } else if (cancelled) {
      ++sum.interrupted;
    } else {
      ++sum.failed;
      out << fmt::format("FAILED {} (run status: {}); see {}/{}-{}_{}.err\n", sweep.cells[i].id,
                         st[i].empty() ? "never started" : st[i], dir.string(), sweep.name, job, i);
    }
  }
  out << "\n" << sweep_table(sweep);
  out << fmt::format("\nsweep {}: {} finished, {} failed, {}{} skipped (finished before) of {} cells; job {}\n",
                     sweep.name, sum.finished, sum.failed,
                     cancelled ? fmt::format("{} cancelled, ", sum.interrupted) : std::string(), sum.skipped,
                     sum.total, job);
  out.flush();
  return sum;
}

int run_sweep_cell(const Sweep& sweep, std::size_t index, const std::vector<std::string>& plugin_paths) {
  if (index >= sweep.cells.size())
    throw Error("--cell " + std::to_string(index) + ": sweep " + sweep.name + " has cells 0.." +
                std::to_string(sweep.cells.size() - 1));
  const SweepCell& c = sweep.cells[index];
  RunRequest r;
  r.pipeline = sweep.base;
  r.sets = c.sets;
  r.results = sweep.results;
  r.strategies = {c.strategy};
  r.seeds = {c.seed};
  r.run_id = c.id;
  if (const char* cpus = std::getenv("SLURM_CPUS_PER_TASK"))
    if (std::none_of(c.sets.begin(), c.sets.end(), [](const std::string& s) { return s.rfind("run.threads=", 0) == 0; }))
      r.sets.push_back(std::string("run.threads=") + cpus);
  GlobalOptions g;
  g.plugin_paths = plugin_paths;
  return cmd_run(r, g);
}

}  // namespace quarry
