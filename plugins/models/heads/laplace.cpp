#include "heads/laplace.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include <quarry/error.hpp>

namespace quarry::heads {

LaplaceOptions LaplaceOptions::from(const Params& p) {
  LaplaceOptions o;
  o.enabled = p.get_bool("laplace");
  o.monte_carlo = p.get_string("laplace_predictive") == "mc";
  o.mean_field_factor = p.get_float("mean_field_factor");
  o.samples = p.get_int("laplace_samples");
  o.prior_precision = p.get_float("prior_precision");
  return o;
}

std::vector<ParamSpec> laplace_param_specs() {
  return {param_bool("laplace", false, "fit a last-layer Laplace approximation after training; predict with it"),
          param_string("laplace_predictive", "probit",
                       "probit: mean-field mu / sqrt(1 + mean_field_factor var); mc: Monte-Carlo logit samples",
                       {"probit", "mc"}),
          param_float("mean_field_factor", M_PI / 8, "lambda of the mean-field predictive (pi/8 matches the probit)", 0.0,
                      1e6),
          param_int("laplace_samples", 1000, "Monte-Carlo samples of the logits (laplace_predictive = \"mc\")", 1, 100000),
          param_float("prior_precision", 0.0,
                      "precision delta of the isotropic Gaussian prior on the last layer; 0 = the delta in "
                      "1e-4..1e4 that maximises the Laplace marginal likelihood",
                      0.0, 1e12)};
}

LastLayerLaplace::LastLayerLaplace(torch::nn::Module& owner, std::int64_t in, std::int64_t classes, LaplaceOptions o)
    : options_(o) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto h = in + 1;  // phi' = [phi; 1]
  const auto n_eps = options_.enabled && options_.monte_carlo ? options_.samples : 0;
  fitted_ = owner.register_buffer("laplace_fitted", torch::zeros({}, f64));
  prior_ = owner.register_buffer("laplace_prior_precision", torch::zeros({}, f64));
  qa_ = owner.register_buffer("laplace_qa", torch::zeros({options_.enabled ? h : 0, options_.enabled ? h : 0}, f64));
  ea_ = owner.register_buffer("laplace_ea", torch::zeros({options_.enabled ? h : 0}, f64));
  qg_ = owner.register_buffer("laplace_qg", torch::zeros({options_.enabled ? classes : 0, options_.enabled ? classes : 0}, f64));
  eg_ = owner.register_buffer("laplace_eg", torch::zeros({options_.enabled ? classes : 0}, f64));
  // The Monte-Carlo draws are fixed per model (drawn from the generator the host seeds for model
  // creation) and shared by every input: a candidate's predictive does not depend on its batch.
  eps_ = owner.register_buffer("laplace_eps", torch::randn({n_eps, classes}, f64));
}

bool LastLayerLaplace::fitted() const { return options_.enabled && fitted_.item<double>() > 0; }
double LastLayerLaplace::prior_precision() const { return prior_.item<double>(); }

void LastLayerLaplace::fit(const torch::Tensor& phi, const torch::Tensor& labels, const torch::Tensor& weight,
                           const torch::Tensor& bias) {
  if (!options_.enabled) return;
  torch::NoGradGuard ng;
  const auto n = phi.size(0);
  if (n == 0) return;
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(phi.device());
  const auto p1 = torch::cat({phi.to(torch::kFloat64), torch::ones({n, 1}, f64)}, 1);
  const auto theta = torch::cat({weight.to(torch::kFloat64), bias.to(torch::kFloat64).unsqueeze(1)}, 1);  // K x H'
  const auto probs = torch::softmax(p1.mm(theta.t()), 1);
  (void)labels;  // the GGN of the cross-entropy depends on the predictions only
  const auto a = p1.t().mm(p1);
  const auto g = (torch::diag(probs.sum(0)) - probs.t().mm(probs)) / static_cast<double>(n);
  auto [ea, qa] = at::linalg_eigh(a, "L");
  auto [eg, qg] = at::linalg_eigh(g, "L");
  ea = ea.clamp_min(0);  // round-off can leave tiny negative eigenvalues of these PSD matrices
  eg = eg.clamp_min(0);
  double delta = options_.prior_precision;
  if (delta <= 0) {
    // log p(D | delta) = log p(D | theta*) - delta/2 |theta*|^2 + P/2 log delta - 1/2 log det P + const,
    // with log det P = sum_ab log(lambda_G,a lambda_A,b + delta); the first term does not depend on delta.
    const auto lam = torch::outer(eg, ea).reshape({1, -1});
    const auto grid = torch::pow(10.0, torch::linspace(-4, 4, 161, f64)).view({-1, 1});
    const double sq = theta.pow(2).sum().item<double>();
    const auto params = static_cast<double>(lam.size(1));
    const auto logml = -0.5 * sq * grid.view(-1) + 0.5 * params * grid.view(-1).log() - 0.5 * (lam + grid).log().sum(1);
    delta = grid.view(-1)[logml.argmax()].item<double>();
  }
  qa_.copy_(qa);
  ea_.copy_(ea);
  qg_.copy_(qg);
  eg_.copy_(eg);
  prior_.fill_(delta);
  fitted_.fill_(1.0);
}

torch::Tensor LastLayerLaplace::scales(const torch::Tensor& phi) const {
  const auto n = phi.size(0);
  const auto p1 = torch::cat({phi.to(torch::kFloat64), torch::ones({n, 1}, phi.options().dtype(torch::kFloat64))}, 1);
  const auto z = p1.mm(qa_);                                          // N x H'
  const auto inv = (torch::outer(eg_, ea_) + prior_).reciprocal();  // K x H'
  return z.pow(2).mm(inv.t());                                       // N x K
}

torch::Tensor LastLayerLaplace::logit_variance(const torch::Tensor& phi) const {
  return scales(phi).mm(qg_.pow(2).t());
}

torch::Tensor LastLayerLaplace::logit_covariance(const torch::Tensor& phi) const {
  const auto s = scales(phi);
  return (qg_.unsqueeze(0) * s.unsqueeze(1)).matmul(qg_.t());
}

torch::Tensor LastLayerLaplace::predictive_logits(const torch::Tensor& phi, const torch::Tensor& mean_logits) const {
  const auto mu = mean_logits.to(torch::kFloat64);
  if (!options_.monte_carlo)
    return (mu / (1.0 + options_.mean_field_factor * logit_variance(phi)).sqrt()).to(mean_logits.scalar_type());
  // f_s = mu + Q_G (sqrt(s) * eps_s): the logit covariance's square root without a Cholesky.
  // Rows in chunks, so N x S x K doubles stay under 32 MB.
  const auto root = scales(phi).sqrt();  // N x K
  const auto n = phi.size(0), k = mu.size(1), samples = eps_.size(0);
  const auto rows = std::max<std::int64_t>(1, (std::int64_t{32} << 20) / (8 * std::max<std::int64_t>(1, samples * k)));
  std::vector<torch::Tensor> out;
  for (std::int64_t s = 0; s < n; s += rows) {
    const auto len = std::min(rows, n - s);
    const auto f = mu.narrow(0, s, len).unsqueeze(1) +
                   (eps_.unsqueeze(0) * root.narrow(0, s, len).unsqueeze(1)).matmul(qg_.t());  // len x S x K
    out.push_back(torch::softmax(f, 2).mean(1).clamp_min(1e-300).log());
  }
  if (out.empty()) return mean_logits;
  return torch::cat(out).to(mean_logits.scalar_type());
}

}  // namespace quarry::heads
