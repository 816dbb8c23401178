// Plain float64 references for the clustering kernels, shared by the kernel and strategy tests:
// materialised rows, loops, the draws quarry/clustering.hpp documents.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "quarry/selection.hpp"

namespace quarry::testing::reference {

using Matrix = std::vector<std::vector<double>>;

inline Matrix to_matrix(const torch::Tensor& t) {
  const auto d = t.to(torch::kDouble).contiguous();
  Matrix m(static_cast<std::size_t>(d.size(0)), std::vector<double>(static_cast<std::size_t>(d.size(1))));
  for (std::int64_t i = 0; i < d.size(0); ++i)
    for (std::int64_t j = 0; j < d.size(1); ++j) m[i][j] = d.data_ptr<double>()[i * d.size(1) + j];
  return m;
}

inline double sq_dist(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t d = 0; d < a.size(); ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
  return s;
}

/// Gaussian blobs: `clusters` centres spread wide, points around them.
inline torch::Tensor blobs(std::int64_t n, std::int64_t dim, std::int64_t clusters, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  const auto centres = at::randn({clusters, dim}, gen, torch::kFloat) * 4;
  const auto which = at::randint(clusters, {n}, gen, torch::kLong);
  return centres.index_select(0, which) + at::randn({n, dim}, gen, torch::kFloat);
}

struct RefKMeans {
  std::vector<std::int64_t> seeds, assignment;
  Matrix centres;
  std::int64_t iterations = 0;
};

/// k-means++ and Lloyd exactly as the header states, in float64 on a materialised matrix.
inline RefKMeans reference_kmeans(const Matrix& x, std::int64_t k, std::mt19937_64& rng, std::int64_t max_iter, double tol) {
  const auto n = static_cast<std::int64_t>(x.size());
  const auto dim = x[0].size();
  RefKMeans r;
  std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
  std::vector<char> chosen(n, 0);
  std::int64_t j = uniform_index(rng, n);
  while (true) {
    r.seeds.push_back(j);
    chosen[j] = 1;
    if (static_cast<std::int64_t>(r.seeds.size()) == k) break;
    for (std::int64_t i = 0; i < n; ++i) nearest[i] = chosen[i] ? 0.0 : std::min(nearest[i], sq_dist(x[i], x[j]));
    double total = 0;
    for (auto w : nearest) total += w;
    if (total > 0) {
      const double target = uniform01(rng) * total;
      double c = 0;
      for (j = 0; j < n; ++j)
        if ((c += nearest[j]) > target) break;
    } else {
      auto skip = uniform_index(rng, n - static_cast<std::int64_t>(r.seeds.size()));
      for (j = 0; chosen[j] || skip-- > 0; ++j) {
      }
    }
  }
  for (auto s : r.seeds) r.centres.push_back(x[s]);
  auto assign = [&] {
    std::vector<std::int64_t> a(n);
    for (std::int64_t i = 0; i < n; ++i) {
      double best = std::numeric_limits<double>::infinity();
      for (std::int64_t c = 0; c < k; ++c) {
        const double d = sq_dist(x[i], r.centres[c]);
        if (d < best) best = d, a[i] = c;
      }
    }
    return a;
  };
  r.assignment = assign();
  if (k == n) return r;
  double var = 0;
  for (std::size_t d = 0; d < dim; ++d) {
    double mean = 0, sq = 0;
    for (const auto& row : x) mean += row[d];
    mean /= n;
    for (const auto& row : x) sq += (row[d] - mean) * (row[d] - mean);
    var += sq / n;
  }
  const double tol_abs = tol * var / dim;
  for (std::int64_t it = 1; it <= max_iter; ++it) {
    Matrix sums(k, std::vector<double>(dim, 0.0));
    std::vector<std::int64_t> count(k, 0);
    for (std::int64_t i = 0; i < n; ++i) {
      ++count[r.assignment[i]];
      for (std::size_t d = 0; d < dim; ++d) sums[r.assignment[i]][d] += x[i][d];
    }
    double shift = 0;
    for (std::int64_t c = 0; c < k; ++c) {
      if (count[c] == 0) continue;
      for (std::size_t d = 0; d < dim; ++d) sums[c][d] /= count[c];
      shift += sq_dist(sums[c], r.centres[c]);
      r.centres[c] = sums[c];
    }
    const auto next = assign();
    r.iterations = it;
    const bool same = next == r.assignment;
    r.assignment = next;
    if (same || shift <= tol_abs) break;
  }
  return r;
}

}  // namespace quarry::testing::reference
