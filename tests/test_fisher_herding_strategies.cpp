// BAIT (quarry/fisher.hpp) and kernel herding (quarry/herding.hpp) against brute-force
// references written plainly here (materialised float64 matrices, the objective recomputed
// from scratch for every candidate), then the bait and herding plugins through the real host.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "fixed_context.hpp"
#include "paths.hpp"
#include "quarry/fisher.hpp"
#include "quarry/herding.hpp"

namespace test_fisher_herding_strategies {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::plugin_dir;

using quarry::testing::FixedPoolContext;

namespace {

using Picks = std::vector<std::int64_t>;
constexpr std::int64_t kBudget = std::int64_t{256} << 20;

torch::Tensor randn(std::vector<std::int64_t> shape, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, torch::kDouble);
}

// ---- BAIT, brute force ----------------------------------------------------------------

// The per-class gradient embeddings of one point, each row a vector of size C' * D.
torch::Tensor gradient_rows(const torch::Tensor& p, const torch::Tensor& f, const BaitOptions& o) {
  const auto c = p.size(0), d = f.size(0);
  std::vector<torch::Tensor> rows;
  if (o.likelihood == FisherLikelihood::BinaryCrossEntropy) {
    const double pmax = p.max().item<double>();
    if (o.top_classes == 1) {
      rows.push_back((1 - pmax) * f);
    } else {
      rows.push_back(std::sqrt(pmax) * (1 - pmax) * f);
      rows.push_back(-std::sqrt(1 - pmax) * pmax * f);
    }
    return torch::stack(rows);
  }
  // Classes in order of probability, the lower index first among equals.
  std::vector<std::int64_t> order(static_cast<std::size_t>(c));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return p[a].item<double>() > p[b].item<double>(); });
  const auto take = o.top_classes == 0 ? c : std::min(o.top_classes, c);
  double total = 0;
  for (std::int64_t j = 0; j < take; ++j) total += p[order[j]].item<double>();
  for (std::int64_t j = 0; j < take; ++j) {
    const auto y = order[j];
    const double q = o.top_classes == 0 ? p[y].item<double>() : p[y].item<double>() / total;
    auto a = -p.clone();
    a[y] += 1.0;
    rows.push_back(std::sqrt(q) * torch::kron(a, f));  // (e_y - p) outer f, flattened
  }
  (void)d;
  return torch::stack(rows);
}

double objective(const torch::Tensor& m, const torch::Tensor& fisher) {
  return torch::trace(torch::inverse(m).mm(fisher)).item<double>();
}

