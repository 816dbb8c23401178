// Core-Set (Sener & Savarese 2018): greedy k-center on the penultimate features.
// The labeled pool's features are the initial centres; each pick is the candidate
// farthest from its nearest centre. The kernel lives in the SDK (quarry/selection.hpp).
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>

namespace {

class CoreSet : public quarry::Strategy {
 public:
  explicit CoreSet(const quarry::Params& p) : memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const torch::Tensor pool = ctx.features(candidates).to(torch::kFloat);
    torch::Tensor labeled = ctx.labeled().empty() ? torch::empty({0, pool.size(1)}, pool.options())
                                                  : ctx.features(ctx.labeled()).to(torch::kFloat);
    std::vector<std::int64_t> picked;
    for (auto pos : quarry::kcenter_greedy(pool, labeled, ctx.query_size(), budget)) picked.push_back(candidates[pos]);
    return picked;
  }

 private:
  std::int64_t memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("coreset", "1.0.0") {
  registrar.strategy<CoreSet>(
      "coreset", "Greedy k-center on penultimate features (Sener & Savarese 2018)",
      {quarry::param_int("memory_mb", 0, "temporary memory for distance blocks in MiB; 0 = the run's budget", 0)});
}
