// typiclust and probcover, loaded through the real host, against float64 brute force written
// from the papers (materialised distance matrices, plain loops, the same rng draws).
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "fixed_context.hpp"
#include "paths.hpp"
#include "support.hpp"
#include "quarry/selection.hpp"
#include "reference_kmeans.hpp"

namespace test_coverage_strategies {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing::reference;
using quarry::testing::FixedPoolContext;

namespace {

FixedPoolContext context(const torch::Tensor& features, std::vector<std::int64_t> labeled, std::int64_t k,
                         std::uint64_t seed, std::int64_t classes = 4) {
  FixedPoolContext::Pool pool;
  pool.features = features;
  pool.num_classes = classes;
  return FixedPoolContext(pool, std::move(labeled), k, seed);
}

/// The rows a strategy sees: the labeled pool, then the candidates.
Matrix rows_of(const torch::Tensor& features, const FixedPoolContext& ctx) {
  std::vector<std::int64_t> rows(ctx.labeled());
  rows.insert(rows.end(), ctx.candidates().begin(), ctx.candidates().end());
  return to_matrix(features.index_select(0, torch::tensor(rows, torch::kLong)));
}

/// uniform_index draws over the positions [0, n) not yet taken, until `picked` has k.
void random_fill(std::vector<std::int64_t>& picked, std::size_t n, std::size_t k, std::mt19937_64& rng) {
  while (picked.size() < k) {
    std::vector<std::int64_t> left;
    for (std::size_t p = 0; p < n; ++p)
      if (std::find(picked.begin(), picked.end(), static_cast<std::int64_t>(p)) == picked.end())
        left.push_back(static_cast<std::int64_t>(p));
    picked.push_back(left[uniform_index(rng, static_cast<std::int64_t>(left.size()))]);
  }
}

/// TypiClust as the paper and the authors' code select: candidate positions.
std::vector<std::int64_t> reference_typiclust(const Matrix& x, std::size_t num_labeled, std::size_t k,
                                              std::mt19937_64& rng, std::size_t knn = 20, std::int64_t min_size = 5) {
  const auto n = x.size() - num_labeled;
  const auto clusters = static_cast<std::int64_t>(std::min(x.size(), num_labeled + k));
  const auto km = reference_kmeans(x, clusters, rng, 300, 1e-4);
  std::vector<std::int64_t> size(clusters, 0), labeled_in(clusters, 0);
  for (std::size_t r = 0; r < x.size(); ++r) {
    ++size[km.assignment[r]];
    if (r < num_labeled) ++labeled_in[km.assignment[r]];
  }
  std::vector<std::int64_t> order;
  for (std::int64_t c = 0; c < clusters; ++c)
    if (size[c] > min_size) order.push_back(c);
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    if (labeled_in[a] != labeled_in[b]) return labeled_in[a] < labeled_in[b];
    if (size[a] != size[b]) return size[a] > size[b];
    return a < b;
  });
  std::vector<std::int64_t> picked;
  for (std::size_t step = 0; step < k && !order.empty(); ++step) {
    const auto c = order[step % order.size()];
    std::vector<std::int64_t> left;  // candidate positions of cluster c, not picked
    for (std::size_t p = 0; p < n; ++p)
      if (km.assignment[num_labeled + p] == c &&
          std::find(picked.begin(), picked.end(), static_cast<std::int64_t>(p)) == picked.end())
        left.push_back(static_cast<std::int64_t>(p));
    if (left.empty()) continue;
    const auto kn = std::min(knn, left.size() / 2);
    std::size_t best = 0;
    double best_typicality = -1;
    for (std::size_t a = 0; a < left.size() && kn > 0; ++a) {
      std::vector<double> d;
      for (std::size_t b = 0; b < left.size(); ++b)
        if (b != a) d.push_back(std::sqrt(sq_dist(x[num_labeled + left[a]], x[num_labeled + left[b]])));
      std::sort(d.begin(), d.end());
      const double mean = std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(kn), 0.0) / kn;
      const double typicality = 1 / (mean + 1e-5);
      if (typicality > best_typicality) best_typicality = typicality, best = a;
    }
    picked.push_back(left[best]);
  }
  random_fill(picked, n, k, rng);
  return picked;
}

