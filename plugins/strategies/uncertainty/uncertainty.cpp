// Uncertainty sampling: score each candidate from the model's softmax and take the
// k most uncertain. One plugin, three scores; each is a few tensor ops over N x C.
#include <quarry/quarry.hpp>

namespace {

/// Shared query: predict the candidates, score them (higher = more uncertain), take the top k.
template <typename Score>
class UncertaintySampling : public quarry::Strategy {
 public:
  explicit UncertaintySampling(const quarry::Params&) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const torch::Tensor p = ctx.probabilities(candidates).to(torch::kFloat);
    return quarry::top_k(Score{}(p), candidates, ctx.query_size());
  }
};

/// Entropy H(p) = -sum p log p; 0 log 0 is taken as 0.
struct Entropy {
  torch::Tensor operator()(const torch::Tensor& p) const { return -(p * torch::log(p.clamp_min(1e-30))).sum(1); }
};

/// Margin: the smallest gap between the two most likely classes is the most uncertain.
struct Margin {
  torch::Tensor operator()(const torch::Tensor& p) const {
    if (p.size(1) < 2) return torch::zeros({p.size(0)}, p.options());  // one class: no margin to compare
    const auto top2 = std::get<0>(p.topk(2, 1));
    return top2.select(1, 1) - top2.select(1, 0);  // -(p1 - p2)
  }
};

/// Least confidence: the smallest top probability is the most uncertain.
struct LeastConfidence {
  torch::Tensor operator()(const torch::Tensor& p) const { return -std::get<0>(p.max(1)); }
};

}  // namespace

QUARRY_PLUGIN("uncertainty", "1.0.0") {
  registrar.strategy<UncertaintySampling<Entropy>>("entropy", "Highest predictive entropy among the candidates", {});
  registrar.strategy<UncertaintySampling<Margin>>("margin", "Smallest gap between the two most likely classes", {});
  registrar.strategy<UncertaintySampling<LeastConfidence>>("least_confidence",
                                                           "Lowest probability of the predicted class", {});
}