// BAIT as the paper states it: forward greedy on tr(M^-1 F), then backward removal.
Picks bait_brute(const torch::Tensor& p, const torch::Tensor& f, const torch::Tensor& lp, const torch::Tensor& lf,
                 std::int64_t k, const BaitOptions& o) {
  const auto n = p.size(0), l = lp.defined() ? lp.size(0) : 0;
  if (k >= n) {
    Picks all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  std::vector<torch::Tensor> info;  // I(x) for every candidate
  for (std::int64_t i = 0; i < n; ++i) {
    const auto v = gradient_rows(p[i], f[i], o);
    info.push_back(v.t().mm(v));
  }
  const auto dim = info[0].size(0);
  auto fisher = torch::zeros({dim, dim}, torch::kDouble);
  for (const auto& i : info) fisher += i;
  auto m = o.lambda * torch::eye(dim, torch::kDouble);
  for (std::int64_t i = 0; i < l; ++i) {
    const auto v = gradient_rows(lp[i], lf[i], o);
    fisher += v.t().mm(v);
    m += v.t().mm(v) / static_cast<double>(l + k);
  }
  fisher /= static_cast<double>(n + l);
  const double s = static_cast<double>(k) / static_cast<double>(l + k);
  Picks chosen;
  const auto steps = std::min<std::int64_t>(n, static_cast<std::int64_t>(std::ceil(o.oversample * k)));
  for (std::int64_t step = 0; step < steps; ++step) {
    std::int64_t best = -1;
    double best_value = std::numeric_limits<double>::infinity();
    for (std::int64_t i = 0; i < n; ++i) {
      if (std::find(chosen.begin(), chosen.end(), i) != chosen.end()) continue;
      const double value = objective(m + s * info[i], fisher);
      if (value < best_value) best = i, best_value = value;  // strict: the lowest position wins ties
    }
    chosen.push_back(best);
    m += s * info[best];
  }
  while (static_cast<std::int64_t>(chosen.size()) > k) {
    std::size_t drop = 0;
    double best_value = std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < chosen.size(); ++j) {
      const double value = objective(m - s * info[chosen[j]], fisher);
      if (value < best_value) drop = j, best_value = value;  // strict: the earliest chosen wins ties
    }
    m -= s * info[chosen[drop]];
    chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  return chosen;
}

struct BaitCase {
  torch::Tensor p, f, lp, lf;
};

BaitCase bait_case(std::int64_t n, std::int64_t l, std::int64_t c, std::int64_t d, std::uint64_t seed) {
  BaitCase bc;
  bc.p = torch::softmax(randn({n, c}, seed) * 2, 1);
  bc.f = torch::relu(randn({n, d}, seed + 1));
  if (l > 0) {
    bc.lp = torch::softmax(randn({l, c}, seed + 2) * 2, 1);
    bc.lf = torch::relu(randn({l, d}, seed + 3));
  }
  return bc;
}

// ---- herding, brute force -------------------------------------------------------------

Picks herding_brute(const torch::Tensor& x, const torch::Tensor& lab, const torch::Tensor& w, double gamma,
                    std::int64_t k) {
  const auto n = x.size(0);
  if (k >= n) {
    Picks all(static_cast<std::size_t>(n));
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  const auto normalize = [](const torch::Tensor& t) { return t / t.norm(2, 1, true).clamp_min(1e-12); };
  const auto xn = normalize(x);
  const auto kernel = [&](const torch::Tensor& a, const torch::Tensor& b) {  // exp(-gamma ||a_i - b_j||^2)
    return (-gamma * (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(2)).exp();
  };
  const auto kk = kernel(xn, xn);  // N x N, materialised
  auto m = lab.defined() && lab.size(0) > 0 ? std::get<0>(kernel(xn, normalize(lab)).max(1)) : torch::zeros({n}, torch::kDouble);
  Picks chosen;
  for (std::int64_t step = 0; step < k; ++step) {
    auto gain = (kk - m.unsqueeze(1)).clamp_min(0).sum(0);
    if (w.defined()) gain = gain * w;
    double best = -1;
    for (std::int64_t i = 0; i < n; ++i)
      if (std::find(chosen.begin(), chosen.end(), i) == chosen.end()) best = std::max(best, gain[i].item<double>());
    for (std::int64_t i = 0; i < n; ++i)
      if (std::find(chosen.begin(), chosen.end(), i) == chosen.end() && gain[i].item<double>() >= best - 1e-9 * best) {
        chosen.push_back(i);
        break;
      }
    m = torch::maximum(m, kk.select(1, chosen.back()));
  }
  return chosen;
}

// ---- the plugins through the host -----------------------------------------------------

// The fixed pool the plugins see: these probabilities and features, seed 1.
FixedPoolContext fixed_context(const torch::Tensor& p, const torch::Tensor& f, Picks labeled, std::int64_t k) {
  FixedPoolContext::Pool pool;
  pool.probabilities = p.to(torch::kFloat);
  pool.features = f.to(torch::kFloat);
  pool.num_classes = p.size(1);
  return FixedPoolContext(std::move(pool), std::move(labeled), k, 1);
}

Picks mapped(const Picks& positions, const Picks& candidates) {
  Picks out;
  for (auto p : positions) out.push_back(candidates[static_cast<std::size_t>(p)]);
  return out;
}

torch::Tensor rows(const torch::Tensor& t, const Picks& idx) { return t.index_select(0, torch::tensor(idx, torch::kLong)); }

}  // namespace

TEST_CASE("bait picks what the brute-force forward-backward greedy picks, for every likelihood") {
  struct Variant {
    const char* name;
    FisherLikelihood likelihood;
    std::int64_t top;
  };
  const Variant variants[] = {{"cross_entropy", FisherLikelihood::CrossEntropy, 0},
                              {"cross_entropy top-1", FisherLikelihood::CrossEntropy, 1},
                              {"cross_entropy top-2", FisherLikelihood::CrossEntropy, 2},
                              {"binary_cross_entropy", FisherLikelihood::BinaryCrossEntropy, 0},
                              {"binary_cross_entropy top-1", FisherLikelihood::BinaryCrossEntropy, 1}};
  for (const auto& v : variants)
    for (const std::int64_t labeled : {0, 7}) {
      CAPTURE(v.name);
      CAPTURE(labeled);
      BaitOptions o;
      o.likelihood = v.likelihood;
      o.top_classes = v.top;
      o.lambda = 0.5;
      const auto bc = bait_case(30, labeled, 3, 4, 11 + static_cast<std::uint64_t>(labeled));
      for (const std::int64_t k : {1, 4}) {
        CAPTURE(k);
        const auto want = bait_brute(bc.p, bc.f, bc.lp, bc.lf, k, o);
        CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, k, o, kBudget) == want);
        // float32 inputs, same float64 computation.
        CHECK(bait_select(bc.p.to(torch::kFloat), bc.f.to(torch::kFloat),
                          bc.lp.defined() ? bc.lp.to(torch::kFloat) : bc.lp,
                          bc.lf.defined() ? bc.lf.to(torch::kFloat) : bc.lf, k, o, kBudget)
                  .size() == static_cast<std::size_t>(k));
      }
    }
}

