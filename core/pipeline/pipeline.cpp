#include "core/pipeline/pipeline.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/pipeline/overrides.hpp"
#include "core/pipeline/schema.hpp"
#include "core/util/files.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace {

const toml::table empty;

/// [run]: study name (default: the file's stem), seeds, device, threads, results, plugins.
void read_run(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved) {
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
}

/// [dataset]: the dataset component, with Quarry's own keys (validation_fraction, pool_subset, test_subset) in its table.
void read_dataset(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved,
                  const ComponentCatalog* host) {
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

}

/// [model]
void read_model(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved,
                const ComponentCatalog* host) {
  const toml::table* m_t = toml_section(root, "model", file, true);
  p.model = read_component(*m_t, "model", file, ComponentKind::Model, host, {}, {}, nullptr);
  resolved.insert_or_assign("model", to_toml(p.model.params, p.model.name));
}

/// [train]: the training protocol.
void read_train(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved) {
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
  t.precision = tr.get_string("precision");
  if (t.nesterov && t.momentum <= 0) {
    const toml::node* n = tr_t ? tr_t->get("nesterov") : nullptr;
    throw Error((n ? where(*n, file) : file) + ": key 'train.nesterov': Nesterov needs momentum > 0");
  }
  resolved.insert_or_assign("train", to_toml(tr));
}

/// [al]: the loop: initial pool, query size, budget, candidates.
void read_al(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved) {
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
}

/// [[strategies]]: one or more strategy components, run in order.
void read_strategies(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved,
                     const ComponentCatalog* host) {
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
}

/// [backbone]: a TorchScript feature extractor in front of the model (optional).
void read_backbone(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved) {
  const toml::table* b_t = toml_section(root, "backbone", file, false);
  if (!b_t) return;
  Params b = read_table(*b_t, backbone_schema(), "backbone", file);
  auto& o = p.backbone;
  o.enabled = true;
  o.file = b.get_string("file");
  o.input_size = b.get_int("input_size");
  o.mean = b.get_float_list("mean");
  o.std = b.get_float_list("std");
  o.finetune = b.get_bool("finetune");
  o.batch_size = b.get_int("batch_size");
  o.cache = b.get_bool("cache");
  o.cache_dir = b.get_string("cache_dir");
  auto at = [&](const char* key) { return b_t->get(key) ? where(*b_t->get(key), file) : file; };
  if (o.mean.empty() || o.mean.size() != o.std.size())
    throw Error(at("std") + ": key 'backbone.std': " + std::to_string(o.std.size()) + " values for " +
                std::to_string(o.mean.size()) + " in backbone.mean; give one mean and one std per input channel");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.file, ec))
    throw Error(at("file") + ": key 'backbone.file': '" + o.file + "' " +
                (std::filesystem::exists(o.file, ec) ? "is not a file" : "does not exist") +
                " (a TorchScript file: torch.jit.trace(model, example).save(path))");
  resolved.insert_or_assign("backbone", to_toml(b));
}

/// hpo.pruner's parameters against [train] epochs and the space (the ladder itself: core/hpo/pruner.hpp).
void check_pruner(const toml::table& h_t, const std::string& file, const Pipeline& p) {
  const auto& o = p.hpo;
  const auto node = [&](const char* key) -> const toml::node& {
    const toml::node* n = h_t.get(key);
    return n ? *n : *h_t.get("pruner");
  };
  // The parameters stay valid when a sweep turns the pruner off (or brackets when it picks asha).
  if (o.pruner == "none") return;
  for (const auto& d : o.space)
    if (d.name == "epochs")
      fail_at(node("pruner"), file, "hpo.pruner",
              "a pruner measures rungs against a fixed [train] epochs: remove epochs from [hpo.space]");
  const std::int64_t epochs = p.train.epochs, eta = o.reduction_factor;
  std::int64_t min = o.min_epochs;
  if (min == 0) min = std::max<std::int64_t>(1, epochs / (eta * eta * eta));
  if (min >= epochs)
    fail_at(node("min_epochs"), file, h_t.get("min_epochs") ? "hpo.min_epochs" : "hpo.pruner",
            fmt::format("the first rung ({} epochs) must be below train.epochs ({}): no trial could be stopped early",
                        min, epochs));
  std::int64_t fit = 1;  // brackets: bracket s > 0 starts at min * eta^s when eta times that fits in epochs
  for (std::int64_t r = min * eta; r * eta <= epochs; r *= eta) ++fit;
  if (o.pruner == "hyperband" && o.brackets > fit)
    fail_at(*h_t.get("brackets"), file, "hpo.brackets",
            fmt::format("{} brackets do not fit: with min_epochs {}, reduction_factor {} and {} epochs at most {}",
                        o.brackets, min, eta, epochs, fit));
}