/// ProbCover's greedy max coverage on the delta-ball graph, counting coverage from scratch.
std::vector<std::int64_t> reference_probcover(const Matrix& x, std::size_t num_labeled, std::size_t k, double delta,
                                              std::mt19937_64& rng) {
  const auto total = x.size();
  const auto n = total - num_labeled;
  const auto edge = [&](std::size_t i, std::size_t j) { return i == j || std::sqrt(sq_dist(x[i], x[j])) < delta; };
  std::vector<char> covered(total, 0);
  for (std::size_t l = 0; l < num_labeled; ++l)
    for (std::size_t j = 0; j < total; ++j)
      if (edge(l, j)) covered[j] = 1;
  std::vector<std::int64_t> picked;
  while (picked.size() < k) {
    std::int64_t best = -1, best_gain = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (std::find(picked.begin(), picked.end(), static_cast<std::int64_t>(p)) != picked.end()) continue;
      std::int64_t gain = 0;
      for (std::size_t j = 0; j < total; ++j) gain += !covered[j] && edge(num_labeled + p, j);
      if (gain > best_gain) best_gain = gain, best = static_cast<std::int64_t>(p);
    }
    if (best < 0) break;
    picked.push_back(best);
    for (std::size_t j = 0; j < total; ++j)
      if (edge(num_labeled + best, j)) covered[j] = 1;
  }
  random_fill(picked, n, k, rng);
  return picked;
}

Matrix normalized(Matrix x) {
  for (auto& row : x) {
    double s = 0;
    for (double v : row) s += v * v;
    for (double& v : row) v /= std::max(std::sqrt(s), 1e-12);
  }
  return x;
}

/// The paper's purity delta from float64 pseudo-labels (see probcover.cpp).
double reference_purity_delta(const Matrix& x, std::int64_t classes, double alpha, std::mt19937_64& rng) {
  const auto km = reference_kmeans(x, classes, rng, 300, 1e-4);
  std::vector<double> r;
  for (std::size_t i = 0; i < x.size(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < x.size(); ++j)
      if (km.assignment[j] != km.assignment[i]) best = std::min(best, std::sqrt(sq_dist(x[i], x[j])));
    r.push_back(best);
  }
  std::sort(r.rbegin(), r.rend());
  return r[static_cast<std::size_t>(std::ceil(alpha * static_cast<double>(x.size()))) - 1] * (1 - 1e-4);
}

std::vector<std::int64_t> to_pool(const std::vector<std::int64_t>& positions, const FixedPoolContext& ctx) {
  std::vector<std::int64_t> out;
  for (auto p : positions) out.push_back(ctx.candidates()[p]);
  return out;
}

}  // namespace

TEST_CASE("typiclust picks what float64 brute force picks for the same draws") {
  const auto x = blobs(160, 6, 5, 17);
  const std::vector<std::int64_t> labeled{0, 1, 2, 3, 10, 40};
  for (const std::int64_t k : {std::int64_t{5}, std::int64_t{12}, std::int64_t{1}}) {
    CAPTURE(k);
    auto ctx = context(x, labeled, k, 77);
    std::mt19937_64 rng(77);
    const auto want = to_pool(reference_typiclust(rows_of(x, ctx), labeled.size(), k, rng), ctx);
    CHECK(quarry::testing::make_strategy("typiclust")->query(ctx) == want);
  }
  SUBCASE("k >= candidates, no labels, duplicates, one cluster") {
    auto all = context(x, labeled, 1000, 1);
    all.set_candidates({5, 6, 7});
    CHECK(quarry::testing::make_strategy("typiclust")->query(all) == std::vector<std::int64_t>{5, 6, 7});
    auto none = context(x, {}, 4, 3);
    std::mt19937_64 rng(3);
    CHECK(quarry::testing::make_strategy("typiclust")->query(none) == to_pool(reference_typiclust(rows_of(x, none), 0, 4, rng), none));
    // 40 copies of 4 points: clusters of 10 identical rows, every typicality equal (ties: first).
    const auto dup = blobs(4, 3, 4, 5).repeat({10, 1});
    auto twins = context(dup, {0}, 3, 9);
    std::mt19937_64 rng2(9);
    const auto got = quarry::testing::make_strategy("typiclust")->query(twins);
    CHECK(got == to_pool(reference_typiclust(rows_of(dup, twins), 1, 3, rng2), twins));
    // min_cluster_size larger than any cluster: every pick is drawn at random.
    auto sparse = context(x, labeled, 6, 4);
    std::mt19937_64 rng3(4);
    const auto m = rows_of(x, sparse);
    reference_kmeans(m, static_cast<std::int64_t>(labeled.size()) + 6, rng3, 300, 1e-4);  // the same draws first
    std::vector<std::int64_t> want;
    random_fill(want, m.size() - labeled.size(), 6, rng3);
    CHECK(quarry::testing::make_strategy("typiclust", {{"min_cluster_size", std::int64_t{1000}}})->query(sparse) == to_pool(want, sparse));
  }
}

