// BAIT (Ash et al. 2021, "Gone Fishing: Neural Active Learning with Fisher Embeddings"), with
// the fast likelihoods of "Fast Fishing" (Huseljic et al. 2024) as parameters.
//
// What it computes: the candidates and the labeled pool go through the model once (softmax and
// penultimate features); the SDK kernel (quarry/fisher.hpp) then picks the batch that
// minimises tr(M^{-1} F) of the last layer's Fisher: 2k greedy forward steps, then backward
// steps down to k, each a rank-r Woodbury update. Exact for the chosen likelihood; the
// per-point gradient matrices (N x r x C D) are never formed.
//
// Where it deviates from the reference toolbox (dal-toolbox, BaitSampling) and why:
// - Its labeled and pool Fisher matrices add the mean of each batch of 32 (so they are about
//   1/32 of the sum, the last short batch weighted more); here they are true means, as the
//   BAIT paper and its authors' code define them, so the result does not depend on a batch size.
// - Its forward step scores every point and skips the chosen ones by a Python search; its tie
//   order is NumPy's unstable argsort. Here: the lowest candidate position wins a tie forward,
//   the earliest chosen point a tie backward.
// - Its top-k classes come from torch.topk (ties unspecified); here from a stable sort (ties:
//   the lower class index).
// - It computes in float32; here float64 by default (precision = "float32" halves memory and
//   time), because the backward steps downdate M and their Woodbury terms lose digits.
// - What does not fit the memory budget is an error naming both numbers, never an attempt:
//   with cross-entropy the Fisher is (C D)^2 (C = 100, D = 512: 21 GB per float64 matrix).
#include <quarry/fisher.hpp>
#include <quarry/quarry.hpp>

namespace {

class Bait : public quarry::Strategy {
 public:
  explicit Bait(const quarry::Params& p) : memory_mb_(p.get_int("memory_mb")) {
    options_.likelihood = quarry::parse_fisher_likelihood(p.get_string("likelihood"));
    options_.top_classes = p.get_int("top_classes");
    options_.lambda = p.get_float("lambda");
    options_.oversample = p.get_float("oversample");
    options_.dtype = p.get_string("precision") == "float32" ? torch::kFloat : torch::kDouble;
    if (options_.likelihood == quarry::FisherLikelihood::BinaryCrossEntropy && options_.top_classes > 2)
      throw quarry::Error(p.owner() + ": top_classes must be 0, 1 or 2 with likelihood = \"binary_cross_entropy\"");
  }

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const quarry::Predictions pool = ctx.predict(candidates, true, true);
    quarry::Predictions labeled;
    if (!ctx.labeled().empty()) labeled = ctx.predict(ctx.labeled(), true, true);
    std::vector<std::int64_t> picked;
    for (auto pos : quarry::bait_select(pool.probabilities, pool.features, labeled.probabilities, labeled.features,
                                        ctx.query_size(), options_, budget))
      picked.push_back(candidates[pos]);
    return picked;
  }

 private:
  quarry::BaitOptions options_;
  std::int64_t memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("bait", "1.0.0") {
  registrar.strategy<Bait>(
      "bait", "Fisher-information batch selection, forward-backward greedy (Ash et al. 2021; Huseljic et al. 2024)",
      {quarry::param_string("likelihood", "cross_entropy",
                            "gradient likelihood: cross_entropy (Fisher C D x C D) or binary_cross_entropy "
                            "(predicted class vs rest, D x D)",
                            {"cross_entropy", "binary_cross_entropy"}),
       quarry::param_int("top_classes", 0, "0 = expectation over every class; c = the c most likely (Fast Fishing top-c)", 0),
       quarry::param_float("lambda", 1.0, "ridge added to the labeled Fisher", 1e-12),
       quarry::param_float("oversample", 2.0, "forward steps = oversample x query size, then backward to it", 1.0, 100.0),
       quarry::param_string("precision", "float64", "precision of the Fisher matrices", {"float64", "float32"}),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
