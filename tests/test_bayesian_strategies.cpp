// bald and batchbald, loaded through the real host, against float64 brute force written from
// the papers: BALD's mutual information, BatchBALD's joint entropy by enumerating every label
// configuration (then by the same sampled configurations, replaying the same rng draws).
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "fixed_context.hpp"
#include "paths.hpp"
#include "support.hpp"
#include "quarry/selection.hpp"
#include "quarry/xlogx.hpp"

namespace test_bayesian_strategies {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::FixedPoolContext;

namespace {

/// S x N x C probabilities: softmax of scaled Gaussians, so samples disagree.
torch::Tensor mc_samples(std::int64_t s, std::int64_t n, std::int64_t c, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::softmax(at::randn({s, n, c}, gen, torch::kFloat) * 2, 2);
}

using Cube = std::vector<std::vector<std::vector<double>>>;  // [s][n][c]

Cube to_cube(const torch::Tensor& t) {
  const auto d = t.to(torch::kDouble).contiguous();
  Cube out(d.size(0), std::vector<std::vector<double>>(d.size(1), std::vector<double>(d.size(2))));
  const double* p = d.data_ptr<double>();
  for (std::int64_t s = 0; s < d.size(0); ++s)
    for (std::int64_t n = 0; n < d.size(1); ++n)
      for (std::int64_t c = 0; c < d.size(2); ++c) out[s][n][c] = *p++;
  return out;
}

double entropy(const std::vector<double>& p) {
  double h = 0;
  for (double x : p)
    if (x > 0) h -= x * std::log(x);
  return h;
}

double conditional_entropy(const Cube& p, std::size_t n) {
  double h = 0;
  for (const auto& sample : p) h += entropy(sample[n]);
  return h / static_cast<double>(p.size());
}

/// Indices of `scores` by decreasing score, ties by the lower position.
std::vector<std::int64_t> ranking(const std::vector<double>& scores, std::size_t k) {
  std::vector<std::int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores[a] > scores[b]; });
  order.resize(std::min(k, order.size()));
  return order;
}

std::vector<double> reference_bald(const Cube& p) {
  std::vector<double> scores;
  for (std::size_t n = 0; n < p[0].size(); ++n) {
    std::vector<double> mean(p[0][n].size(), 0.0);
    for (const auto& sample : p)
      for (std::size_t c = 0; c < mean.size(); ++c) mean[c] += sample[n][c] / static_cast<double>(p.size());
    scores.push_back(entropy(mean) - conditional_entropy(p, n));
  }
  return scores;
}

/// BatchBALD as the paper writes it: the greedy argmax of H(y_B, y_n) - sum E_w H, the joint
/// entropy summed over every configuration while C^|B| <= m, else over m configurations drawn
/// (weight sample j mod S, labels by inverse CDF, member by member) from the same rng.
std::vector<std::int64_t> reference_batchbald(const Cube& p, std::size_t k, std::int64_t m, std::mt19937_64& rng) {
  const auto S = p.size(), N = p[0].size(), C = p[0][0].size();
  std::vector<std::int64_t> batch;
  std::vector<std::vector<std::int64_t>> configs{{}};  // the labels of the batch, one vector per configuration
  bool exact = true;
  // prod_i p_s(y_i | x_i) of one configuration under weight sample s.
  const auto joint = [&](const std::vector<std::int64_t>& y, std::size_t s) {
    double prod = 1;
    for (std::size_t i = 0; i < batch.size(); ++i) prod *= p[s][batch[i]][y[i]];
    return prod;
  };
  while (true) {
    std::vector<double> scores(N, -std::numeric_limits<double>::infinity());
    for (std::size_t n = 0; n < N; ++n) {
      if (std::find(batch.begin(), batch.end(), static_cast<std::int64_t>(n)) != batch.end()) continue;
      double h = 0;
      for (const auto& y : configs) {
        double p_m = 0;
        for (std::size_t s = 0; s < S; ++s) p_m += joint(y, s) / S;
        for (std::size_t c = 0; c < C; ++c) {
          double q = 0;
          for (std::size_t s = 0; s < S; ++s) q += joint(y, s) * p[s][n][c] / S;
          if (q > 0) h -= (exact ? q : q / p_m / static_cast<double>(m)) * std::log(q);
        }
      }
      scores[n] = h - conditional_entropy(p, n);
    }
    batch.push_back(ranking(scores, 1)[0]);
    if (batch.size() == k) return batch;
    if (exact && std::pow(static_cast<double>(C), static_cast<double>(batch.size())) <= static_cast<double>(m)) {
      std::vector<std::vector<std::int64_t>> longer;
      for (const auto& y : configs)
        for (std::size_t c = 0; c < C; ++c) {
          longer.push_back(y);
          longer.back().push_back(static_cast<std::int64_t>(c));
        }
      configs = longer;
      continue;
    }
    exact = false;
    configs.assign(static_cast<std::size_t>(m), {});
    for (std::int64_t j = 0; j < m; ++j)
      for (const auto i : batch) {
        const auto& row = p[j % S][i];
        const double u = uniform01(rng);
        double cum = 0;
        std::int64_t label = -1;
        for (std::size_t c = 0; c < C && label < 0; ++c)
          if ((cum += row[c]) > u) label = static_cast<std::int64_t>(c);
        if (label < 0)
          for (std::size_t c = 0; c < C; ++c)
            if (row[c] > 0) label = static_cast<std::int64_t>(c);
        configs[j].push_back(label);
      }
  }
}