TEST_CASE("probcover picks what float64 brute force picks, for a given delta and for the purity delta") {
  const auto x = blobs(140, 5, 4, 23);
  const std::vector<std::int64_t> labeled{0, 7, 30};
  SUBCASE("given delta, raw features") {
    for (const double delta : {1.5, 3.0, 40.0}) {  // 40: one ball covers all, then random
      CAPTURE(delta);
      auto ctx = context(x, labeled, 8, 5);
      std::mt19937_64 rng(5);
      const auto want = to_pool(reference_probcover(rows_of(x, ctx), labeled.size(), 8, delta, rng), ctx);
      CHECK(quarry::testing::make_strategy("probcover", {{"delta", delta}, {"normalize", false}})->query(ctx) == want);
    }
  }
  SUBCASE("purity delta on normalised features") {
    auto ctx = context(x, labeled, 8, 6);
    std::mt19937_64 rng(6);
    const auto m = normalized(rows_of(x, ctx));
    const double delta = reference_purity_delta(m, 4, 0.95, rng);
    CHECK(delta > 0);
    const auto want = to_pool(reference_probcover(m, labeled.size(), 8, delta, rng), ctx);
    CHECK(quarry::testing::make_strategy("probcover")->query(ctx) == want);
  }
  SUBCASE("k = 1, k >= candidates, one class, duplicates") {
    auto one = context(x, labeled, 1, 2);
    std::mt19937_64 rng(2);
    CHECK(quarry::testing::make_strategy("probcover", {{"delta", 2.0}, {"normalize", false}})->query(one) ==
          to_pool(reference_probcover(rows_of(x, one), labeled.size(), 1, 2.0, rng), one));
    auto all = context(x, labeled, 1000, 1);
    all.set_candidates({5, 6, 8});
    CHECK(quarry::testing::make_strategy("probcover")->query(all) == std::vector<std::int64_t>{5, 6, 8});
    // One class: every ball is pure, delta covers everything; the labeled rows already do.
    auto single = context(x, labeled, 4, 8, 1);
    std::mt19937_64 rng2(8);
    const auto m = normalized(rows_of(x, single));
    reference_kmeans(m, 1, rng2, 300, 1e-4);
    std::vector<std::int64_t> want;
    random_fill(want, m.size() - labeled.size(), 4, rng2);
    CHECK(quarry::testing::make_strategy("probcover")->query(single) == to_pool(want, single));
    // Duplicates: a point and its copy cover the same ball; the lower index is picked.
    const auto dup = torch::cat({x.narrow(0, 0, 20), x.narrow(0, 0, 20)});
    auto twins = context(dup, {}, 3, 4);
    std::mt19937_64 rng3(4);
    CHECK(quarry::testing::make_strategy("probcover", {{"delta", 1.0}, {"normalize", false}})->query(twins) ==
          to_pool(reference_probcover(rows_of(dup, twins), 0, 3, 1.0, rng3), twins));
  }
}

}  // namespace test_coverage_strategies
