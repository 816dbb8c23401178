// TypiClust (Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget: Opposite Strategies
// Suit High and Low Budgets").
//
// Computes: k-means (quarry/clustering.hpp, k-means++ start from the query's rng) of the
// features of the labeled pool and the candidates into |L| + k clusters (at most max_clusters
// when that is > 0). Clusters of at most min_cluster_size rows are dropped; the rest are
// ordered by (labeled rows ascending, size descending, cluster id ascending). Step i takes
// cluster i mod (their number) and picks its most typical candidate not picked yet,
//   typicality(x) = 1 / (mean Euclidean distance to its K nearest other such candidates + 1e-5),
// K = min(k_neighbours, members / 2), among that cluster's unpicked candidates (ties: the lower
// position; with K = 0 the lowest-position member). A cluster with no candidates left gives
// no pick that step. Picks still missing after k steps are drawn uniformly without replacement
// from the unpicked candidates (uniform_index on the ctx.rng() stream, over them in ascending
// order).
//
// Parameters as the paper: k_neighbours (20), min_cluster_size (5), max_clusters (0 = no cap,
// |L| + k as the paper; the authors' code and the toolbox cap at 500), kmeans_iterations
// (300), memory_mb (0 = the run's budget). Needs: features of the labeled pool and the
// candidates. Cost: k-means at (|L| + N) x (|L| + k) x D per Lloyd iteration plus the per-cluster
// neighbour searches (tiny clusters).
//
// Against the reference toolbox (dal-toolbox TypiClust): its live code follows
// scikit-activeml (covered clusters dropped, largest uncovered cluster first, 500 clusters at
// most) and averages *squared* distances (NearestNeighbors(metric='sqeuclidean')); Quarry
// follows the paper and the authors' selection order (fewest labels, then largest) and the
// paper's Euclidean mean. The toolbox's k-means is scikit-learn's (greedy k-means++ with
// 2 + log k local trials); Quarry's seeding is plain k-means++ (no local trials). The features
// are the current model's penultimate layer, not a self-supervised embedding as in the paper:
// a Quarry run has no separate representation model.
#include <algorithm>
#include <numeric>

#include <quarry/clustering.hpp>
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>

namespace {

class TypiClust : public quarry::Strategy {
 public:
  explicit TypiClust(const quarry::Params& p)
      : neighbours_(p.get_int("k_neighbours")), min_size_(p.get_int("min_cluster_size")),
        max_clusters_(p.get_int("max_clusters")), iterations_(p.get_int("kmeans_iterations")),
        memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& labeled = ctx.labeled();
    const auto& candidates = ctx.candidates();
    const auto num_labeled = static_cast<std::int64_t>(labeled.size());
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto k = std::min<std::int64_t>(ctx.query_size(), n);
    if (k == n) return candidates;
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    // Rows: the labeled pool first, then the candidates.
    std::vector<std::int64_t> rows(labeled);
    rows.insert(rows.end(), candidates.begin(), candidates.end());
    const auto features = ctx.features(rows).to(torch::kFloat);
    auto clusters = num_labeled + k;
    if (max_clusters_ > 0) clusters = std::min(clusters, max_clusters_);
    const auto km = quarry::kmeans(features, clusters, ctx.rng(), budget, iterations_);
    clusters = km.centres.size(0);

    std::vector<std::int64_t> size(clusters, 0), labeled_in(clusters, 0);
    std::vector<std::vector<std::int64_t>> members(clusters);  // candidate positions, ascending
    for (std::int64_t r = 0; r < num_labeled + n; ++r) {
      const auto c = km.assignment[r];
      ++size[c];
      if (r < num_labeled) ++labeled_in[c];
      else members[c].push_back(r - num_labeled);
    }
    std::vector<std::int64_t> order;
    for (std::int64_t c = 0; c < clusters; ++c)
      if (size[c] > min_size_) order.push_back(c);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return labeled_in[a] != labeled_in[b] ? labeled_in[a] < labeled_in[b] : size[a] > size[b];
    });

    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    std::vector<std::int64_t> picked;
    const auto cand_features = features.narrow(0, num_labeled, n);
    for (std::int64_t step = 0; step < k && !order.empty(); ++step) {
      std::vector<std::int64_t> left;
      for (auto pos : members[order[step % static_cast<std::int64_t>(order.size())]])
        if (!taken[pos]) left.push_back(pos);
      if (left.empty()) continue;
      const auto pos = left[most_typical(cand_features, left, budget)];
      taken[pos] = 1;
      picked.push_back(pos);
    }
    // Fill what the clusters could not give, uniformly among the unpicked candidates.
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
  /// Index into `members` of the most typical one (ties: the first).
  std::size_t most_typical(const torch::Tensor& features, const std::vector<std::int64_t>& members,
                           std::int64_t budget) const {
    const auto kn = std::min<std::int64_t>(neighbours_, static_cast<std::int64_t>(members.size()) / 2);
    if (kn == 0) return 0;
    const auto rows = features.index_select(0, torch::tensor(members, torch::kLong).to(features.device()));
    const auto typicality = (1.0 / (quarry::knn_distances(rows, kn, budget).to(torch::kDouble).mean(1) + 1e-5))
                                .to(torch::kCPU)
                                .contiguous();
    const double* t = typicality.data_ptr<double>();
    return static_cast<std::size_t>(std::max_element(t, t + members.size()) - t);  // first maximum
  }

  std::int64_t neighbours_, min_size_, max_clusters_, iterations_, memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("typiclust", "1.0.0") {
  registrar.strategy<TypiClust>(
      "typiclust", "The most typical point of the largest clusters with the fewest labels (Hacohen et al. 2022)",
      {quarry::param_int("k_neighbours", 20, "neighbours in the typicality (inverse mean distance)", 1),
       quarry::param_int("min_cluster_size", 5, "clusters of at most this many rows are not drawn from", 0),
       quarry::param_int("max_clusters", 0, "cap on the |L| + k clusters; 0 = no cap (the authors' code uses 500)", 0),
       quarry::param_int("kmeans_iterations", 300, "Lloyd iterations at most", 0),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
