// A last-layer Laplace approximation (MacKay 1992; Daxberger et al. 2021, "Laplace Redux")
// for a classifier whose logits are f = W phi + b. After training, the posterior over the
// last layer's weights theta = [W | b] is a Gaussian around the trained weights whose
// precision is a Kronecker-factored generalised Gauss-Newton matrix plus an isotropic prior,
//   P = G (x) A + delta I,  A = sum_n phi'_n phi'_n^T,  G = mean_n (diag p_n - p_n p_n^T),
// phi' = [phi; 1]. Both factors are eigendecomposed, so P^-1 and the logit covariance
// Cov[f(x)] = Q_G diag(s(x)) Q_G^T, s_a(x) = sum_b (Q_A^T phi')_b^2 / (lambda_G,a lambda_A,b + delta),
// are exact for that P and cost O(D^2 + K D) per input. docs/models.md argues the choice.
// All fitted state lives in buffers of the owning module, so restoring a model's initial
// weights also forgets the fit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <quarry/params.hpp>
#include <torch/nn/module.h>
#include <torch/types.h>

namespace quarry::heads {

struct LaplaceOptions {
  bool enabled = false;
  bool monte_carlo = false;       ///< false: mean-field / probit; true: Monte-Carlo samples
  double mean_field_factor = 0;   ///< lambda in mu / sqrt(1 + lambda var); pi/8 is the probit match
  std::int64_t samples = 0;       ///< Monte-Carlo samples of the logits
  double prior_precision = 0;     ///< delta; 0 = chosen by the Laplace marginal likelihood
  static LaplaceOptions from(const Params& p);
};

/// The parameters every head shares: laplace, laplace_predictive, mean_field_factor, ...
std::vector<ParamSpec> laplace_param_specs();

class LastLayerLaplace {
 public:
  /// Registers its buffers on `owner`; `in` = dim(phi), `classes` = dim(f).
  LastLayerLaplace(torch::nn::Module& owner, std::int64_t in, std::int64_t classes, LaplaceOptions options);

  const LaplaceOptions& options() const { return options_; }
  bool fitted() const;
  /// Fit on the labeled set's last-layer inputs phi (N x in) and labels, around W (K x in), b (K).
  void fit(const torch::Tensor& phi, const torch::Tensor& labels, const torch::Tensor& weight, const torch::Tensor& bias);
  /// The chosen prior precision delta (after fit).
  double prior_precision() const;
  /// Per-input logit covariance, N x K x K (float64), and its diagonal, N x K.
  torch::Tensor logit_covariance(const torch::Tensor& phi) const;
  torch::Tensor logit_variance(const torch::Tensor& phi) const;
  /// Logits whose softmax is the approximate predictive: mu / sqrt(1 + lambda var) (probit),
  /// or log of the mean of softmax over the fixed Monte-Carlo draws.
  torch::Tensor predictive_logits(const torch::Tensor& phi, const torch::Tensor& mean_logits) const;

 private:
  torch::Tensor scales(const torch::Tensor& phi) const;  ///< s(x), N x K, float64

  LaplaceOptions options_;
  torch::Tensor fitted_, prior_, qa_, ea_, qg_, eg_, eps_;
};

}  // namespace quarry::heads
