// M models of one architecture as ONE fused network (HFTA, Wang et al. MLSys 2021): each
// parameter and buffer of the M members stacked on a leading member dimension, computed
// with batched matrix products (torch::baddbmm), grouped convolutions (groups = members)
// and batch norm over M x C channels (per channel, so it stacks exactly). Used by the fused
// trainer (core/training/fused_trainer.hpp) to train K trials of a search at once.
//
// Models are plugins: the host cannot see their code, only their parameters. A fused
// equivalent is built for an in-tree architecture recognised by its name and by the names
// and shapes of its parameters, then checked against the plugin's own forward on a probe
// batch (eval and training mode, running statistics included); anything else is not fused.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "quarry/model.hpp"
#include "quarry/params.hpp"

namespace quarry {

/// Members are laid out by input stream: `streams` (G) distinct input batches per step, each
/// shared by M / G consecutive members (trials on the same batches, as a search's common random
/// numbers give; G = M when every member has batches of its own).
class FusedNet {
 public:
  virtual ~FusedNet() = default;
  std::int64_t members() const { return members_; }
  std::int64_t streams() const { return streams_; }

  /// x: G x B x (input shape) float, one batch per stream. Returns M x B x classes logits.
  /// In training, dropout draws member m's mask from dropout_generators[m], exactly as the
  /// plugin draws from its training's generator (quarry::dropout); batch norm updates its
  /// running statistics.
  virtual torch::Tensor forward(const torch::Tensor& x, bool training, std::vector<at::Generator>& dropout_generators) = 0;

  /// Optional closed-form training step (the linear head): every parameter's grad set to
  /// the gradient of the members' mean cross-entropies against y (G x B), returning the M
  /// losses; undefined when the architecture has none (autograd is used instead).
  virtual torch::Tensor loss_and_gradients(const torch::Tensor& x, const torch::Tensor& y) {
    (void)x, (void)y;
    return {};
  }

  /// Stacked M x (member's shape) leaves, in the member model's parameter order.
  std::vector<torch::Tensor>& parameters() { return params_; }
  /// Stacked buffers the fused net keeps up to date (batch-norm statistics).
  std::vector<torch::Tensor>& buffers() { return buffers_; }
  const std::vector<std::string>& buffer_names() const { return buffer_names_; }

  /// Fused member m's parameters and buffers into `into` (a model of the same architecture);
  /// buffers the fused net does not hold (e.g. a Laplace head's) are left as they are.
  void export_member(std::int64_t m, Model& into) const;

 protected:
  /// Stack parameter (or buffer) `name` of every member; throws when a member lacks it or
  /// its shape differs.
  torch::Tensor stack_parameter(const std::vector<Model*>& models, const std::string& name, bool buffer);
  /// Stack `prefix`.weight/.bias and the running statistics of a batch norm.
  void stack_batch_norm(const std::vector<Model*>& models, const std::string& prefix);
  const torch::Tensor& parameter(const std::string& name) const;

  // The fused layers. Images are laid out B x (M * C) x H x W, member m's channels at m * C.
  /// G x B x C x H x W -> B x (G * C) x H x W, for a first convolution grouped by stream.
  torch::Tensor stream_images(const torch::Tensor& x) const;
  /// A convolution over every member (groups = M), or over the streams (groups = G) when
  /// `first`: each stream's members read the same input channels.
  torch::Tensor conv(const torch::Tensor& h, const std::string& weight, std::int64_t stride, std::int64_t padding,
                     bool first = false) const;
  /// BatchNorm2d (libtorch's defaults: momentum 0.1, eps 1e-5) over the M x C channels.
  torch::Tensor batch_norm(const torch::Tensor& h, const std::string& prefix, bool training);
  /// B x (M * C) x H x W -> M x B x C, the global average pool.
  torch::Tensor pool_members(const torch::Tensor& h) const;
  /// Linear `prefix` per member on M x B x I.
  torch::Tensor linear(const torch::Tensor& x, const std::string& prefix) const;
  /// Linear `prefix` on G x B x I stream inputs, for every member of each stream: M x B x O.
  torch::Tensor linear_streams(const torch::Tensor& x, const std::string& prefix) const;
  /// Inverted dropout with member m's masks drawn from gens[m] as quarry::dropout draws them,
  /// on M x B x F (features) or B x (M * C) x H x W (images).
  torch::Tensor dropout(const torch::Tensor& h, double p, bool training, std::vector<at::Generator>& gens) const;

  std::int64_t members_ = 0, streams_ = 0;
  std::vector<std::string> param_names_, buffer_names_;
  std::vector<torch::Tensor> params_, buffers_;
  std::map<std::string, std::size_t> param_index_, buffer_index_;
};

/// The fused equivalent of `models` (M members, the model plugin `name` with `params`; member
/// m's initial weights are models[m]'s), with its members laid out on `streams` streams.
/// nullptr and `why` when the architecture cannot be fused (not one of linear, mlp, small_cnn,
/// wide_resnet; parameters that are not the in-tree model's; a probe batch that
/// disagrees with the plugin's forward).
std::unique_ptr<FusedNet> make_fused_net(const std::string& name, const Params& params,
                                         const std::vector<Model*>& models, std::int64_t streams, std::string& why);

/// A generator for dropout on `device` seeded as quarry::ModelRandomScope(seed) seeds its own.
at::Generator dropout_generator(const torch::Device& device, std::uint64_t seed);

}  // namespace quarry
