// The clustering kernels (quarry/clustering.hpp) against plain float64 brute force: full
// distance matrices, loops, the same rng draws.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "quarry/clustering.hpp"
#include "quarry/error.hpp"
#include "quarry/selection.hpp"
#include "reference_kmeans.hpp"

namespace test_clustering {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing::reference;

namespace {

void check_same_kmeans(const torch::Tensor& x, std::int64_t k, std::uint64_t seed, std::int64_t budget,
                       std::int64_t max_iter = 300, double tol = 1e-4) {
  std::mt19937_64 rng(seed), ref_rng(seed);
  const auto got = kmeans(x, k, rng, budget, max_iter, tol);
  const auto want = reference_kmeans(to_matrix(x), std::min<std::int64_t>(k, x.size(0)), ref_rng, max_iter, tol);
  CHECK(got.seeds == want.seeds);
  CHECK(got.assignment == want.assignment);
  CHECK(got.iterations == want.iterations);
  CHECK(rng() == ref_rng());  // the same number of draws
  const auto c = to_matrix(got.centres);
  REQUIRE(c.size() == want.centres.size());
  double worst = 0;
  for (std::size_t i = 0; i < c.size(); ++i) worst = std::max(worst, std::sqrt(sq_dist(c[i], want.centres[i])));
  CHECK(worst < 1e-4);
}

}  // namespace

TEST_CASE("kmeans: the same seeds, assignment, iterations and centres as float64 brute force") {
  const auto x = blobs(400, 12, 6, 3);
  SUBCASE("k = 6, whole blocks") { check_same_kmeans(x, 6, 11, std::int64_t{1} << 30); }
  SUBCASE("k = 25, tiny blocks (a few rows each)") { check_same_kmeans(x, 25, 12, 2048); }
  SUBCASE("max_iter = 2 stops early, the assignment is that of the centres returned") {
    check_same_kmeans(x, 25, 13, 1 << 20, 2);
  }
  SUBCASE("k = 1: the mean") {
    std::mt19937_64 rng(1);
    const auto r = kmeans(x, 1, rng, 1 << 20);
    CHECK(torch::allclose(r.centres[0], x.mean(0), 1e-4, 1e-4));
    CHECK(std::all_of(r.assignment.begin(), r.assignment.end(), [](std::int64_t a) { return a == 0; }));
  }
  SUBCASE("k >= N: every row its own centre") {
    const auto small = x.narrow(0, 0, 9);
    check_same_kmeans(small, 9, 5, 1 << 20);
    std::mt19937_64 rng(5);
    auto r = kmeans(small, 50, rng, 1 << 20);
    CHECK(r.iterations == 0);
    auto seeds = r.seeds;
    std::sort(seeds.begin(), seeds.end());
    CHECK(seeds == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
    for (std::int64_t i = 0; i < 9; ++i) CHECK(r.seeds[r.assignment[i]] == i);
  }
  SUBCASE("duplicate rows: once every distinct row is a seed, the rest are drawn uniformly") {
    const auto distinct = blobs(3, 4, 3, 9);
    const auto dup = distinct.index_select(0, torch::arange(30, torch::kLong) % 3);
    check_same_kmeans(dup, 5, 21, 1 << 20);
    std::mt19937_64 rng(21);
    const auto r = kmeans(dup, 5, rng, 1 << 20);
    std::vector<std::int64_t> kinds;
    for (std::size_t i = 0; i < 3; ++i) kinds.push_back(r.seeds[i] % 3);
    std::sort(kinds.begin(), kinds.end());
    CHECK(kinds == std::vector<std::int64_t>{0, 1, 2});
  }
  CHECK_THROWS_AS(kmeans(torch::empty({0, 3}), 2, *std::make_unique<std::mt19937_64>(1), 1 << 20), Error);
  CHECK_THROWS_WITH_AS(kmeans(x.to(torch::kDouble), 2, *std::make_unique<std::mt19937_64>(1), 1 << 20),
                       doctest::Contains("float32"), Error);
}

TEST_CASE("knn_distances: the k smallest distances to other rows, as a sorted brute-force matrix") {
  auto x = blobs(150, 7, 4, 5);
  x[10] = x[20];  // a duplicate: distance 0 to each other
  const auto m = to_matrix(x);
  for (const std::int64_t budget : {std::int64_t{1} << 30, std::int64_t{3000}}) {
    CAPTURE(budget);
    const auto got = knn_distances(x, 20, budget);
    REQUIRE(got.sizes() == torch::IntArrayRef({150, 20}));
    double worst = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      std::vector<double> d;
      for (std::size_t j = 0; j < m.size(); ++j)
        if (j != i) d.push_back(std::sqrt(sq_dist(m[i], m[j])));
      std::sort(d.begin(), d.end());
      for (std::size_t j = 0; j < 20; ++j) worst = std::max(worst, std::abs(d[j] - got[i][j].item<double>()));
    }
    CHECK(worst < 1e-4);
    CHECK(got[10][0].item<float>() == 0.0f);  // the duplicate, exactly
  }
  CHECK(knn_distances(x.narrow(0, 0, 5), 20, 1 << 20).sizes() == torch::IntArrayRef({5, 4}));  // k clamped to N - 1
  CHECK(knn_distances(x.narrow(0, 0, 1), 20, 1 << 20).sizes() == torch::IntArrayRef({1, 0}));
}

TEST_CASE("radius_graph: every pair closer than delta, self included, the same for any budget") {
  auto x = blobs(120, 5, 4, 8);
  x[3] = x[4];
  const auto m = to_matrix(x);
  // A delta halfway between two consecutive pair distances, so float32 rounding cannot decide.
  std::vector<double> all;
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t j = i + 1; j < m.size(); ++j) all.push_back(std::sqrt(sq_dist(m[i], m[j])));
  std::sort(all.begin(), all.end());
  double delta = 0;
  for (std::size_t q = all.size() / 10; q + 1 < all.size(); ++q)
    if (all[q + 1] - all[q] > 1e-3) {
      delta = (all[q] + all[q + 1]) / 2;
      break;
    }
  REQUIRE(delta > 0);
  const auto wide = radius_graph(x, delta, std::int64_t{1} << 30);
  const auto narrow = radius_graph(x, delta, 1000);
  CHECK(wide.offsets == narrow.offsets);
  CHECK(wide.neighbours == narrow.neighbours);
  REQUIRE(wide.size() == 120);
  for (std::int64_t i = 0; i < 120; ++i) {
    std::vector<std::int64_t> want;
    for (std::int64_t j = 0; j < 120; ++j)
      if (j == i || std::sqrt(sq_dist(m[i], m[j])) < delta) want.push_back(j);
    const std::vector<std::int64_t> got(wide.neighbours.begin() + wide.offsets[i],
                                        wide.neighbours.begin() + wide.offsets[i + 1]);
    CHECK(got == want);
  }
  // A tiny delta (above float32 rounding): only the rows themselves and the duplicate pair.
  const auto tiny = radius_graph(x, 0.02, 1 << 20);
  CHECK(tiny.degree(0) == 1);
  CHECK(tiny.degree(3) == 2);
  CHECK_THROWS_WITH_AS(radius_graph(x, 0.0, 1 << 20), doctest::Contains("delta"), Error);
}

