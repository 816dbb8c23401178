// AlfaMix (Parvaneh, Abbasnejad, Teney, Haffari, van den Hengel & Shi 2022, "Active Learning by
// Feature Mixing").
//
// Computes: for every candidate, its penultimate feature z, its prediction y* = argmax
// classify(z) and the gradient g of the cross-entropy loss(classify(z), y*) with respect to z;
// for every class c with labeled rows, the anchor z*_c = the mean labeled feature of c
// (ctx.labeled_labels()). The paper's closed-form mixing coefficient
//   alpha = eps ||z*_c - z|| g / (||g|| (z*_c - z))   (elementwise, eps = eps_scale / sqrt(D))
// gives the mix alpha z*_c + (1 - alpha) z = z + eps ||z*_c - z|| g / ||g||, computed in that
// form (no division by a coordinate of z*_c - z that may be 0). A candidate is flagged when the
// head's prediction of some mix differs from y*. The k picks are quarry::diverse_subset of the
// flagged ones (k-means of their L2-normalised features into k clusters, the candidate nearest
// each centre; with at most k flagged, all of them and uniform draws among the others). With
// no labeled rows there are no anchors and every pick is such a draw. Argmax ties: the lower
// class.
//
// Parameters: eps_scale (0.2, as the paper's alpha cap and the toolbox), memory_mb (0 = the
// run's budget). Needs: features, the labels of the labeled pool, the model's classifier head
// (Model::classify, differentiated once). Cost: one feature pass, one head forward/backward
// over N x D, one head pass per seen class, then k-means of <= N rows into k.
//
// Against the reference implementations: the authors' code grows the cap from 1/32 in steps
// of 1/32 until more than k candidates are flagged and weights the anchors of unseen classes by
// the whole labeled mean; dal-toolbox (followed here) takes one eps = 0.2 / sqrt(D), but builds
// anchors for classes 0..(number seen - 1), which are wrong labels when some class is unseen,
// and clusters with each point assigned to its farthest centre; Quarry takes the seen classes'
// own means and the nearest centre. The loss gradient is taken from -log p_y written as
// softplus(logsumexp_{c != y}(l_c - l_y)), the same function, because the usual form's 1 - p_y
// is exactly 0 in float32 for a confident prediction, where the toolbox then divides 0 by 0.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <torch/torch.h>

#include <quarry/clustering.hpp>
#include <quarry/quarry.hpp>

namespace {

class AlfaMix : public quarry::Strategy {
 public:
  explicit AlfaMix(const quarry::Params& p) : eps_scale_(p.get_float("eps_scale")), memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto k = std::min<std::int64_t>(ctx.query_size(), n);
    if (k == n) return candidates;
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const auto z = ctx.features(candidates).to(torch::kFloat).contiguous();
    const auto dim = z.size(1);
    const double eps = eps_scale_ / std::sqrt(static_cast<double>(dim));

    // y* and the loss gradient with respect to the features, through the head once.
    torch::Tensor y_star, grad;
    {
      torch::AutoGradMode grad_mode(true);
      auto zg = z.detach().clone().requires_grad_(true);
      const auto logits = ctx.classify(zg);
      y_star = logits.argmax(1).detach();
      grad = torch::autograd::grad({cross_entropy(logits, y_star)}, {zg})[0].detach();
    }
    torch::NoGradGuard no_grad;
    const auto direction = grad / grad.norm(2, 1, true).clamp_min(1e-30);  // g / ||g||

    std::vector<char> flag(static_cast<std::size_t>(n), 0);
    // Buffers reused by every anchor: the mix (N x D) and the distances to the anchor.
    auto mix = torch::empty_like(z);
    auto dist = torch::empty({n, 1}, z.options());
    for (const auto& anchor : anchors(ctx)) {
      const auto a = anchor.to(z.device()).unsqueeze(0);
      torch::sub_out(mix, a, z);
      at::norm_out(dist, mix, 2, {1}, true);
      dist.mul_(eps);
      torch::addcmul_out(mix, z, direction, dist);  // z + g / ||g|| * eps ||a - z||
      const auto changed = (ctx.classify(mix).argmax(1) != y_star).to(torch::kCPU);
      const auto* c = changed.data_ptr<bool>();
      for (std::int64_t i = 0; i < n; ++i) flag[i] = flag[i] || c[i];
    }
    std::vector<std::int64_t> flagged;
    for (std::int64_t i = 0; i < n; ++i)
      if (flag[i]) flagged.push_back(i);
    ctx.log().debug("alfamix: " + std::to_string(flagged.size()) + " of " + std::to_string(n) + " candidates flagged");
    std::vector<std::int64_t> out;
    for (auto pos : quarry::diverse_subset(z, flagged, k, ctx.rng(), budget)) out.push_back(candidates[pos]);
    return out;
  }

 private:
  /// The summed cross-entropy -log p_y = softplus(logsumexp_{c != y}(l_c - l_y)): the same value,
  /// but its gradient never forms 1 - p_y, which is 0 in float32 for a confident prediction
  /// (then g / ||g|| would be 0 / 0).
  static torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& y) {
    if (logits.size(1) < 2) return logits.sum() * 0;  // one class: no loss, nothing can flip
    const auto own = logits.gather(1, y.unsqueeze(1));
    const auto others = (logits - own).masked_fill(torch::nn::functional::one_hot(y, logits.size(1)).to(torch::kBool),
                                                   -std::numeric_limits<float>::infinity());
    return torch::softplus(others.logsumexp(1)).sum();
  }

  /// The mean labeled feature of every class with labels, by ascending class.
  static std::vector<torch::Tensor> anchors(quarry::QueryContext& ctx) {
    const auto& labeled = ctx.labeled();
    if (labeled.empty()) return {};
    const auto& labels = ctx.labeled_labels();
    const auto f = ctx.features(labeled).to(torch::kCPU, torch::kDouble);
    std::map<std::int64_t, std::vector<std::int64_t>> rows;
    for (std::size_t i = 0; i < labels.size(); ++i) rows[labels[i]].push_back(static_cast<std::int64_t>(i));
    std::vector<torch::Tensor> out;
    for (const auto& [label, idx] : rows)
      out.push_back(f.index_select(0, torch::tensor(idx, torch::kLong)).mean(0).to(torch::kFloat));
    return out;
  }

  double eps_scale_;
  std::int64_t memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("alfamix", "1.0.0") {
  registrar.strategy<AlfaMix>(
      "alfamix", "Candidates whose prediction flips when mixed towards the labeled class anchors (Parvaneh et al. 2022)",
      {quarry::param_float("eps_scale", 0.2, "the mixing cap; eps = eps_scale / sqrt(feature dim)", 0.0, 100.0),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
