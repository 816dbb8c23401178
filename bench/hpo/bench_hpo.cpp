// Multi-fidelity hyper-parameter search, for bench/hpo/run.sh (docs/hpo.md, "Multi-fidelity search").
//
//   bench_hpo search PIPELINE POOL SEED PRUNER [--set k=v ...]
//       one search (hpo.pruner = PRUNER) on POOL labels drawn from the seed's pool: one JSON
//       line with the best validation accuracy, the retrained model's test accuracy and the
//       training epochs the trials spent.
//   bench_hpo rungs PIPELINE POOL SEED CONFIGS [--set k=v ...]
//       CONFIGS random settings of the [hpo] space, each scored (mean validation accuracy over
//       the splits) after its full training, at the prefixes of that curve ending at the ASHA
//       rungs, and after short full schedules of the rungs' epochs: one JSON line per setting.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/data/seeds.hpp"
#include "core/host/plugin_host.hpp"
#include "core/hpo/fidelity.hpp"
#include "core/hpo/pruner.hpp"
#include "core/hpo/search.hpp"
#include "core/hpo/splits.hpp"
#include "core/hpo/train_space.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/experiment.hpp"
#include "core/training/trainer.hpp"
#include "core/util/log.hpp"
#include "quarry/error.hpp"

namespace {

using namespace quarry;

struct QuietLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string& m) override { std::cerr << m << "\n"; }
};

/// POOL pool indices drawn from the seed's pool, ascending.
std::vector<std::int64_t> labeled_pool(const Experiment& e, std::int64_t size, std::int64_t seed) {
  const auto n = static_cast<std::int64_t>(e.split.pool.size());
  if (size > n) throw Error("the pool has " + std::to_string(n) + " images, asked for " + std::to_string(size));
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 gen(mix_seed(static_cast<std::uint64_t>(seed), 0xbe9c4u));
  std::shuffle(all.begin(), all.end(), gen);
  all.resize(static_cast<std::size_t>(size));
  std::sort(all.begin(), all.end());
  return all;
}

/// Mean validation accuracy over the splits after the first `stop` epochs of cfg's schedule.
double prefix_score(Model& model, const Experiment& e, const TrainConfig& cfg, const std::vector<std::int64_t>& labeled,
                    const std::vector<ValidationSplit>& splits, std::uint64_t seed, std::int64_t stop) {
  double sum = 0;
  for (std::size_t k = 0; k < splits.size(); ++k) {
    std::vector<std::int64_t> train, val;
    for (auto i : splits[k].train) train.push_back(labeled[static_cast<std::size_t>(i)]);
    for (auto i : splits[k].validation) val.push_back(labeled[static_cast<std::size_t>(i)]);
    restore_weights(model, e.initial);
    // The draws score_trial uses, so the prefix ending at cfg.epochs is the full training.
    const auto tr = train_model(model, cfg, e.data.pool, e.data.mean, e.data.std, train,
                                mix_seed(mix_seed(seed, kSeedHpoSplit, k), kSeedTrain), nullptr, stop);
    if (tr.diverged) return std::nan("");
    sum += evaluate(model, e.data.pool, e.data.mean, e.data.std, cfg.predict_batch_size, val).accuracy;
  }
  return sum / static_cast<double>(splits.size());
}

