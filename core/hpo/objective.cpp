#include "core/hpo/objective.hpp"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/data/seeds.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/experiment.hpp"
#include "core/training/trainer.hpp"

namespace quarry {

TrialScore score_trial(Model& model, const Experiment& e, const TrainConfig& cfg,
                       const std::vector<std::int64_t>& labeled, const std::vector<ValidationSplit>& splits,
                       std::uint64_t seed) {
  TrialScore s;
  for (std::size_t k = 0; k < splits.size(); ++k) {
    std::vector<std::int64_t> train, val;
    for (auto i : splits[k].train) train.push_back(labeled[static_cast<std::size_t>(i)]);
    for (auto i : splits[k].validation) val.push_back(labeled[static_cast<std::size_t>(i)]);
    restore_weights(model, e.initial);
    // The same training draws for every trial (common random numbers): trials differ only in their setting.
    const auto tr = train_model(model, cfg, e.data.pool, e.data.mean, e.data.std, train,
                                mix_seed(mix_seed(seed, kSeedHpoSplit, k), kSeedTrain));
    if (tr.diverged) {
      s.failed = true;
      s.why = fmt::format("diverged at epoch {} on split {}", tr.diverged_epoch, k);
      return s;
    }
    const auto ev = evaluate(model, e.data.pool, e.data.mean, e.data.std, cfg.predict_batch_size, val, autocast_dtype(cfg));
    if (!std::isfinite(ev.accuracy)) {
      s.failed = true;
      s.why = fmt::format("non-finite validation accuracy on split {}", k);
      return s;
    }
    s.accuracy += ev.accuracy;
    s.nll += ev.nll;
  }
  s.accuracy /= static_cast<double>(splits.size());
  s.nll /= static_cast<double>(splits.size());
  return s;
}

}  // namespace quarry