TEST_CASE("bait gradient factors are the per-class gradients of the log-likelihood, scaled by sqrt(p)") {
  const auto bc = bait_case(5, 0, 4, 3, 3);
  for (const std::int64_t top : {0, 1, 3}) {
    BaitOptions o;
    o.top_classes = top;
    const auto s = fisher_gradient_factors(bc.p, o);  // N x r x C
    for (std::int64_t i = 0; i < 5; ++i) {
      const auto want = gradient_rows(bc.p[i], bc.f[i], o);
      CHECK(s.size(1) == want.size(0));
      // The Fisher of the point, sum_r v_r v_r^T (the rows' order differs).
      std::vector<torch::Tensor> v;
      for (std::int64_t r = 0; r < s.size(1); ++r) v.push_back(torch::kron(s[i][r], bc.f[i]));
      const auto vs = torch::stack(v);
      CHECK(torch::allclose(vs.t().mm(vs), want.t().mm(want), 1e-12, 1e-12));
    }
  }
}

TEST_CASE("bait edge cases: query >= candidates, k = 1, duplicates, one class, float32, budget") {
  BaitOptions o;
  const auto bc = bait_case(12, 5, 3, 4, 21);
  SUBCASE("query size >= candidates returns every position") {
    CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, 12, o, kBudget) == Picks{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, 50, o, kBudget).size() == 12);
    CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, 0, o, kBudget).empty());
  }
  SUBCASE("oversampling past the candidates: every candidate forward, then backward to k") {
    CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, 8, o, kBudget) == bait_brute(bc.p, bc.f, bc.lp, bc.lf, 8, o));
  }
  SUBCASE("duplicated candidates") {
    const auto idx = torch::tensor({0, 1, 1, 2, 3, 3, 3, 4, 5, 6}, torch::kLong);
    const auto p = bc.p.index_select(0, idx), f = bc.f.index_select(0, idx);
    for (const std::int64_t k : {1, 3}) CHECK(bait_select(p, f, bc.lp, bc.lf, k, o, kBudget) == bait_brute(p, f, bc.lp, bc.lf, k, o));
  }
  SUBCASE("one class: every gradient is zero, so ties everywhere (forward 0..2k-1, backward drops the earliest)") {
    const auto p = torch::ones({10, 1}, torch::kDouble);
    CHECK(bait_select(p, bc.f.narrow(0, 0, 10), torch::Tensor(), torch::Tensor(), 3, o, kBudget) == Picks{3, 4, 5});
    CHECK(bait_brute(p, bc.f.narrow(0, 0, 10), torch::Tensor(), torch::Tensor(), 3, o) == Picks{3, 4, 5});
  }
  SUBCASE("float32 precision picks the same on well-separated data") {
    BaitOptions single = o;
    single.dtype = torch::kFloat;
    CHECK(bait_select(bc.p, bc.f, bc.lp, bc.lf, 3, single, kBudget) == bait_brute(bc.p, bc.f, bc.lp, bc.lf, 3, o));
  }
  SUBCASE("a Fisher that does not fit the budget is an error naming both sizes and the way out") {
    const auto big = bait_case(20, 0, 100, 512, 5);
    const auto need = bait_memory_bytes(20, 0, 100, 512, 10, o);
    CHECK(need > (std::int64_t{50} << 30));  // three (C D)^2 float64 matrices
    try {
      bait_select(big.p, big.f, torch::Tensor(), torch::Tensor(), 10, o, std::int64_t{1} << 30);
      FAIL("expected an error");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("needs " + std::to_string(need >> 20) + " MiB") != std::string::npos);
      CHECK(msg.find("memory budget of 1024 MiB") != std::string::npos);
      CHECK(msg.find("binary_cross_entropy") != std::string::npos);
    }
    BaitOptions binary = o;
    binary.likelihood = FisherLikelihood::BinaryCrossEntropy;
    CHECK(bait_select(big.p, big.f, torch::Tensor(), torch::Tensor(), 5, binary, std::int64_t{1} << 30).size() == 5);
  }
  SUBCASE("bad options") {
    BaitOptions bad = o;
    bad.lambda = 0;
    CHECK_THROWS_AS(bait_select(bc.p, bc.f, bc.lp, bc.lf, 3, bad, kBudget), Error);
    bad = o;
    bad.likelihood = FisherLikelihood::BinaryCrossEntropy;
    bad.top_classes = 3;
    CHECK_THROWS_AS(bait_select(bc.p, bc.f, bc.lp, bc.lf, 3, bad, kBudget), Error);
    CHECK_THROWS_AS(parse_fisher_likelihood("mse"), Error);
    CHECK_THROWS_AS(bait_select(bc.p.narrow(0, 0, 5), bc.f, bc.lp, bc.lf, 3, o, kBudget), Error);
  }
}

