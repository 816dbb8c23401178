// BADGE (Ash et al. 2020): k-means++ seeding on gradient embeddings
// g = (onehot(argmax p) - p) (outer) f. The kernel (quarry/selection.hpp) never builds
// the C x D vectors: <g_i, g_j> = <a_i, a_j> <f_i, f_j> with a = onehot - p.
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>

namespace {

class Badge : public quarry::Strategy {
 public:
  explicit Badge(const quarry::Params& p) : memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    // One pass of the model gives both halves of the embedding.
    const quarry::Predictions out = ctx.predict(candidates, /*probabilities=*/true, /*features=*/true);
    std::vector<std::int64_t> picked;
    for (auto pos : quarry::badge_kmeanspp(out.probabilities.to(torch::kFloat), out.features.to(torch::kFloat),
                                           ctx.query_size(), ctx.rng(), budget))
      picked.push_back(candidates[pos]);
    return picked;
  }

 private:
  std::int64_t memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("badge", "1.0.0") {
  registrar.strategy<Badge>(
      "badge", "k-means++ seeding on gradient embeddings (Ash et al. 2020)",
      {quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
