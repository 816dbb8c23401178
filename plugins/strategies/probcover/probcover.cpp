// ProbCover (Yehuda, Dekel, Hacohen & Weinshall 2022, "Active Learning Through a Covering
// Lens").
//
// Computes: the delta-ball graph (quarry::radius_graph: i -> j when ||x_i - x_j|| < delta,
// self included) on the features of the labeled pool and the candidates, L2-normalised as the
// paper's embeddings when `normalize` is set. Every row within delta of a labeled row is
// covered. Then k greedy steps of max coverage: take the unpicked candidate covering the most
// uncovered rows (ties: the lower position), mark its ball covered. Once no candidate covers
// anything new, the rest are drawn uniformly without replacement from the unpicked candidates
// (uniform_index on ctx.rng(), over them in ascending order), as the authors' code does.
//
// delta: given (> 0), or chosen by the paper's purity criterion: pseudo-labels from k-means
// with C clusters (quarry::kmeans on ctx.rng()); a ball is pure when all its rows share its
// centre's pseudo-label; delta is the largest value whose share of pure balls is >= alpha.
// The paper searches a grid of deltas; a ball around row i is pure exactly while
// delta <= r_i, its distance to the nearest row of another pseudo-label
// (quarry::distance_to_other_label), so the largest such delta is the ceil(alpha N)-th largest
// r_i, computed exactly instead (times 1 - 1e-4, so the pair at exactly that distance is no edge
// under rounding). With one pseudo-label every ball is pure and delta covers all.
//
// Parameters: delta (0 = by purity), alpha (0.95), normalize (true), kmeans_iterations (300),
// memory_mb (0 = the run's budget). Needs: features of the labeled pool and the candidates.
// Cost: the upper triangle of the (|L| + N)^2 distance products, (|L| + N)^2 D / 2 multiply-adds
// in blocks under the budget; the graph (8 bytes per edge, 2 more while it is built); k-means with
// C clusters when delta is chosen. Edges are decided in float64 at delta (quarry::radius_graph),
// so the picks do not depend on BLAS rounding.
//
// Against the reference toolbox (dal-toolbox ProbCover): it takes a fixed delta (0.6) and no
// purity search, builds the graph with torch.cdist in blocks of 500 rows but drops the last
// partial block (its rows get no edges), does not normalise the features, and can return an
// already-labeled index once nothing is left to cover (argmax of all-zero degrees); Quarry
// covers every row, picks only candidates and fills at random then.
#include <algorithm>
#include <cmath>
#include <limits>

#include <quarry/clustering.hpp>
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>

namespace {

class ProbCover : public quarry::Strategy {
 public:
  explicit ProbCover(const quarry::Params& p)
      : delta_(p.get_float("delta")), alpha_(p.get_float("alpha")), normalize_(p.get_bool("normalize")),
        iterations_(p.get_int("kmeans_iterations")), memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& labeled = ctx.labeled();
    const auto& candidates = ctx.candidates();
    const auto num_labeled = static_cast<std::int64_t>(labeled.size());
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto k = std::min<std::int64_t>(ctx.query_size(), n);
    if (k == n) return candidates;
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    std::vector<std::int64_t> rows(labeled);
    rows.insert(rows.end(), candidates.begin(), candidates.end());
    auto x = ctx.features(rows).to(torch::kFloat);
    if (normalize_) x = x / x.norm(2, 1, true).clamp_min(1e-12);
    const double delta = delta_ > 0 ? delta_ : purity_delta(x, ctx);
    ctx.log().debug("probcover: delta " + std::to_string(delta));
    const auto graph = quarry::radius_graph(x, delta, budget);

    const auto total = num_labeled + n;
    std::vector<char> covered(static_cast<std::size_t>(total), 0);
    const auto cover = [&](std::int64_t i, std::vector<std::int64_t>& degree) {
      for (auto e = graph.offsets[i]; e < graph.offsets[i + 1]; ++e) {
        const auto j = graph.neighbours[e];
        if (covered[j]) continue;
        covered[j] = 1;
        // j's in-edges are its out-edges (the graph is symmetric): each loses one uncovered row.
        for (auto f = graph.offsets[j]; f < graph.offsets[j + 1]; ++f) --degree[graph.neighbours[f]];
      }
    };
    std::vector<std::int64_t> degree(static_cast<std::size_t>(total));
    for (std::int64_t i = 0; i < total; ++i) degree[i] = graph.degree(i);
    for (std::int64_t i = 0; i < num_labeled; ++i) cover(i, degree);

    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    std::vector<std::int64_t> picked;
    while (static_cast<std::int64_t>(picked.size()) < k) {
      std::int64_t best = -1;
      for (std::int64_t pos = 0; pos < n; ++pos)
        if (!taken[pos] && (best < 0 || degree[num_labeled + pos] > degree[num_labeled + best])) best = pos;
      if (degree[num_labeled + best] <= 0) break;  // everything is covered
      taken[best] = 1;
      picked.push_back(best);
      cover(num_labeled + best, degree);
    }
    while (static_cast<std::int64_t>(picked.size()) < k) {
      auto r = quarry::uniform_index(ctx.rng(), n - static_cast<std::int64_t>(picked.size()));
      std::int64_t pos = 0;
      for (; taken[pos] || r-- > 0; ++pos) {
      }
      taken[pos] = 1;
      picked.push_back(pos);
    }
    std::vector<std::int64_t> out;
    for (auto pos : picked) out.push_back(candidates[pos]);
    return out;
  }

 private:
  /// The largest delta whose share of pure balls (k-means pseudo-labels, C clusters) is >= alpha.
  double purity_delta(const torch::Tensor& x, quarry::QueryContext& ctx) const {
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const auto pseudo = quarry::kmeans(x, std::max<std::int64_t>(ctx.num_classes(), 1), ctx.rng(), budget, iterations_);
    auto r = quarry::distance_to_other_label(x, pseudo.assignment, budget).to(torch::kCPU, torch::kDouble);
    const auto n = r.size(0);
    const auto need = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(alpha_ * static_cast<double>(n))), 1, n);
    const double largest = std::get<0>(r.sort(0, /*descending=*/true))[need - 1].item<double>();
    // Just inside the largest pure delta: the pair at exactly that distance is no edge under
    // any rounding of the distance products.
    if (std::isfinite(largest) && largest > 0) return largest * (1 - 1e-4);
    if (std::isfinite(largest)) return std::numeric_limits<float>::min();  // duplicates across labels: self only
    // Every ball is pure at any delta: one that covers everything.
    return 2 * (x - x.mean(0)).norm(2, 1).max().item<double>() + 1.0;
  }

  double delta_, alpha_;
  bool normalize_;
  std::int64_t iterations_, memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("probcover", "1.0.0") {
  registrar.strategy<ProbCover>(
      "probcover", "Greedy max coverage of delta-balls on the features (Yehuda et al. 2022)",
      {quarry::param_float("delta", 0.0, "ball radius; 0 = the largest with purity >= alpha on k-means pseudo-labels", 0.0),
       quarry::param_float("alpha", 0.95, "purity threshold for choosing delta", 0.0, 1.0),
       quarry::param_bool("normalize", true, "L2-normalise the features first (the paper's embeddings are)"),
       quarry::param_int("kmeans_iterations", 300, "Lloyd iterations at most, for the pseudo-labels", 0),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
