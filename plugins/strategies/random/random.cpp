// Random sampling: the baseline every strategy is compared with. It draws from the
// whole unlabeled pool (not the candidate subset), as the reference protocol does.
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>

namespace {

class RandomSampling : public quarry::Strategy {
 public:
  explicit RandomSampling(const quarry::Params&) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    std::vector<std::int64_t> pool = ctx.unlabeled();
    const auto n = static_cast<std::int64_t>(pool.size());
    const auto k = std::min(ctx.query_size(), n);
    // Partial Fisher-Yates: position i receives a uniform pick from [i, n). uniform_index is
    // a fixed formula, so a seed gives the same draw with every standard library.
    for (std::int64_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + quarry::uniform_index(ctx.rng(), n - i)]);
    pool.resize(static_cast<std::size_t>(k));
    return pool;
  }
};

}  // namespace

QUARRY_PLUGIN("random", "1.0.0") {
  registrar.strategy<RandomSampling>("random", "Uniform draws from the whole unlabeled pool", {});
}
