#include "core/hpo/fused_trials.hpp"

#include <cmath>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/data/seeds.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/experiment.hpp"
#include "core/training/fused_trainer.hpp"
#include "core/training/mixed_precision.hpp"

namespace quarry {

std::vector<TrialScore> score_trials(const Pipeline& p, Model& model, const Experiment& e,
                                     const std::vector<TrainConfig>& cfgs, const std::vector<std::int64_t>& labeled,
                                     const std::vector<ValidationSplit>& splits, std::uint64_t seed, Logger& log) {
  auto one_by_one = [&] {
    std::vector<TrialScore> out;
    for (const auto& cfg : cfgs) out.push_back(score_trial(model, e, cfg, labeled, splits, seed));
    return out;
  };
  if (cfgs.size() < 2) return one_by_one();
  std::string why;
  if (p.backbone.enabled && p.backbone.finetune) why = "a fine-tuned [backbone] is not fused";
  // Member (t, k): trial t on split k, with score_trial's training seed for split k. Members
  // whose labeled sets differ in size (K-fold) cannot share steps: one fused model per size.
  struct Group {
    std::vector<FusedMember> members;
    std::vector<std::pair<std::size_t, std::size_t>> trial_split;
    std::unique_ptr<FusedTraining> training;
  };
  std::map<std::size_t, Group> groups;
  restore_weights(model, e.initial);
  for (std::size_t t = 0; t < cfgs.size() && why.empty(); ++t)
    for (std::size_t k = 0; k < splits.size(); ++k) {
      FusedMember m;
      m.cfg = cfgs[t];
      for (auto i : splits[k].train) m.indices.push_back(labeled[static_cast<std::size_t>(i)]);
      m.seed = mix_seed(mix_seed(seed, kSeedHpoSplit, k), kSeedTrain);  // as score_trial seeds split k
      m.initial = &model;
      auto& g = groups[m.indices.size()];
      g.members.push_back(std::move(m));
      g.trial_split.emplace_back(t, k);
    }
  for (auto& [size, g] : groups) {
    if (!why.empty()) break;
    g.training = FusedTraining::make(p.model.name, p.model.params, g.members, e.data.pool, e.data.mean, e.data.std, why);
  }
  if (!why.empty()) {
    log.info(fmt::format("hpo.fuse: {} trials of model '{}' trained one by one: {}", cfgs.size(), p.model.name, why));
    return one_by_one();
  }
  // Results by (trial, split), then scored in split order as score_trial scores them.
  std::vector<std::vector<TrainResult>> trained(cfgs.size(), std::vector<TrainResult>(splits.size()));
  std::vector<std::vector<std::pair<Group*, std::size_t>>> where(cfgs.size(), std::vector<std::pair<Group*, std::size_t>>(splits.size()));
  for (auto& [size, g] : groups) {
    const auto r = g.training->run();
    for (std::size_t j = 0; j < r.size(); ++j) {
      trained[g.trial_split[j].first][g.trial_split[j].second] = r[j];
      where[g.trial_split[j].first][g.trial_split[j].second] = {&g, j};
    }
  }
  std::vector<TrialScore> out(cfgs.size());
  for (std::size_t t = 0; t < cfgs.size(); ++t) {
    auto& s = out[t];
    for (std::size_t k = 0; k < splits.size(); ++k) {
      const auto& tr = trained[t][k];
      if (tr.diverged) {
        s.failed = true;
        s.why = fmt::format("diverged at epoch {} on split {}", tr.diverged_epoch, k);
        break;
      }
      std::vector<std::int64_t> val;
      for (auto i : splits[k].validation) val.push_back(labeled[static_cast<std::size_t>(i)]);
      restore_weights(model, e.initial);
      where[t][k].first->training->load_member(where[t][k].second, model);
      const auto ev = evaluate(model, e.data.pool, e.data.mean, e.data.std, cfgs[t].predict_batch_size, val,
                               autocast_dtype(cfgs[t]));
      if (!std::isfinite(ev.accuracy)) {
        s.failed = true;
        s.why = fmt::format("non-finite validation accuracy on split {}", k);
        break;
      }
      s.accuracy += ev.accuracy;
      s.nll += ev.nll;
    }
    if (!s.failed) {
      s.accuracy /= static_cast<double>(splits.size());
      s.nll /= static_cast<double>(splits.size());
    }
  }
  return out;
}

}  // namespace quarry