std::vector<std::int64_t> odd_positions(std::int64_t n) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 1; i < n; i += 2) out.push_back(i);
  return out;
}

FixedPoolContext context(const torch::Tensor& samples, std::vector<std::int64_t> labeled, std::int64_t k,
                         std::uint64_t seed) {
  FixedPoolContext::Pool pool;
  pool.samples = samples;
  pool.num_classes = samples.size(2);
  return FixedPoolContext(pool, std::move(labeled), k, seed);
}

}  // namespace

TEST_CASE("bald picks the top mutual information of float64 brute force, ties by the lower index") {
  const auto samples = mc_samples(8, 60, 4, 3);
  const auto candidates = odd_positions(60);
  auto ctx = context(samples, {0, 2, 4}, 10, 1);
  ctx.set_candidates(candidates);
  const auto got = quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}})->query(ctx);
  CHECK(ctx.sample_calls == 1);
  const auto cand = torch::tensor(candidates, torch::kLong);
  std::vector<std::int64_t> want;
  for (auto pos : ranking(reference_bald(to_cube(samples.index_select(1, cand))), 10)) want.push_back(candidates[pos]);
  CHECK(got == want);

  SUBCASE("a tiny budget asks for the samples a chunk at a time and picks the same") {
    auto small = context(samples, {0, 2, 4}, 10, 1);
    small.set_candidates(candidates);
    const auto chunked = quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}, {"memory_mb", std::int64_t{0}}});
    small.budget = 8 * 4 * 8 * 5;  // five candidates per call
    CHECK(chunked->query(small) == want);
    CHECK(small.sample_calls > 3);
  }
  SUBCASE("k = 1, k >= candidates, one class, duplicates") {
    auto one = context(samples, {}, 1, 1);
    CHECK(quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}})->query(one) ==
          std::vector<std::int64_t>{ranking(reference_bald(to_cube(samples)), 1)[0]});
    auto all = context(samples, {}, 100, 1);
    all.set_candidates({5, 6, 7});
    auto picked = quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}})->query(all);
    std::sort(picked.begin(), picked.end());
    CHECK(picked == std::vector<std::int64_t>{5, 6, 7});
    auto single = context(torch::ones({8, 10, 1}), {}, 3, 1);  // one class: every score 0
    CHECK(quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}})->query(single) == std::vector<std::int64_t>{0, 1, 2});
    auto dup = samples.clone();
    dup.select(1, 9).copy_(dup.select(1, 3));
    auto twins = context(dup, {}, 60, 1);
    const auto order = quarry::testing::make_strategy("bald", {{"mc_samples", std::int64_t{8}}})->query(twins);
    const auto at3 = std::find(order.begin(), order.end(), 3) - order.begin();
    const auto at9 = std::find(order.begin(), order.end(), 9) - order.begin();
    CHECK(at9 == at3 + 1);  // equal scores: the lower index first, right before its twin
  }
}

