// The settings of a pipeline's core sections, with their defaults: the one place a
// default lives (pipeline/schema.cpp declares each key with the default written here).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quarry {

struct TrainConfig {
  std::int64_t epochs = 200;
  std::int64_t batch_size = 32;
  double lr = 0.01;
  double weight_decay = 5e-4;
  double momentum = 0.9;
  bool nesterov = false;
  std::int64_t warmup_epochs = 10;
  std::string epoch_mode = "sampled";  ///< "sampled": floor(n/batch)+1 random batches; "shuffled": one pass
  bool augment = true;
  std::int64_t crop_padding = 4;
  bool flip = true;
  std::int64_t predict_batch_size = 128;
  std::string init = "same";  ///< "same": every cycle from the seed's initial weights; "continue"
  bool mixed_precision = false;  ///< autocast on CUDA (ignored on the CPU)
  std::string precision = "bfloat16";  ///< its dtype: "bfloat16", or "float16" with dynamic loss scaling
};

struct LoopConfig {
  std::int64_t initial = 100;
  std::string initial_pool;  ///< a pool JSON file (quarry pool export); empty = random initial labels
  bool class_balanced = false;
  std::int64_t query_size = 100;
  std::int64_t budget = 4000;
  std::int64_t candidate_subset = 10000;  ///< 0 = score the whole unlabeled pool
};

struct SearchDimension {
  std::string name;  ///< train key it sets: lr, weight_decay, momentum, epochs, batch_size, ...
  std::string type;  ///< log_uniform | uniform | int | categorical
  double low = 0, high = 0;
  bool log = false;
  std::vector<std::string> choices;
};

/// [backbone]: a TorchScript network that maps a normalised image batch to feature vectors.
struct BackboneConfig {
  bool enabled = false;   ///< the section is present
  std::string file;       ///< the TorchScript file (torch.jit.trace / torch.jit.script, then .save)
  std::int64_t input_size = 224;  ///< images are resized to input_size x input_size for it
  std::vector<double> mean{0.485, 0.456, 0.406};  ///< the backbone's own normalisation (ImageNet's)
  std::vector<double> std{0.229, 0.224, 0.225};
  bool finetune = false;  ///< false: embed every image once, train the head on the embeddings
  std::int64_t batch_size = 64;  ///< images per forward pass while embedding
  bool cache = true;             ///< keep the embeddings in a file keyed by backbone, data and input size
  std::string cache_dir;         ///< empty: $QUARRY_CACHE_DIR/backbone, ~/.cache/quarry/backbone
};

struct HpoConfig {
  bool enabled = false;
  std::vector<std::int64_t> sizes;  ///< pool sizes after which to tune (e.g. 2000, 4000)
  std::int64_t every = 0;           ///< re-tune every N cycles during DAL and keep querying with the result
  std::int64_t trials = 50;
  std::string sampler = "tpe";  ///< tpe | random
  std::int64_t startup_trials = 10;
  std::int64_t splits = 3;           ///< random validation splits
  double split_fraction = 0.1;       ///< of the pool, per split
  std::int64_t folds = 0;            ///< > 0: K-fold instead of random splits
  std::int64_t parallel = 1;
  std::int64_t fuse = 1;             ///< > 1: that many trials trained at once as one fused model
  bool enqueue_current = true;       ///< first trial = the pipeline's own setting
  std::vector<SearchDimension> space;
  // Multi-fidelity search (core/hpo/pruner.hpp): rungs are short full schedules of the budget's epochs.
  std::string pruner = "none";          ///< none | asha | hyperband
  std::int64_t min_epochs = 0;          ///< the first rung's epochs; 0: epochs / reduction_factor^3 (at least 1)
  std::int64_t reduction_factor = 3;    ///< eta: a rung keeps the best 1/eta
  std::int64_t brackets = 0;            ///< hyperband: brackets (0: all that fit between min_epochs and epochs)
  // The HPO regime of the DAL cycles (core/hpo/regime.hpp, docs/hpo.md); none set: cycle 0 trains with [train]
  bool at_initial = false;   ///< tune on the initial pool; every cycle (0 on) trains with the result
  std::string from_run;      ///< "RUN" or "RUN@SIZE": every cycle trains with that run's tuned setting
  std::string from_store;    ///< its store (a results folder or a quarry.db); empty: this run's
};

}  // namespace quarry
