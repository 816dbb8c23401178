// What every kind of run shares: the dataset on the device, split per seed, and
// a model with the seed's initial weights.
#pragma once

#include <memory>
#include <string>

#include "core/pipeline/pipeline.hpp"
#include "core/data/device_data.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/trainer.hpp"

namespace quarry {

class PluginHost;

struct Experiment {
  std::shared_ptr<const DatasetData> dataset;  ///< as the plugin loaded it (CPU)
  PoolSplit split;
  DeviceData data;
  ModelSpec spec;
  std::shared_ptr<Model> model;  ///< on data.device, holding `initial` weights
  WeightSnapshot initial;
  torch::Device device = torch::kCPU;
};

/// Load the dataset (once per process for the same [dataset] table), validate the
/// plugin's output, split it for `seed`, move it to the device, and create the
/// model with the seed's initial weights. Applies run.threads.
Experiment prepare_experiment(const Pipeline& p, std::int64_t seed, const PluginHost& host, Logger& log);

/// A fresh model of the pipeline's architecture, initialised for `seed`, on `device`. With a
/// fine-tuned [backbone] it is the backbone in front of the model (training/backbone_model.hpp),
/// which needs the dataset's normalisation (data_mean, data_std: what the host applies).
std::shared_ptr<Model> make_model(const Pipeline& p, const ModelSpec& spec, std::int64_t seed, const PluginHost& host,
                                  torch::Device device, const std::vector<double>& data_mean = {},
                                  const std::vector<double>& data_std = {});

/// Train a fresh copy of the seed's initial weights on `labeled` with `cfg`, then evaluate on
/// test (and validation when it is not empty). Used by pool reuse and the tuned retraining.
struct TrainEval {
  TrainResult train;
  EvalResult test, validation;
};
TrainEval train_and_evaluate(Experiment& e, const TrainConfig& cfg, const std::vector<std::int64_t>& labeled,
                             std::uint64_t seed, Logger& log);

}  // namespace quarry