TEST_CASE("kernel herding picks what the brute-force greedy on the materialised kernel picks") {
  const auto x = torch::relu(randn({60, 5}, 31));
  const auto lab = torch::relu(randn({9, 5}, 32));
  const auto w = torch::rand({60}, at::detail::createCPUGenerator(33), torch::kDouble);
  for (const double gamma : {0.5, 3.0})
    for (const bool labeled : {false, true})
      for (const bool weighted : {false, true}) {
        CAPTURE(gamma);
        CAPTURE(labeled);
        CAPTURE(weighted);
        const auto l = labeled ? lab : torch::Tensor();
        const auto wt = weighted ? w : torch::Tensor();
        for (const std::int64_t k : {1, 10}) {
          const auto want = herding_brute(x, l, wt, gamma, k);
          CHECK(kernel_herding(x, l, wt, gamma, k, kBudget) == want);
          // A budget of a few kernel columns: blocked first pass, lazy steps, same picks.
          CHECK(kernel_herding(x, l, wt, gamma, k, 8 * (69 * 6 + 4 * 60) + 2 * 60 * 8 * 3) == want);
          // float32 computation on the same points.
          CHECK(kernel_herding(x.to(torch::kFloat), labeled ? lab.to(torch::kFloat) : l, wt, gamma, k, kBudget) == want);
        }
      }
}

TEST_CASE("kernel herding edge cases: query >= candidates, duplicates, zero weights, gamma heuristic, budget") {
  const auto x = torch::relu(randn({20, 4}, 41)) + 0.01;
  SUBCASE("query size >= candidates returns every position") {
    CHECK(kernel_herding(x, torch::Tensor(), torch::Tensor(), 1.0, 20, kBudget).size() == 20);
    CHECK(kernel_herding(x, torch::Tensor(), torch::Tensor(), 1.0, 25, kBudget) == herding_brute(x, torch::Tensor(), torch::Tensor(), 1.0, 25));
  }
  SUBCASE("duplicates: a duplicate of a chosen point gains nothing, and ties go to the lower position") {
    const auto d = torch::cat({x, x.narrow(0, 0, 5)});
    for (const std::int64_t k : {1, 6, 12}) {
      const auto got = kernel_herding(d, torch::Tensor(), torch::Tensor(), 2.0, k, kBudget);
      CHECK(got == herding_brute(d, torch::Tensor(), torch::Tensor(), 2.0, k));
    }
  }
  SUBCASE("all weights zero (one class: no uncertainty): the lowest positions") {
    CHECK(kernel_herding(x, torch::Tensor(), torch::zeros({20}, torch::kDouble), 1.0, 3, kBudget) == Picks{0, 1, 2});
  }
  SUBCASE("gamma from the labeled points: 1 / the smallest distance squared between two of them") {
    const auto lab = x.narrow(0, 0, 8);
    const auto n = lab / lab.norm(2, 1, true);
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j)
        if (i != j) best = std::min(best, (n[i] - n[j]).pow(2).sum().item<double>());
    CHECK(herding_gamma_from_labeled(lab, kBudget) == doctest::Approx(1.0 / best).epsilon(1e-6));
    CHECK(herding_gamma_from_labeled(lab, 8 * 8 * 2 * 3) == doctest::Approx(1.0 / best).epsilon(1e-6));
    CHECK(herding_gamma_from_labeled(lab.narrow(0, 0, 1), kBudget) == 1.0);
    CHECK(herding_gamma_from_labeled(torch::cat({lab, lab.narrow(0, 0, 1)}), kBudget) == 1.0);  // a repeat: distance 0
  }
  SUBCASE("a budget below the features and one column is an error naming both numbers") {
    const auto big = torch::rand({2000, 512});
    try {
      kernel_herding(big, torch::Tensor(), torch::Tensor(), 1.0, 5, std::int64_t{2} << 20);
      FAIL("expected an error");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("needs at least 5 MiB (2000 x 512") != std::string::npos);  // 4.2 MB, rounded up
      CHECK(msg.find("memory budget of 2 MiB") != std::string::npos);
    }
    CHECK_THROWS_AS(kernel_herding(x, torch::Tensor(), torch::Tensor(), 0.0, 3, kBudget), Error);
    CHECK_THROWS_AS(kernel_herding(x, torch::Tensor(), -torch::ones({20}, torch::kDouble), 1.0, 3, kBudget), Error);
  }
}

