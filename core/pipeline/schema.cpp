#include "core/pipeline/schema.hpp"

#include "core/pipeline/pipeline.hpp"

namespace quarry {

// Each default is read from the settings structs (pipeline/settings.hpp, pipeline.hpp),
// so a default is written in one place only.

const std::vector<ParamSpec>& run_schema() {
  const Pipeline d;
  static const std::vector<ParamSpec> s = {
      param_string("name", "", "name of the study (default: the pipeline file's name)"),
      [&] {
        auto p = param_required("seeds", ParamType::IntList, "seeds; each (strategy, seed) pair is one run");
        p.default_value = ParamValue{d.seeds};
        p.min = 0;
        return p;
      }(),
      param_string("device", d.device, "auto | cpu | cuda | cuda:N"),
      param_int("threads", d.threads, "CPU threads for LibTorch (0 = LibTorch's default)", 0, 1024),
      param_string("results", d.results, "folder holding the results store (quarry.db) and per-run logs"),
      [&] {
        auto p = param_required("plugin_paths", ParamType::StringList, "extra folders to load plugins from");
        p.default_value = ParamValue{std::vector<std::string>{}};
        return p;
      }(),
      param_int("memory_budget_mb", d.memory_budget_mb, "memory a strategy may use for temporary matrices", 1, 1 << 20),
  };
  return s;
}

const std::vector<ParamSpec>& backbone_schema() {
  const BackboneConfig b;
  static const std::vector<ParamSpec> s = {
      param_required("file", ParamType::String,
                     "TorchScript file of a network mapping a normalised N x C x H x W batch to N x D features"),
      param_int("input_size", b.input_size, "images are resized to input_size x input_size for the backbone", 1, 8192),
      [&] {
        auto p = param_required("mean", ParamType::FloatList, "the backbone's per-channel normalisation mean");
        p.default_value = ParamValue{b.mean};
        return p;
      }(),
      [&] {
        auto p = param_required("std", ParamType::FloatList, "the backbone's per-channel normalisation std");
        p.default_value = ParamValue{b.std};
        p.min = 1e-12;
        return p;
      }(),
      param_bool("finetune", b.finetune,
                 "false: embed every image once and train the model (a head) on the embeddings; true: train backbone "
                 "and head end to end"),
      param_int("batch_size", b.batch_size, "images per forward pass while embedding", 1, 1 << 20),
      param_bool("cache", b.cache, "keep the embeddings in a file keyed by the backbone, the images and input_size"),
      param_string("cache_dir", b.cache_dir,
                   "where: empty = $QUARRY_CACHE_DIR/backbone, else $XDG_CACHE_HOME/quarry/backbone, else "
                   "~/.cache/quarry/backbone"),
  };
  return s;
}

const std::vector<ParamSpec>& dataset_core_schema() {
  const Pipeline d;
  static const std::vector<ParamSpec> s = {
      param_float("validation_fraction", d.validation_fraction, "share of the train split held out for validation (per seed)", 0.0, 0.9),
      param_int("pool_subset", d.pool_subset, "> 0: keep a seeded random subset of this many pool images (quick runs)", 0),
      param_int("test_subset", d.test_subset, "> 0: evaluate on the first N test images (quick runs)", 0),
  };
  return s;
}

const std::vector<ParamSpec>& train_schema() {
  const TrainConfig t;
  static const std::vector<ParamSpec> s = {
      param_int("epochs", t.epochs, "epochs per training", 1, 100000),
      param_int("batch_size", t.batch_size, "training batch size", 1, 1 << 20),
      param_float("lr", t.lr, "SGD learning rate", 1e-12, 100.0),
      param_float("weight_decay", t.weight_decay, "SGD weight decay", 0.0, 10.0),
      param_float("momentum", t.momentum, "SGD momentum", 0.0, 1.0),
      param_bool("nesterov", t.nesterov, "Nesterov momentum"),
      param_int("warmup_epochs", t.warmup_epochs, "linear warm-up from 0.01 x lr over this many epochs, then cosine to 0", 0, 100000),
      param_string("epoch_mode", t.epoch_mode, "sampled: floor(n/batch)+1 random batches (the reference); shuffled: one pass",
                   {"sampled", "shuffled"}),
      param_bool("augment", t.augment, "random crop with zero padding and horizontal flip"),
      param_int("crop_padding", t.crop_padding, "zero padding of the random crop", 0, 64),
      param_bool("flip", t.flip, "random horizontal flip (when augment = true)"),
      param_int("predict_batch_size", t.predict_batch_size, "batch size for evaluation and querying", 1, 1 << 20),
      param_string("init", t.init, "same: every cycle from the seed's initial weights; continue: from the last cycle's",
                   {"same", "continue"}),
      param_bool("mixed_precision", t.mixed_precision, "autocast on CUDA to train.precision (ignored on CPU)"),
      param_string("precision", t.precision,
                   "mixed precision dtype: bfloat16 (float32's range, no loss scaling; Ampere and newer) or float16 "
                   "(with dynamic loss scaling)",
                   {"bfloat16", "float16"}),
  };
  return s;
}

const std::vector<ParamSpec>& al_schema() {
  const LoopConfig l;
  static const std::vector<ParamSpec> s = {
      param_int("initial", l.initial, "random initial labels (ignored with initial_pool)", 1),
      param_string("initial_pool", l.initial_pool, "pool JSON (quarry pool export) to start from instead"),
      param_bool("class_balanced", l.class_balanced, "draw the initial labels class-balanced"),
      param_int("query_size", l.query_size, "labels acquired per cycle", 1),
      param_int("budget", l.budget, "labels at the end (the last cycle trains on this many)", 1),
      param_int("candidate_subset", l.candidate_subset, "unlabeled images a strategy scores per cycle (0 = all)", 0),
  };
  return s;
}

const std::vector<ParamSpec>& hpo_schema() {
  const HpoConfig h;
  static const std::vector<ParamSpec> s = {
      [&] {
        auto p = param_required("sizes", ParamType::IntList, "pool sizes after which to tune (e.g. [2000, 4000])");
        p.default_value = ParamValue{h.sizes};
        p.min = 1;
        return p;
      }(),
      param_int("every", h.every, "re-tune every N cycles during DAL and keep querying with the tuned setting (0 = off)", 0),
      param_int("trials", h.trials, "trials per search", 1, 100000),
      param_string("sampler", h.sampler, "tpe | random", {"tpe", "random"}),
      param_int("startup_trials", h.startup_trials, "random trials before TPE models the history", 0, 100000),
      param_int("splits", h.splits, "random validation splits per trial", 1, 100),
      param_float("split_fraction", h.split_fraction, "share of the pool in each validation split", 0.01, 0.5),
      param_int("folds", h.folds, "> 1: K-fold cross-validation instead of random splits", 0, 100),
      param_int("parallel", h.parallel, "trials run at once", 1, 64),
      param_int("fuse", h.fuse,
                "trials trained at once as one fused model (linear, mlp, small_cnn, wide_resnet; 1 = off)", 1,
                4096),
      param_bool("enqueue_current", h.enqueue_current, "first trial = the pipeline's own [train] setting"),
      param_string("pruner", h.pruner, "none | asha | hyperband: stop poor trials at rungs of fewer epochs",
                   {"none", "asha", "hyperband"}),
      param_int("min_epochs", h.min_epochs, "epochs of the first rung (0: epochs / reduction_factor^3, at least 1)", 0),
      param_int("reduction_factor", h.reduction_factor, "a rung promotes the best 1/reduction_factor of its trials", 2,
                100),
      param_int("brackets", h.brackets, "hyperband brackets (0: all that fit between min_epochs and epochs)", 0, 100),
      param_bool("at_initial", h.at_initial, "tune on the initial pool; every cycle, 0 included, trains with the result"),
      param_string("from_run", h.from_run, "RUN or RUN@SIZE: every cycle trains with that run's tuned setting"),
      param_string("from_store", h.from_store, "the store holding from_run: a results folder or a quarry.db (default: this run's)"),
  };
  return s;
}

}  // namespace quarry