/// hpo.at_initial, hpo.from_run and hpo.from_store: one starting setting, named well.
void check_hpo_regime(const toml::table& h_t, const std::string& file, const HpoConfig& o) {
  if (o.at_initial && !o.from_run.empty())
    fail_at(*h_t.get("from_run"), file, "hpo.from_run",
            "hpo.at_initial = true tunes the starting setting itself; drop one of the two (hpo.every may go with either)");
  if (!o.from_store.empty() && o.from_run.empty())
    fail_at(*h_t.get("from_store"), file, "hpo.from_store", "names the store of hpo.from_run, which is not set");
  if (o.from_run.empty()) return;
  const auto at = o.from_run.rfind('@');
  const std::string run = o.from_run.substr(0, at);
  const std::string size = at == std::string::npos ? "" : o.from_run.substr(at + 1);
  if (run.empty() || (at != std::string::npos && (size.empty() || size.find_first_not_of("0123456789") != std::string::npos)))
    fail_at(*h_t.get("from_run"), file, "hpo.from_run",
            "expected \"RUN\" or \"RUN@SIZE\" (a run id or unique prefix, and a pool size its search tuned on)");
}

/// [hpo]: the search, and its space (the protocol's lr/weight_decay space when none is given).
void read_hpo(const toml::table& root, const std::string& file, Pipeline& p, toml::table& resolved) {
  const toml::table* h_t = toml_section(root, "hpo", file, false);
  if (!h_t) return;
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
  o.fuse = h.get_int("fuse");
  o.enqueue_current = h.get_bool("enqueue_current");
  o.pruner = h.get_string("pruner");
  o.min_epochs = h.get_int("min_epochs");
  o.reduction_factor = h.get_int("reduction_factor");
  o.brackets = h.get_int("brackets");
  if (o.folds == 1) fail_at(*h_t->get("folds"), file, "hpo.folds", "K-fold needs folds >= 2 (0 = random splits)");
  o.at_initial = h.get_bool("at_initial");
  o.from_run = h.get_string("from_run");
  o.from_store = h.get_string("from_store");
  check_hpo_regime(*h_t, file, o);
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
  check_pruner(*h_t, file, p);
  tr_h.insert_or_assign("space", std::move(space_out));
  resolved.insert_or_assign("hpo", std::move(tr_h));
}

}  // namespace

std::string Pipeline::where(const std::string& key) const {
  const auto it = positions.find(key);
  return it != positions.end() ? it->second : file;
}

std::vector<std::string> peek_plugin_paths(const std::string& path) {
  try {
    return peek_plugin_paths(read_text_file(path, "pipeline file"), path);
  } catch (...) {
    return {};  // parse_pipeline reports the problem properly
  }
}

std::vector<std::string> peek_plugin_paths(const std::string& text, const std::string& file) {
  try {
    const auto root = parse_toml(text, file);
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
  return parse_pipeline(read_text_file(path, "pipeline file"), path, overrides, host);
}

Pipeline parse_pipeline(const std::string& text, const std::string& file, const std::vector<std::string>& overrides,
                        const ComponentCatalog* host) {
  toml::table root = parse_toml(text, file);
  for (const auto& o : overrides) apply_override(root, o);
  OverrideScope override_scope(&overrides);

  static const std::set<std::string> sections = {"run", "dataset", "model", "train", "al", "strategies", "hpo",
                                                 "backbone"};
  for (auto&& [k, v] : root)
    if (!sections.count(std::string(k.str())))
      fail_at(v, file, std::string(k.str()), "unknown section (known: run dataset model train al strategies hpo backbone)");

  Pipeline p;
  p.file = file;
  record_positions(root, "", file, p.positions);
  toml::table resolved;
  read_run(root, file, p, resolved);
  read_dataset(root, file, p, resolved, host);
  read_model(root, file, p, resolved, host);
  read_train(root, file, p, resolved);
  read_al(root, file, p, resolved);
  read_strategies(root, file, p, resolved, host);
  read_hpo(root, file, p, resolved);
  read_backbone(root, file, p, resolved);
  std::ostringstream os;
  os << resolved;
  p.resolved_toml = os.str();
  return p;
}

}  // namespace quarry
