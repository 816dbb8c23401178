// dropquery and alfamix, loaded through the real host with a linear classifier head, against
// float64 brute force written from the papers (the same rng draws, materialised matrices).
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "fixed_context.hpp"
#include "paths.hpp"
#include "support.hpp"
#include "quarry/selection.hpp"
#include "reference_kmeans.hpp"

namespace test_mixing_strategies {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing::reference;
using quarry::testing::FixedPoolContext;

namespace {

struct Setup {
  torch::Tensor features, weight, bias;
  std::vector<std::int64_t> labels;
};

Setup setup(std::int64_t n, std::int64_t dim, std::int64_t classes, std::uint64_t seed, double head_scale = 1.0) {
  auto gen = at::detail::createCPUGenerator(seed);
  Setup s;
  s.features = blobs(n, dim, classes, seed);
  s.weight = at::randn({classes, dim}, gen, torch::kFloat) * head_scale;
  s.bias = at::randn({classes}, gen, torch::kFloat) * 0.1;
  const auto y = torch::addmm(s.bias, s.features, s.weight.t()).argmax(1);
  for (std::int64_t i = 0; i < n; ++i) s.labels.push_back(y[i].item<std::int64_t>());
  return s;
}

FixedPoolContext context(const Setup& s, std::vector<std::int64_t> labeled, std::int64_t k, std::uint64_t seed) {
  FixedPoolContext::Pool pool;
  pool.features = s.features;
  pool.head_weight = s.weight;
  pool.head_bias = s.bias;
  pool.labels = s.labels;
  pool.num_classes = s.weight.size(0);
  return FixedPoolContext(pool, std::move(labeled), k, seed);
}

std::vector<double> logits(const std::vector<double>& f, const Matrix& w, const std::vector<double>& b) {
  std::vector<double> out(b);
  for (std::size_t c = 0; c < w.size(); ++c)
    for (std::size_t d = 0; d < f.size(); ++d) out[c] += w[c][d] * f[d];
  return out;
}

std::int64_t argmax(const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

/// quarry::diverse_subset as its header states, in float64.
std::vector<std::int64_t> reference_diverse(const Matrix& rows, const std::vector<std::int64_t>& flagged, std::size_t k,
                                            std::mt19937_64& rng) {
  const auto n = rows.size();
  std::vector<std::int64_t> picked;
  const auto fill = [&](const std::vector<char>& allowed) {
    while (picked.size() < k) {
      std::vector<std::int64_t> left;
      for (std::size_t i = 0; i < n; ++i)
        if (allowed[i] && std::find(picked.begin(), picked.end(), static_cast<std::int64_t>(i)) == picked.end())
          left.push_back(static_cast<std::int64_t>(i));
      if (left.empty()) return;
      picked.push_back(left[uniform_index(rng, static_cast<std::int64_t>(left.size()))]);
    }
  };
  std::vector<char> is_flagged(n, 0);
  for (auto f : flagged) is_flagged[f] = 1;
  if (flagged.size() <= k) {
    picked = flagged;
    std::vector<char> others(n);
    for (std::size_t i = 0; i < n; ++i) others[i] = !is_flagged[i];
    fill(others);
    return picked;
  }
  Matrix unit;
  for (auto f : flagged) {
    auto r = rows[f];
    double s = 0;
    for (double v : r) s += v * v;
    for (double& v : r) v /= std::sqrt(s);
    unit.push_back(r);
  }
  const auto km = reference_kmeans(unit, static_cast<std::int64_t>(k), rng, 300, 1e-4);
  for (std::size_t c = 0; c < k; ++c) {
    std::int64_t best = -1;
    double best_d = 0;
    for (std::size_t i = 0; i < unit.size(); ++i)
      if (km.assignment[i] == static_cast<std::int64_t>(c)) {
        const double d = sq_dist(unit[i], km.centres[c]);
        if (best < 0 || d < best_d * (1 - 1e-5)) best = static_cast<std::int64_t>(i), best_d = d;
      }
    if (best >= 0) picked.push_back(flagged[best]);
  }
  fill(is_flagged);
  return picked;
}

std::vector<std::int64_t> reference_dropquery(const Matrix& f, const Matrix& w, const std::vector<double>& b,
                                              std::size_t k, std::int64_t passes, double p, std::mt19937_64& rng) {
  const auto n = f.size();
  std::vector<std::int64_t> y_star, mismatches(n, 0);
  for (const auto& row : f) y_star.push_back(argmax(logits(row, w, b)));
  for (std::int64_t pass = 0; pass < passes; ++pass) {
    const std::uint64_t key = rng();  // one key per pass; then draw i D + d of its stream
    for (std::size_t i = 0; i < n; ++i) {
      auto dropped = f[i];
      for (std::size_t d = 0; d < dropped.size(); ++d)
        dropped[d] = stream_uniform01(key, i * dropped.size() + d) >= p ? dropped[d] / (1 - p) : 0.0;
      mismatches[i] += argmax(logits(dropped, w, b)) != y_star[i];
    }
  }
  std::vector<std::int64_t> flagged;
  for (std::size_t i = 0; i < n; ++i)
    if (2 * mismatches[i] > passes) flagged.push_back(static_cast<std::int64_t>(i));
  return reference_diverse(f, flagged, k, rng);
}

std::vector<std::int64_t> reference_alfamix(const Matrix& f, const Matrix& labeled_f,
                                            const std::vector<std::int64_t>& labeled_y, const Matrix& w,
                                            const std::vector<double>& b, std::size_t k, double eps_scale,
                                            std::mt19937_64& rng) {
  const auto n = f.size();
  const auto dim = f[0].size();
  const double eps = eps_scale / std::sqrt(static_cast<double>(dim));
  std::map<std::int64_t, std::vector<double>> anchors;
  std::map<std::int64_t, int> count;
  for (std::size_t i = 0; i < labeled_f.size(); ++i) {
    auto& a = anchors[labeled_y[i]];
    a.resize(dim, 0.0);
    for (std::size_t d = 0; d < dim; ++d) a[d] += labeled_f[i][d];
    ++count[labeled_y[i]];
  }
  for (auto& [c, a] : anchors)
    for (double& v : a) v /= count[c];
  std::vector<std::int64_t> flagged;
  for (std::size_t i = 0; i < n; ++i) {
    const auto l = logits(f[i], w, b);
    const auto y = argmax(l);
    // d CE / d z = W^T (softmax(l) - onehot(y)), with softmax_y - 1 = -S / (1 + S) and
    // softmax_c = e_c / (1 + S), e_c = exp(l_c - l_y), S = sum_{c != y} e_c: no cancellation.
    double sum = 0;
    for (std::size_t c = 0; c < l.size(); ++c)
      if (static_cast<std::int64_t>(c) != y) sum += std::exp(l[c] - l[y]);
    std::vector<double> g(dim, 0.0);
    for (std::size_t c = 0; c < w.size(); ++c) {
      const double coef = static_cast<std::int64_t>(c) == y ? -sum / (1 + sum) : std::exp(l[c] - l[y]) / (1 + sum);
      for (std::size_t d = 0; d < dim; ++d) g[d] += coef * w[c][d];
    }
    const double gn = std::sqrt(std::inner_product(g.begin(), g.end(), g.begin(), 0.0));
    bool flip = false;
    for (const auto& [c, a] : anchors) {
      const double dist = std::sqrt(sq_dist(a, f[i]));
      std::vector<double> mix(f[i]);
      for (std::size_t d = 0; d < dim; ++d) mix[d] += eps * dist * g[d] / gn;
      flip = flip || argmax(logits(mix, w, b)) != y;
    }
    if (flip) flagged.push_back(static_cast<std::int64_t>(i));
  }
  return reference_diverse(f, flagged, k, rng);
}

Matrix rows(const torch::Tensor& t, const std::vector<std::int64_t>& idx) {
  return to_matrix(t.index_select(0, torch::tensor(idx, torch::kLong)));
}

std::vector<std::int64_t> to_pool(const std::vector<std::int64_t>& positions, const std::vector<std::int64_t>& cand) {
  std::vector<std::int64_t> out;
  for (auto p : positions) out.push_back(cand[p]);
  return out;
}

}  // namespace

TEST_CASE("dropquery picks what float64 brute force picks for the same draws") {
  const auto s = setup(120, 8, 3, 31, 0.5);
  const auto w = to_matrix(s.weight);
  const auto b = to_matrix(s.bias.unsqueeze(0))[0];
  for (const std::int64_t k : {std::int64_t{6}, std::int64_t{1}, std::int64_t{90}}) {  // 90: more than flagged
    CAPTURE(k);
    auto ctx = context(s, {0, 1, 2}, k, 12);
    std::mt19937_64 rng(12);
    const auto& cand = ctx.candidates();
    const auto want = to_pool(reference_dropquery(rows(s.features, cand), w, b, k, 3, 0.75, rng), cand);
    CHECK(quarry::testing::make_strategy("dropquery")->query(ctx) == want);
    // Masks in chunks of 10 candidates (the budget): the same draws, so the same picks.
    auto small = context(s, {0, 1, 2}, k, 12);
    small.budget = 12 * 4 * 8 * 10;
    CHECK(quarry::testing::make_strategy("dropquery")->query(small) == want);
  }
  SUBCASE("k >= candidates, one class, duplicates, no head") {
    auto all = context(s, {}, 500, 1);
    all.set_candidates({3, 4, 5});
    CHECK(quarry::testing::make_strategy("dropquery")->query(all) == std::vector<std::int64_t>{3, 4, 5});
    auto one = setup(40, 4, 1, 2);  // one class: no prediction can change; every pick is drawn
    auto single = context(one, {}, 4, 3);
    std::mt19937_64 rng(3);
    const auto& cand = single.candidates();
    CHECK(quarry::testing::make_strategy("dropquery")->query(single) ==
          to_pool(reference_dropquery(rows(one.features, cand), to_matrix(one.weight),
                                      to_matrix(one.bias.unsqueeze(0))[0], 4, 3, 0.75, rng),
                  cand));
    auto dup = s;
    dup.features = s.features.narrow(0, 0, 30).repeat({2, 1});
    auto twins = context(dup, {}, 5, 8);
    std::mt19937_64 rng2(8);
    CHECK(quarry::testing::make_strategy("dropquery")->query(twins) ==
          to_pool(reference_dropquery(rows(dup.features, twins.candidates()), w, b, 5, 3, 0.75, rng2),
                  twins.candidates()));
    FixedPoolContext::Pool pool;
    pool.features = s.features;
    pool.num_classes = 3;
    FixedPoolContext headless(pool, {}, 3, 1);
    CHECK_THROWS_WITH_AS(quarry::testing::make_strategy("dropquery")->query(headless), doctest::Contains("classifier head"), Error);
  }
}

TEST_CASE("alfamix picks what float64 brute force picks: anchors from the labeled pool's labels") {
  const auto s = setup(150, 6, 4, 41, 0.7);
  const auto w = to_matrix(s.weight);
  const auto b = to_matrix(s.bias.unsqueeze(0))[0];
  const std::vector<std::int64_t> labeled{0, 1, 2, 3, 4, 5, 6, 7};
  for (const double eps_scale : {0.2, 3.0}) {  // few flagged, many flagged
    for (const std::int64_t k : {std::int64_t{5}, std::int64_t{1}}) {
      CAPTURE(eps_scale);
      CAPTURE(k);
      auto ctx = context(s, labeled, k, 21);
      std::mt19937_64 rng(21);
      std::vector<std::int64_t> labeled_y;
      for (auto i : labeled) labeled_y.push_back(s.labels[i]);
      const auto& cand = ctx.candidates();
      const auto want = to_pool(reference_alfamix(rows(s.features, cand), rows(s.features, labeled), labeled_y, w, b,
                                                  k, eps_scale, rng),
                                cand);
      CHECK(quarry::testing::make_strategy("alfamix", {{"eps_scale", eps_scale}})->query(ctx) == want);
    }
  }
  SUBCASE("no labels: uniform draws; k >= candidates; no labels in the context: an error") {
    auto none = context(s, {}, 4, 5);
    std::mt19937_64 rng(5);
    CHECK(quarry::testing::make_strategy("alfamix")->query(none) ==
          to_pool(reference_diverse(rows(s.features, none.candidates()), {}, 4, rng), none.candidates()));
    auto all = context(s, labeled, 1000, 1);
    all.set_candidates({10, 11});
    CHECK(quarry::testing::make_strategy("alfamix")->query(all) == std::vector<std::int64_t>{10, 11});
    FixedPoolContext::Pool pool;
    pool.features = s.features;
    pool.head_weight = s.weight;
    pool.head_bias = s.bias;
    pool.num_classes = 4;
    FixedPoolContext unlabeled(pool, labeled, 3, 1);
    CHECK_THROWS_WITH_AS(quarry::testing::make_strategy("alfamix")->query(unlabeled), doctest::Contains("labels"), Error);
  }
}

}  // namespace test_mixing_strategies