TEST_CASE("radius_graph: pairs at delta are decided by their float64 distance, not the matmul form's rounding") {
  // Rows far from the origin and close to each other: ||x||^2 ~ 1e6, so the float32 matmul form
  // ||x||^2 + ||y||^2 - 2 x.y errs by ~0.1, far more than the squared distances (~0.01-1).
  auto x = blobs(60, 8, 3, 11) * 0.1 + 1000;
  const auto m = to_matrix(x);
  std::vector<double> all;
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t j = i + 1; j < m.size(); ++j) all.push_back(sq_dist(m[i], m[j]));
  std::sort(all.begin(), all.end());
  for (const double q : {0.2, 0.5, 0.8}) {
    // Just above one pair's float64 squared distance: that pair is an edge, by a relative 1e-9.
    const double delta = std::sqrt(all[static_cast<std::size_t>(q * static_cast<double>(all.size()))] * (1 + 1e-9));
    for (const std::int64_t budget : {std::int64_t{1} << 30, std::int64_t{2000}}) {
      const auto g = radius_graph(x, delta, budget);
      for (std::int64_t i = 0; i < 60; ++i) {
        std::vector<std::int64_t> want;
        for (std::int64_t j = 0; j < 60; ++j)
          if (j == i || sq_dist(m[i], m[j]) < delta * delta) want.push_back(j);
        const std::vector<std::int64_t> got(g.neighbours.begin() + g.offsets[i], g.neighbours.begin() + g.offsets[i + 1]);
        CHECK(got == want);
      }
    }
  }
}

TEST_CASE("distance_to_other_label: the nearest row of another label, +inf with one label") {
  const auto x = blobs(90, 6, 3, 4);
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < 90; ++i) labels.push_back(i % 3);
  const auto m = to_matrix(x);
  for (const std::int64_t budget : {std::int64_t{1} << 30, std::int64_t{2000}}) {
    const auto got = distance_to_other_label(x, labels, budget);
    double worst = 0;
    for (std::size_t i = 0; i < m.size(); ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (std::size_t j = 0; j < m.size(); ++j)
        if (labels[j] != labels[i]) best = std::min(best, std::sqrt(sq_dist(m[i], m[j])));
      worst = std::max(worst, std::abs(best - got[i].item<double>()));
    }
    CHECK(worst < 1e-3);
  }
  const auto one = distance_to_other_label(x, std::vector<std::int64_t>(90, 0), 1 << 20);
  CHECK(torch::isinf(one).all().item<bool>());
  CHECK_THROWS_WITH_AS(distance_to_other_label(x, {0, 1}, 1 << 20), doctest::Contains("2 labels for 90 rows"), Error);
}

}  // namespace test_clustering