int run(int argc, char** argv) {
  if (argc < 6) {
    std::cerr << "usage: bench_hpo search PIPELINE POOL SEED none|asha|hyperband [--set k=v ...]\n"
                 "       bench_hpo rungs PIPELINE POOL SEED CONFIGS [--set k=v ...]\n";
    return 2;
  }
  const std::string mode = argv[1], file = argv[2];
  const std::int64_t pool = std::stoll(argv[3]), seed = std::stoll(argv[4]);
  const std::string arg = argv[5];
  std::vector<std::string> sets;
  for (int i = 6; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) != "--set") throw Error(std::string("unexpected argument ") + argv[i]);
    sets.push_back(argv[i + 1]);
  }
  const auto results = std::filesystem::temp_directory_path() / ("quarry-bench-hpo-" + std::to_string(::getpid()));
  std::filesystem::remove_all(results);
  sets.push_back("run.results=" + results.string());
  if (mode == "search") sets.push_back("hpo.pruner=" + arg);
  QuietLogger log;
  PluginHost host(log);
  host.load_directory(QUARRY_PLUGIN_DIR);
  const Pipeline p = load_pipeline(file, sets, &host);
  Experiment e = prepare_experiment(p, seed, host, log);
  const auto labeled = labeled_pool(e, pool, seed);

  if (mode == "search") {
    Store store(results / "quarry.db");
    const double t0 = now_seconds();
    const auto out = run_search(p, e, labeled, p.train, seed, host, store, "bench/" + std::to_string(pool), "bench", log);
    int pruned = 0;
    for (const auto& t : out.trials) pruned += t.state == "pruned";
    std::printf("{\"pruner\": \"%s\", \"seed\": %lld, \"pool\": %lld, \"trials\": %zu, \"pruned\": %d, "
                "\"best_val\": %.6f, \"test_accuracy\": %.6f, \"epochs\": %lld, \"seconds\": %.2f, "
                "\"eta\": %lld, \"best\": %s}\n",
                arg.c_str(), static_cast<long long>(seed), static_cast<long long>(pool), out.trials.size(), pruned,
                out.result.best_value, out.result.test_accuracy, static_cast<long long>(out.epochs_trained),
                now_seconds() - t0, static_cast<long long>(p.hpo.reduction_factor), out.result.best_params_json.c_str());
  } else if (mode == "rungs") {
    const int configs = std::stoi(arg);
    HpoConfig asha = p.hpo;
    asha.pruner = "asha";
    const hpo::Pruner pruner(hpo::pruner_options(asha, p.train.epochs));
    const auto& ladder = pruner.rungs(0);
    const auto space = search_space_of(p.hpo);
    const hpo::RandomSampler sampler(mix_seed(static_cast<std::uint64_t>(seed), kSeedHpoSampler));
    const auto splits = validation_splits(static_cast<std::int64_t>(labeled.size()), p.hpo, static_cast<std::uint64_t>(seed));
    auto model = make_model(p, e.spec, seed, host, e.device, e.dataset->mean, e.dataset->std);
    for (int c = 0; c < configs; ++c) {
      const auto a = sampler.sample(space, {}, c);
      const auto cfg = apply_assignment(space, a, p.train);
      std::string prefix, schedule;
      for (std::size_t k = 0; k + 1 < ladder.size(); ++k) {
        const double pv = prefix_score(*model, e, cfg, labeled, splits, static_cast<std::uint64_t>(seed), ladder[k]);
        const auto sv = score_trial(*model, e, rung_config(cfg, ladder[k]), labeled, splits, static_cast<std::uint64_t>(seed));
        prefix += (k ? ", " : "") + std::to_string(pv);
        schedule += (k ? ", " : "") + std::to_string(sv.failed ? std::nan("") : sv.accuracy);
      }
      const auto full = score_trial(*model, e, cfg, labeled, splits, static_cast<std::uint64_t>(seed));
      std::string rungs;
      for (std::size_t k = 0; k + 1 < ladder.size(); ++k) rungs += (k ? ", " : "") + std::to_string(ladder[k]);
      std::printf("{\"seed\": %lld, \"config\": %d, \"params\": %s, \"rungs\": [%s], \"prefix\": [%s], "
                  "\"schedule\": [%s], \"final\": %f}\n",
                  static_cast<long long>(seed), c, params_json(space, a).c_str(), rungs.c_str(), prefix.c_str(),
                  schedule.c_str(), full.failed ? std::nan("") : full.accuracy);
      std::fflush(stdout);
    }
  } else {
    throw Error("unknown mode '" + mode + "' (search | rungs)");
  }
  std::filesystem::remove_all(results);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "bench_hpo: " << e.what() << "\n";
    return 1;
  }
}
