#include "core/al/run_record.hpp"

#include <cstdio>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "quarry/error.hpp"

namespace quarry {

namespace fs = std::filesystem;

std::string new_run_id(const std::string& study, const std::string& what, std::int64_t seed) {
  std::random_device rd;
  char hex[8];
  std::snprintf(hex, sizeof hex, "%06x", static_cast<unsigned>(rd() & 0xffffff));
  return study + "-" + what + "-s" + std::to_string(seed) + "-" + hex;
}

std::string hp_label(const TrainConfig& train) { return fmt::format("lr={:g} wd={:g}", train.lr, train.weight_decay); }

std::string model_label(const Pipeline& p) {
  if (!p.backbone.enabled) return p.model.name;
  return fmt::format("{} on {} ({})", p.model.name, fs::path(p.backbone.file).stem().string(),
                     p.backbone.finetune ? "fine-tuned" : "frozen");
}

RunRecord new_run_record(const Pipeline& p, const std::string& kind, const std::string& what, std::int64_t seed,
                         const std::string& id) {
  RunRecord r;
  r.id = id.empty() ? new_run_id(p.name, what, seed) : id;
  r.study = p.name;
  r.kind = kind;
  r.seed = seed;
  r.dataset = p.dataset.name;
  r.model = model_label(p);
  r.status = "running";
  r.pipeline = p.resolved_toml;
  r.hp_label = hp_label(p.train);
  return r;
}

std::size_t strategy_index_of(const Pipeline& p, const RunRecord& run) {
  const auto i = run.strategy_index;
  if (i >= 0 && static_cast<std::size_t>(i) < p.strategies.size() &&
      p.strategies[static_cast<std::size_t>(i)].name == run.strategy)
    return static_cast<std::size_t>(i);
  for (std::size_t k = 0; k < p.strategies.size(); ++k)
    if (p.strategies[k].name == run.strategy) return k;
  throw Error("run " + run.id + ": its strategy '" + run.strategy + "' is not in its stored pipeline");
}

fs::path create_run_folder(const Pipeline& p, const std::string& id) {
  const fs::path dir = fs::path(p.results) / id;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create the run folder " + dir.string() + ": " + ec.message());
  std::ofstream out(dir / "pipeline.toml");
  out << p.resolved_toml;
  if (!out) throw Error("cannot write " + (dir / "pipeline.toml").string());
  return dir;
}

}  // namespace quarry