TEST_CASE("bait, max_herding and uncertainty_herding plugins return their kernels' picks as pool indices") {
  quarry::testing::SilentLogger log;
  PluginHost host{log};
  host.load_directory(plugin_dir());
  const auto p = torch::softmax(randn({80, 4}, 51) * 2, 1);
  const auto f = torch::relu(randn({80, 6}, 52));
  const Picks labeled{2, 9, 40, 41, 77};
  Picks candidates;
  for (std::int64_t i = 1; i < 80; i += 2)
    if (i != 9 && i != 41 && i != 77) candidates.push_back(i);
  const auto pf = p.to(torch::kFloat), ff = f.to(torch::kFloat);

  SUBCASE("bait, default and binary cross-entropy top-1") {
    for (const char* likelihood : {"cross_entropy", "binary_cross_entropy"}) {
      CAPTURE(likelihood);
      Params params("strategy 'bait'");
      params.set("likelihood", std::string(likelihood));
      params.set("top_classes", std::int64_t{std::string(likelihood) == "cross_entropy" ? 0 : 1});
      auto ctx = fixed_context(p, f, labeled, 6);
      ctx.set_candidates(candidates);
      const auto got = host.make_strategy("bait", params)->query(ctx);
      BaitOptions o;
      o.likelihood = parse_fisher_likelihood(likelihood);
      o.top_classes = std::string(likelihood) == "cross_entropy" ? 0 : 1;
      CHECK(got == mapped(bait_select(rows(pf, candidates), rows(ff, candidates), rows(pf, labeled), rows(ff, labeled), 6,
                                      o, kBudget),
                          candidates));
    }
  }
  SUBCASE("max_herding") {
    Params params("strategy 'max_herding'");
    params.set("lengthscale", 0.5);
    auto ctx = fixed_context(p, f, labeled, 7);
    ctx.set_candidates(candidates);
    const auto got = host.make_strategy("max_herding", params)->query(ctx);
    CHECK(got == mapped(kernel_herding(rows(ff, candidates), rows(ff, labeled), torch::Tensor(), 4.0, 7, kBudget), candidates));
  }
  SUBCASE("uncertainty_herding: margin weights, gamma from the labeled points") {
    auto ctx = fixed_context(p, f, labeled, 7);
    ctx.set_candidates(candidates);
    const auto got = host.make_strategy("uncertainty_herding", Params("strategy"))->query(ctx);
    const auto top2 = std::get<0>(rows(pf, candidates).to(torch::kDouble).topk(2, 1));
    const auto margin = 1 - (top2.select(1, 0) - top2.select(1, 1));
    const double gamma = herding_gamma_from_labeled(rows(ff, labeled), kBudget);
    CHECK(got == mapped(kernel_herding(rows(ff, candidates), rows(ff, labeled), margin, gamma, 7, kBudget), candidates));
  }
  SUBCASE("query larger than the candidates, and nothing labeled") {
    for (const char* name : {"bait", "max_herding", "uncertainty_herding"}) {
      CAPTURE(name);
      auto big = fixed_context(p, f, labeled, 500);
      big.set_candidates(candidates);
      auto all = host.make_strategy(name, Params("strategy"))->query(big);
      std::sort(all.begin(), all.end());
      CHECK(all == candidates);
      auto none = fixed_context(p, f, {}, 5);
      const auto picked = host.make_strategy(name, Params("strategy"))->query(none);
      CHECK(std::set<std::int64_t>(picked.begin(), picked.end()).size() == 5);
    }
  }
}

}  // namespace test_fisher_herding_strategies
