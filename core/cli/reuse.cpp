// quarry reuse: train another architecture (or other hyper-parameters) on saved pools.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "core/cli/cli.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/reuse/reuse.hpp"

namespace quarry::cli {

namespace {

namespace fs = std::filesystem;

int reuse_command(const ReuseRequest& r, const GlobalOptions& g) {
  SpdLogger& log = console();
  PluginHost host(log);
  discover_plugins(host, g.plugin_paths, r.pipeline);
  std::string results;
  const auto ids = reuse_pools(r, host, log, &results);
  Store store(fs::path(results) / "quarry.db");
  std::cout << fmt::format("{:<48} {:<36} {:>7} {:>8} {:>8}\n", "REUSE RUN", "SOURCE", "LABELS", "TEST%", "NLL");
  for (const auto& id : ids) {
    const auto run = store.find_run(id);
    const auto cycles = store.cycles(id);
    if (!run || cycles.empty()) continue;
    std::cout << fmt::format("{:<48} {:<36} {:>7} {:>8.2f} {:>8.4f}\n", id, run->source_run.empty() ? "(file)" : run->source_run,
                             cycles[0].labeled, 100 * cycles[0].test_accuracy, cycles[0].test_nll);
  }
  store.export_csv(fs::path(results) / "csv");
  return 0;
}


QUARRY_COMMAND(57) {
  auto o = std::make_shared<ReuseRequest>();
  auto* reuse = app.add_subcommand(
      "reuse",
      "Train the pipeline's model and training setting on pools collected by earlier runs (pool reusability):\n"
      "one 'reuse' run per pool, linked to its source run and size, with test accuracy, NLL and ECE.\n"
      "  quarry reuse configs/quickstart.toml --set model.name=resnet18 --pool quickstart-entropy@400\n"
      "  quarry reuse configs/quickstart.toml --pool RUN_A@300 --pool RUN_B@300 --tune   (HP search first)\n"
      "  quarry reuse configs/paper/reuse_wrn.toml --pool table1-cifar10@2000   (every run of a study)");
  reuse->add_option("pipeline", o->pipeline, "pipeline TOML file: the target [model], [train], [dataset] ([hpo] with --tune)")
      ->required();
  reuse->add_option("--pool", o->pools,
                    "RUN@SIZE: run RUN's pool at SIZE labels (default: its last); RUN may be an id, a unique id prefix\n"
                    "or a study name (every active-learning run of the study); repeatable");
  reuse->add_option("--pool-file", o->pool_files, "a pool JSON file (quarry pool export), repeatable");
  reuse->add_option("--set", o->sets, "override a key: --set model.name=vgg11_bn --set train.lr=0.05 (repeatable)");
  reuse->add_flag("--tune", o->tune, "run the hyper-parameter search on each pool, then train with the best setting");
  reuse->add_option("--results", o->results, "results folder holding quarry.db (default: the pipeline's [run] results)");
  return [o, &g] { return reuse_command(*o, g); };
}

}  // namespace

}  // namespace quarry::cli
