// Training M models of one architecture as one fused model (core/training/fused_net.hpp):
// each member with its own setting (lr, weight decay, momentum, Nesterov, its warm-up +
// cosine schedule, augmentation), its own labeled indices and its own seeded batches and
// draws, giving the weights train_model gives each member alone, up to float rounding
// (tests/test_fused.cpp states the tolerance).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/data/device_data.hpp"
#include "core/pipeline/settings.hpp"
#include "core/training/trainer.hpp"
#include "quarry/logger.hpp"
#include "quarry/model.hpp"
#include "quarry/params.hpp"

namespace quarry {

class FusedNet;

/// One of the trainings to fuse: what train_model(*initial, cfg, data, ..., indices, seed) does.
struct FusedMember {
  TrainConfig cfg;
  std::vector<std::int64_t> indices;  ///< pool indices it trains on
  std::uint64_t seed = 0;             ///< its training seed
  Model* initial = nullptr;           ///< a model holding its initial weights (members may share one)
};

/// Why `members` cannot train as one fused model, "" when they can: the settings a fused
/// step shares (epochs, batch size, epoch mode, labeled-set size, precision) must agree.
std::string fusion_mismatch(const std::vector<FusedMember>& members, const torch::Device& device);

class FusedTraining {
 public:
  /// The fused training of `members` of model plugin `model` (with `params`) on `data`, or
  /// nullptr and `why` when it cannot be fused (fusion_mismatch, make_fused_net).
  static std::unique_ptr<FusedTraining> make(const std::string& model, const Params& params,
                                             std::vector<FusedMember> members, const DeviceSplit& data,
                                             const torch::Tensor& mean, const torch::Tensor& std, std::string& why);
  ~FusedTraining();

  /// Train every member; result k is member k's, as train_model would report it (seconds: the
  /// fused wall time shared equally). A member whose loss turns non-finite is diverged from
  /// that epoch on and frozen; the others go on.
  std::vector<TrainResult> run(Logger* log = nullptr);

  /// Member k's trained weights into `into` (a model of the same architecture holding member
  /// k's initial weights), in eval mode, then, as train_model does, after_training() on its
  /// labeled set when the model fits after training and member k did not diverge.
  void load_member(std::size_t k, Model& into) const;

  std::int64_t streams() const;  ///< distinct input streams (members sharing batches share one)

  /// Feature vectors: an epoch's rows of all streams are gathered at once up to this many
  /// bytes (32 MiB), batch by batch above it. The same numbers either way.
  void set_epoch_gather_bytes(std::int64_t bytes) { epoch_gather_bytes_ = bytes; }

 private:
  FusedTraining() = default;
  std::vector<FusedMember> members_;
  std::vector<std::int64_t> slot_;  ///< member k is fused member slot_[k]
  std::vector<std::size_t> stream_members_;  ///< one member of each stream, by stream
  std::unique_ptr<FusedNet> net_;
  DeviceSplit data_;
  torch::Tensor mean_, std_;
  std::vector<TrainResult> results_;
  std::int64_t epoch_gather_bytes_ = std::int64_t{32} << 20;
};

}  // namespace quarry
