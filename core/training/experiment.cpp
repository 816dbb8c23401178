#include "core/training/experiment.hpp"

#include <map>
#include <mutex>

#include <torch/torch.h>

#include "core/data/backbone.hpp"
#include "core/data/seeds.hpp"
#include "core/training/backbone_model.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/util/log.hpp"
#include "core/host/plugin_host.hpp"
#include "quarry/error.hpp"

namespace quarry {

namespace {
std::mutex& model_init_mutex() {
  static std::mutex m;  // model construction draws from the global generator
  return m;
}
}  // namespace

std::shared_ptr<Model> make_model(const Pipeline& p, const ModelSpec& spec, std::int64_t seed, const PluginHost& host,
                                  torch::Device device, const std::vector<double>& data_mean,
                                  const std::vector<double>& data_std) {
  std::lock_guard<std::mutex> lock(model_init_mutex());
  torch::manual_seed(mix_seed(static_cast<std::uint64_t>(seed), kSeedInit));
  std::string who = "model '" + p.model.name + "' (" + host.get(ComponentKind::Model, p.model.name).file + ")";
  std::shared_ptr<Model> model;
  if (p.backbone.enabled && p.backbone.finetune) {
    // The backbone's features are the head's input: the head is made for feature vectors.
    if (data_mean.empty()) throw Error("internal: a fine-tuned backbone needs the dataset's mean/std");
    auto backbone = load_backbone(p.backbone.file, device);
    ModelSpec head_spec = spec;
    head_spec.in_channels = head_spec.height = head_spec.width = 0;
    head_spec.input_dim = backbone_feature_dim(*backbone, p.backbone, spec.in_channels, device);
    auto head = host.make_model(p.model.name, p.model.params, head_spec);
    head->to(device);
    model = std::make_shared<BackboneModel>(std::move(backbone), std::move(head), p.backbone, data_mean, data_std);
    who = "backbone " + p.backbone.file + " + " + who;
  } else {
    model = host.make_model(p.model.name, p.model.params, spec);
  }
  model->to(device);
  model->train(false);
  // A model plugin's output is checked once, on two images, before any training.
  torch::NoGradGuard ng;
  const auto opts = torch::TensorOptions().device(device);
  auto probe = spec.input_dim > 0 ? torch::zeros({2, spec.input_dim}, opts)
                                  : torch::zeros({2, spec.in_channels, spec.height, spec.width}, opts);
  ModelOutput out;
  try {
    out = model->forward(probe);
  } catch (const c10::Error& err) {
    throw Error(who + " failed on a probe batch of shape " + c10::str(probe.sizes()) + ": " + err.what_without_backtrace() +
                (spec.input_dim > 0 ? std::string(" (the dataset gives feature vectors; use a head model such as "
                                                  "linear or mlp)")
                                    : std::string()));
  }
  if (!out.logits.defined() || out.logits.dim() != 2 || out.logits.size(0) != 2 || out.logits.size(1) != spec.num_classes)
    throw Error(who + " returned logits of shape " +
                (out.logits.defined() ? c10::str(out.logits.sizes()) : std::string("(none)")) + ", expected [2, " +
                std::to_string(spec.num_classes) + "]");
  if (!out.features.defined() || out.features.dim() != 2 || out.features.size(0) != 2 ||
      out.features.size(1) != model->feature_dim())
    throw Error(who + " returned features of shape " +
                (out.features.defined() ? c10::str(out.features.sizes()) : std::string("(none)")) +
                ", expected [2, feature_dim() = " + std::to_string(model->feature_dim()) + "]");
  return model;
}

Experiment prepare_experiment(const Pipeline& p, std::int64_t seed, const PluginHost& host, Logger& log) {
  static std::mutex cache_mutex;
  static std::map<std::string, std::shared_ptr<const DatasetData>> cache;
  if (p.threads > 0) torch::set_num_threads(static_cast<int>(p.threads));
  Experiment e;
  e.device = resolve_device(p.device);
  const std::string key = p.dataset.name + "|" + [&] {
    std::string s;
    for (const auto& [k, v] : p.dataset.params.values()) s += k + "=" + to_string(v) + ";";
    if (p.backbone.enabled && !p.backbone.finetune)  // the embeddings are what is kept
      s += "|backbone=" + p.backbone.file + ";" + std::to_string(p.backbone.input_size) + ";" + e.device.str();
    return s;
  }();
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(key);
    if (it == cache.end()) {
      const double t0 = now_seconds();
      auto ds = host.make_dataset(p.dataset.name, p.dataset.params);
      auto data = std::make_shared<DatasetData>(ds->load(log));
      validate_dataset(*data, "dataset '" + p.dataset.name + "' (" +
                                  host.get(ComponentKind::Dataset, p.dataset.name).file + ")");
      if (data->train.has_features())
        log.info(fmt::format("loaded {}: {} train, {} test feature vectors of {}, {} classes ({:.1f}s)", p.dataset.name,
                             data->train.size(), data->test.size(), data->train.features.size(1),
                             data->class_names.size(), now_seconds() - t0));
      else
        log.info(fmt::format("loaded {}: {} train, {} test images of {}x{}x{}, {} classes ({:.1f}s)", p.dataset.name,
                             data->train.size(), data->test.size(), data->train.images.size(1),
                             data->train.images.size(2), data->train.images.size(3), data->class_names.size(),
                             now_seconds() - t0));
      if (p.backbone.enabled && !p.backbone.finetune) {
        data = std::make_shared<DatasetData>(embed_dataset(*data, p.backbone, e.device, log));
        validate_dataset(*data, "backbone " + p.backbone.file);
      }
      it = cache.emplace(key, std::move(data)).first;
    }
    e.dataset = it->second;
  }
  const auto& d = *e.dataset;
  e.split = split_pool(d.train.size(), p.validation_fraction, static_cast<std::uint64_t>(seed), p.pool_subset);
  e.data = to_device(d, e.split, e.device, p.test_subset);
  const auto num_classes = static_cast<std::int64_t>(d.class_names.size());
  e.spec = d.train.has_features()
               ? ModelSpec{0, 0, 0, num_classes, d.train.features.size(1)}
               : ModelSpec{d.train.images.size(1), d.train.images.size(2), d.train.images.size(3), num_classes};
  if (d.train.has_features() && p.train.augment)
    log.info("train.augment = true has no effect on feature vectors (only images are augmented)");
  e.model = make_model(p, e.spec, seed, host, e.device, d.mean, d.std);
  e.initial = snapshot_weights(*e.model);
  return e;
}

TrainEval train_and_evaluate(Experiment& e, const TrainConfig& cfg, const std::vector<std::int64_t>& labeled,
                             std::uint64_t seed, Logger& log) {
  TrainEval r;
  restore_weights(*e.model, e.initial);
  r.train = train_model(*e.model, cfg, e.data.pool, e.data.mean, e.data.std, labeled, seed, &log);
  r.test = evaluate(*e.model, e.data.test, e.data.mean, e.data.std, cfg.predict_batch_size, {}, autocast_dtype(cfg));
  if (e.data.validation.size() > 0)
    r.validation = evaluate(*e.model, e.data.validation, e.data.mean, e.data.std, cfg.predict_batch_size, {},
                            autocast_dtype(cfg));
  else
    r.validation.accuracy = -1;
  return r;
}

}  // namespace quarry
