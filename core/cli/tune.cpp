// quarry tune: hyper-parameter optimisation on a labeled pool (docs/hpo.md).
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "core/cli/cli.hpp"
#include "core/host/discovery.hpp"
#include "core/host/plugin_host.hpp"
#include "core/hpo/tune.hpp"
#include "quarry/error.hpp"

namespace quarry::cli {

namespace {

int tune_command(const TuneRequest& r, const GlobalOptions& g) {
  PluginHost host(console());
  discover_plugins(host, g.plugin_paths, r.pipeline);
  const auto t = tune_pool(r, host);
  const auto& s = t.search;
  std::cout << "\nsearch " << s.result.search << " (" << t.size << " labels from " << t.run.source_run << "):\n"
            << trials_table(s.trials, s.best)
            << fmt::format("\nbest: {}  mean val acc {:.2f}%\nretrained on all {} labels: test acc {:.2f}%, NLL {:.4f}\n",
                           s.result.best_params_json, 100 * s.result.best_value, t.size, 100 * s.result.test_accuracy,
                           s.result.test_nll)
            << "run " << t.run.id << " in " << (std::filesystem::path(t.results) / "quarry.db").string()
            << "; `quarry show " << t.run.id << " --results " << t.results << "`\n";
  return 0;
}

QUARRY_COMMAND(55) {
  auto o = std::make_shared<TuneRequest>();
  auto* tune = app.add_subcommand(
      "tune",
      "Tune the [train] setting on a labeled pool (the pipeline's [hpo] table; without one: TPE, 50 trials, lr and\n"
      "weight_decay log-uniform on [1e-5, 1e-1], 3 validation splits of 10%), then retrain on the whole pool with\n"
      "the best setting and report test accuracy and NLL. Every trial is stored; a killed search resumes.\n"
      "  quarry tune configs/quickstart.toml --pool RUN@400 --set hpo.trials=20\n"
      "  quarry tune configs/quickstart.toml --pool-file pool.json\n"
      "  quarry tune --resume TUNE_RUN [--results DIR]   continue an interrupted search");
  tune->add_option("pipeline", o->pipeline, "pipeline TOML file (its [train], [model], [dataset] and [hpo])");
  tune->add_option("--pool", o->pool, "the labeled pool of run RUN (in the results store), at SIZE labels (default: all)");
  tune->add_option("--pool-file", o->pool_file, "a pool JSON file (quarry pool export)");
  tune->add_option("--set", o->sets, "override a key: --set hpo.trials=20 --set train.epochs=10 (repeatable)");
  tune->add_option("--results", o->results, "results folder holding quarry.db (default: the pipeline's [run] results; "
                                            "\"runs\" with --resume)");
  tune->add_option("--resume", o->resume, "continue tune run TUNE_RUN: finished trials are kept, the rest are run");
  return [o, &g] {
    if (o->resume.empty() && o->pipeline.empty())
      throw Error("quarry tune: give a pipeline file and --pool RUN[@SIZE] or --pool-file FILE, or --resume TUNE_RUN");
    if (!o->resume.empty() && (!o->pipeline.empty() || !o->pool.empty() || !o->pool_file.empty() || !o->sets.empty()))
      throw Error("quarry tune --resume continues with the stored pipeline and pool; give only --results with it");
    return tune_command(*o, g);
  };
}

}  // namespace

}  // namespace quarry::cli