TEST_CASE("batchbald picks what float64 brute force picks, exact enumeration then sampled configurations") {
  const auto samples = mc_samples(5, 40, 3, 7);
  const auto candidates = odd_positions(40);
  const auto cand = torch::tensor(candidates, torch::kLong);
  const auto cube = to_cube(samples.index_select(1, cand));
  for (const std::int64_t m : {std::int64_t{100000}, std::int64_t{30}}) {  // all exact; exact for 3 picks, then sampled
    CAPTURE(m);
    auto ctx = context(samples, {0, 2}, 8, 42);
    ctx.set_candidates(candidates);
    const auto got =
        quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}, {"joint_samples", m}})->query(ctx);
    std::mt19937_64 rng(42);
    std::vector<std::int64_t> want;
    for (auto pos : reference_batchbald(cube, 8, m, rng)) want.push_back(candidates[pos]);
    CHECK(got == want);
  }
  SUBCASE("the first pick is BALD's") {
    auto ctx = context(samples, {}, 1, 1);
    const auto first = quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}})->query(ctx);
    CHECK(first == std::vector<std::int64_t>{ranking(reference_bald(to_cube(samples)), 1)[0]});
  }
  SUBCASE("duplicate points: the lower index wins the tie, then brute force's picks") {
    auto dup = samples.clone();
    const auto bald_first = ranking(reference_bald(to_cube(samples)), 1)[0];
    const std::int64_t twin = bald_first == 0 ? 1 : 0;
    dup.select(1, twin).copy_(dup.select(1, bald_first));
    auto ctx = context(dup, {}, 5, 1);
    const auto got = quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}})->query(ctx);
    CHECK(got.front() == std::min(twin, bald_first));
    std::mt19937_64 rng(1);
    CHECK(got == reference_batchbald(to_cube(dup), 5, 1000, rng));
  }
  SUBCASE("k >= candidates, one class") {
    auto all = context(samples, {}, 100, 1);
    all.set_candidates({3, 4});
    CHECK(quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}})->query(all) == std::vector<std::int64_t>{3, 4});
    auto single = context(torch::ones({5, 6, 1}), {}, 3, 1);
    CHECK(quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}})->query(single) ==
          std::vector<std::int64_t>{0, 1, 2});
  }
  SUBCASE("samples over the budget: a clear error") {
    auto ctx = context(samples, {}, 3, 1);
    ctx.budget = 100;
    CHECK_THROWS_WITH_AS(quarry::testing::make_strategy("batchbald", {{"mc_samples", std::int64_t{5}}})->query(ctx),
                         doctest::Contains("batchbald"), Error);
  }
}

TEST_CASE("a context without Monte-Carlo samples: bald and batchbald say so") {
  FixedPoolContext::Pool pool;
  pool.probabilities = torch::full({6, 2}, 0.5);
  pool.num_classes = 2;
  FixedPoolContext ctx(pool, {}, 2, 1);
  for (const char* name : {"bald", "batchbald"}) {
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(quarry::testing::make_strategy(name)->query(ctx), doctest::Contains("Monte-Carlo samples"), Error);
  }
}

TEST_CASE("xlogx: x log x within 3 float32 ulp of float64, 0 below FLT_MIN, NaN kept, the same bits in a loop") {
  std::mt19937_64 rng(5);
  std::vector<float> xs;
  for (int i = 0; i < 20000; ++i) {
    // Uniform in (0, 1) and spread over the exponents down to FLT_MIN.
    const auto u = static_cast<float>(quarry::uniform01(rng));
    xs.push_back(i % 2 ? u : std::ldexp(std::max(u, 0.5f), -(i % 126)));
  }
  xs.insert(xs.end(), {1.0f, 0.5f, std::numeric_limits<float>::min(), 0.70710677f, 0.70710683f, 1e-30f});
  double worst = 0;
  for (const float x : xs) {
    const double want = static_cast<double>(x) * std::log(static_cast<double>(x));
    const double got = quarry::xlogx(x);
    if (want != 0) worst = std::max(worst, std::abs(got - want) / std::abs(want));
    else CHECK(got == 0);
  }
  CHECK(worst < 3 * 5.96e-8);
  CHECK(quarry::xlogx(0.0f) == 0.0f);
  CHECK(quarry::xlogx(std::numeric_limits<float>::denorm_min()) == 0.0f);
  CHECK(quarry::xlogx(-0.5f) == 0.0f);
  CHECK(std::isnan(quarry::xlogx(std::numeric_limits<float>::quiet_NaN())));
  // The array form (vectorised) gives the scalar form's bits for every element.
  std::vector<float> out(xs.size());
  quarry::xlogx(xs.data(), out.data(), static_cast<std::int64_t>(xs.size()));
  for (std::size_t i = 0; i < xs.size(); ++i) CHECK(out[i] == quarry::xlogx(xs[i]));
}

}  // namespace test_bayesian_strategies
