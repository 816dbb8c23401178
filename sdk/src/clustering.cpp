#include "quarry/clustering.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <torch/torch.h>

#include "quarry/error.hpp"
#include "quarry/selection.hpp"
#include "quarry/vector_clones.hpp"
#include "clustering_internal.hpp"

namespace quarry {

using sdk_detail::check_budget;
using sdk_detail::check_rows;
using sdk_detail::ClusterBlocks;
using sdk_detail::sq_norms;

namespace {

// Clamped squared distances of rows [r, r + nr) of x to rows [c, c + nc) of y: nr x nc.
torch::Tensor sq_distance_block(const torch::Tensor& x, const torch::Tensor& x_sq, const torch::Tensor& y,
                                const torch::Tensor& y_sq, std::int64_t r, std::int64_t nr, std::int64_t c,
                                std::int64_t nc) {
  auto d = torch::addmm(y_sq.narrow(0, c, nc).unsqueeze(0), x.narrow(0, r, nr), y.narrow(0, c, nc).t(), 1, -2);
  return d.add_(x_sq.narrow(0, r, nr).unsqueeze(1)).clamp_min_(0);
}


// Zero the diagonal (global row == global column) of block [r, r + nr) x [c, c + nc).
void fill_diagonal(torch::Tensor& block, std::int64_t r, std::int64_t c, float value) {
  const auto lo = std::max(r, c);
  const auto hi = std::min(r + block.size(0), c + block.size(1));
  if (lo >= hi) return;
  block.narrow(0, lo - r, hi - lo).narrow(1, lo - c, hi - lo).diagonal().fill_(value);
}

// Nearest centre of every row (ties: the lowest centre), in blocks under the budget.
torch::Tensor nearest_centre(const torch::Tensor& x, const torch::Tensor& x_sq, const torch::Tensor& centres,
                             std::int64_t budget) {
  const auto n = x.size(0);
  const auto k = centres.size(0);
  const auto c_sq = sq_norms(centres);
  const ClusterBlocks blk(n, k, budget, 2);
  auto best = torch::full({n}, std::numeric_limits<float>::infinity(), x.options());
  auto best_at = torch::zeros({n}, x.options().dtype(torch::kLong));
  for (std::int64_t r = 0; r < n; r += blk.rows) {
    const auto nr = std::min(blk.rows, n - r);
    auto b = best.narrow(0, r, nr);
    auto at = best_at.narrow(0, r, nr);
    for (std::int64_t c = 0; c < k; c += blk.cols) {
      const auto nc = std::min(blk.cols, k - c);
      const auto [m, i] = sq_distance_block(x, x_sq, centres, c_sq, r, nr, c, nc).min(1);
      const auto better = m < b;  // strict: an earlier block wins a tie
      at.copy_(torch::where(better, i + c, at));
      torch::minimum_out(b, b, m);
    }
  }
  return best_at;
}

// ||a - b||^2 in float32, by differences, in eight lanes (a fixed order).
inline float row_sq_distance(const float* a, const float* b, std::int64_t dim) {
  float s[8] = {};
  std::int64_t d = 0;
  for (; d + 8 <= dim; d += 8)
    for (int l = 0; l < 8; ++l) {
      const float e = a[d + l] - b[d + l];
      s[l] += e * e;
    }
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; d < dim; ++d) total += (a[d] - b[d]) * (a[d] - b[d]);
  return total;
}

// One k-means++ step on rows [begin, end): row i's nearest seed distance w[i] and its owner
// become the new seed t's (at xj) when that is nearer. Rows whose own seed is far from the new
// one are skipped: see kmeanspp_seeds. Compiled for AVX-512, AVX2 and baseline x86-64, the same
// bits in all three (row_sq_distance's eight lanes in a fixed order, no fused multiply-add).
QUARRY_VECTOR_CLONES void update_nearest_seed(const float* px, const float* xj, std::int64_t dim, std::int64_t begin,
                                              std::int64_t end, const float* seed_sq, std::int32_t t, float* w,
                                              std::int32_t* owner) {
  for (auto i = begin; i < end; ++i) {
    const auto o = owner[i];
    if (o >= 0 && seed_sq[o] >= 4.0f * w[i] * (1.0f + 1e-3f)) continue;
    const float v = row_sq_distance(px + i * dim, xj, dim);
    if (v < w[i] || o < 0) {
      w[i] = std::min(w[i], v);
      owner[i] = t;
    }
  }
}

// ||x_i - c||^2 for every row, by differences (exactly 0 for a duplicate of c).
void sq_distances_to_row(const torch::Tensor& x, std::int64_t j, torch::Tensor& out, std::int64_t budget) {
  const auto n = x.size(0);
  const auto dim = x.size(1);
  if (x.device().is_cpu()) {
    const float* p = x.data_ptr<float>();
    const float* c = p + j * dim;
    float* o = out.data_ptr<float>();
    at::parallel_for(0, n, 256, [&](std::int64_t begin, std::int64_t end) {
      for (auto i = begin; i < end; ++i) o[i] = row_sq_distance(p + i * dim, c, dim);
    });
    return;
  }
  const auto rows = std::max<std::int64_t>(1, budget / (4 * std::max<std::int64_t>(dim, 1)));
  const auto centre = x.narrow(0, j, 1);
  for (std::int64_t r = 0; r < n; r += rows) {
    const auto nr = std::min(rows, n - r);
    out.narrow(0, r, nr).copy_((x.narrow(0, r, nr) - centre).pow_(2).sum(1));
  }
}

// k-means++ seeding (see the header): k positions in draw order.
std::vector<std::int64_t> kmeanspp_seeds(const torch::Tensor& x, std::int64_t k, std::mt19937_64& rng,
                                         std::int64_t budget) {
  const auto n = x.size(0);
  std::vector<std::int64_t> seeds;
  seeds.reserve(static_cast<std::size_t>(k));
  std::vector<char> chosen(static_cast<std::size_t>(n), 0);
  auto nearest = torch::full({n}, std::numeric_limits<float>::infinity(), x.options());
  auto d = torch::empty({n}, x.options());
  std::vector<double> cumulative(static_cast<std::size_t>(n));
  // CPU: rows whose nearest seed is far from the new one are skipped (triangle inequality):
  // owner[i] is the seed (in draw order) row i is nearest to, seed_sq[c] the squared distance of
  // seed c to the new seed; when seed_sq[owner] >= 4 nearest[i] (1 + 1e-3), the new seed is no
  // nearer to row i than its own (the 1e-3 covers the float32 rounding of both distances), so
  // nearest[i] is what the full pass would leave, bit for bit.
  const bool cpu = x.device().is_cpu();
  std::vector<std::int32_t> owner(cpu ? static_cast<std::size_t>(n) : 0, -1);
  std::vector<float> seed_sq;
  const float* px = cpu ? x.data_ptr<float>() : nullptr;
  const auto dim = x.size(1);
  std::int64_t j = uniform_index(rng, n);
  while (true) {
    seeds.push_back(j);
    chosen[static_cast<std::size_t>(j)] = 1;
    if (static_cast<std::int64_t>(seeds.size()) == k) break;
    if (cpu) {
      const auto t = static_cast<std::int64_t>(seeds.size()) - 1;
      seed_sq.resize(static_cast<std::size_t>(t));
      const float* xj = px + j * dim;
      for (std::int64_t c = 0; c < t; ++c) seed_sq[c] = row_sq_distance(px + seeds[c] * dim, xj, dim);  // t <= k rows: one thread
      float* w = nearest.data_ptr<float>();
      at::parallel_for(0, n, 1024, [&](std::int64_t begin, std::int64_t end) {
        update_nearest_seed(px, xj, dim, begin, end, seed_sq.data(), static_cast<std::int32_t>(t), w, owner.data());
      });
      w[j] = 0;
      owner[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(t);
    } else {
      sq_distances_to_row(x, j, d, budget);
      torch::minimum_out(nearest, nearest, d);
      nearest.narrow(0, j, 1).zero_();
    }
    const auto host = nearest.to(torch::kCPU);
    const float* w = host.data_ptr<float>();
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) cumulative[static_cast<std::size_t>(i)] = total += w[i];
    if (total > 0) {
      const double target = uniform01(rng) * total;
      j = std::upper_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
      if (j >= n)  // u * total rounded up: the last row with weight
        j = std::find(cumulative.begin(), cumulative.end(), total) - cumulative.begin();
    } else {
      auto r = uniform_index(rng, n - static_cast<std::int64_t>(seeds.size()));
      for (j = 0; chosen[static_cast<std::size_t>(j)] || r-- > 0; ++j) {
      }
    }
  }
  return seeds;
}

// sums[assign[i]] += x[i] in float64, rows in ascending order for every feature (as index_add_
// adds them, so the sums are bit for bit the same), the features split between threads.
void cluster_sums_cpu(const torch::Tensor& x, const torch::Tensor& assign, torch::Tensor& sums) {
  const auto n = x.size(0), dim = x.size(1);
  const float* px = x.data_ptr<float>();
  const std::int64_t* pa = assign.data_ptr<std::int64_t>();
  double* ps = sums.data_ptr<double>();
  at::parallel_for(0, dim, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = 0; i < n; ++i) {
      const float* row = px + i * dim;
      double* out = ps + pa[i] * dim;
      for (auto d = begin; d < end; ++d) out[d] += static_cast<double>(row[d]);
    }
  });
}

// The mean over features of the rows' population variance, in float64: (sum of squares - n
// |mean|^2) / (n D), one pass, the features split between threads. LibTorch's var over dim 0
// takes longer than a Lloyd iteration on the CPU.
double mean_feature_variance(const torch::Tensor& x) {
  if (!x.device().is_cpu()) return x.var(at::IntArrayRef{0}, /*unbiased=*/false, /*keepdim=*/false).to(torch::kDouble).mean().item<double>();
  const auto n = x.size(0), dim = x.size(1);
  const float* px = x.data_ptr<float>();
  std::vector<double> sum(static_cast<std::size_t>(dim), 0.0), sq(static_cast<std::size_t>(dim), 0.0);
  at::parallel_for(0, dim, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = 0; i < n; ++i)
      for (auto d = begin; d < end; ++d) {
        const double v = px[i * dim + d];
        sum[d] += v;
        sq[d] += v * v;
      }
  });
  double total = 0;
  for (std::int64_t d = 0; d < dim; ++d) total += std::max(0.0, sq[d] - sum[d] * sum[d] / static_cast<double>(n));
  return total / static_cast<double>(n) / static_cast<double>(dim);
}

// The rows at `positions`, each divided by its L2 norm (clamped at 1e-12), as one new tensor.
torch::Tensor unit_rows(const torch::Tensor& rows, const std::vector<std::int64_t>& positions) {
  if (!rows.device().is_cpu()) {
    auto z = rows.index_select(0, torch::tensor(positions, torch::kLong).to(rows.device()));
    return z.div_(z.norm(2, 1, true).clamp_min(1e-12));
  }
  const auto x = rows.contiguous();
  const auto dim = x.size(1);
  const auto m = static_cast<std::int64_t>(positions.size());
  auto out = torch::empty({m, dim}, x.options());
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  at::parallel_for(0, m, 64, [&](std::int64_t begin, std::int64_t end) {
    for (auto i = begin; i < end; ++i) {
      const float* src = px + positions[static_cast<std::size_t>(i)] * dim;
      double sq = 0;
      for (std::int64_t d = 0; d < dim; ++d) sq += static_cast<double>(src[d]) * src[d];
      const float inv = static_cast<float>(1.0 / std::max(std::sqrt(sq), 1e-12));
      for (std::int64_t d = 0; d < dim; ++d) po[i * dim + d] = src[d] * inv;
    }
  });
  return out;
}

std::vector<std::int64_t> to_vector(const torch::Tensor& t) {
  const auto h = t.to(torch::kCPU, torch::kLong).contiguous();
  return {h.data_ptr<std::int64_t>(), h.data_ptr<std::int64_t>() + h.numel()};
}

}  // namespace

// k-means++ then Lloyd (see the header).
KMeansResult kmeans(const torch::Tensor& rows, std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes,
                    std::int64_t max_iter, double tol) {
  constexpr const char* who = "kmeans";
  check_rows(rows, who);
  check_budget(memory_budget_bytes, who);
  const auto n = rows.size(0);
  if (n == 0) throw Error(std::string(who) + ": no rows to cluster");
  if (max_iter < 0) throw Error(std::string(who) + ": max_iter must be >= 0");
  k = std::clamp<std::int64_t>(k, 1, n);
  torch::NoGradGuard no_grad;
  const auto x = rows.contiguous();
  KMeansResult out;
  out.seeds = kmeanspp_seeds(x, k, rng, memory_budget_bytes);
  const auto seed_idx = torch::tensor(out.seeds, torch::kLong).to(x.device());
  auto centres = x.index_select(0, seed_idx);
  const auto x_sq = sq_norms(x);
  auto assign = nearest_centre(x, x_sq, centres, memory_budget_bytes);
  if (k < n) {
    const double tol_abs = tol * mean_feature_variance(x);
    const auto dim = x.size(1);
    const auto block = std::max<std::int64_t>(1, memory_budget_bytes / (8 * std::max<std::int64_t>(dim, 1)));
    for (std::int64_t it = 1; it <= max_iter; ++it) {
      // Means in float64, a block of rows at a time.
      auto sums = torch::zeros({k, dim}, x.options().dtype(torch::kDouble));
      if (x.device().is_cpu()) {
        cluster_sums_cpu(x, assign, sums);
      } else {
        for (std::int64_t r = 0; r < n; r += block) {
          const auto nr = std::min(block, n - r);
          sums.index_add_(0, assign.narrow(0, r, nr), x.narrow(0, r, nr).to(torch::kDouble));
        }
      }
      const auto counts = torch::bincount(assign, {}, k).to(torch::kDouble).unsqueeze(1);
      const auto moved = torch::where(counts > 0, sums / counts.clamp_min(1), centres.to(torch::kDouble));
      const double shift = (moved - centres.to(torch::kDouble)).pow(2).sum().item<double>();
      centres = moved.to(torch::kFloat);
      auto next = nearest_centre(x, x_sq, centres, memory_budget_bytes);
      out.iterations = it;
      const bool same = torch::equal(next, assign);
      assign = next;
      if (same || shift <= tol_abs) break;
    }
  }
  out.centres = centres;
  out.assignment = to_vector(assign);
  return out;
}

std::vector<std::int64_t> nearest_to_centres(const torch::Tensor& rows, const KMeansResult& clusters) {
  constexpr const char* who = "nearest_to_centres";
  check_rows(rows, who);
  const auto n = rows.size(0);
  if (static_cast<std::int64_t>(clusters.assignment.size()) != n)
    throw Error(std::string(who) + ": an assignment of " + std::to_string(clusters.assignment.size()) + " rows for " +
                std::to_string(n) + " rows");
  torch::NoGradGuard no_grad;
  const auto k = clusters.centres.size(0);
  torch::Tensor d;
  if (rows.device().is_cpu()) {  // by differences, row by row: no N x D temporaries
    const auto x = rows.contiguous();
    const auto c = clusters.centres.to(torch::kFloat).contiguous();
    const auto dim = x.size(1);
    d = torch::empty({n}, x.options());
    const float* px = x.data_ptr<float>();
    const float* pc = c.data_ptr<float>();
    float* pd = d.data_ptr<float>();
    const auto* a = clusters.assignment.data();
    at::parallel_for(0, n, 256, [&](std::int64_t begin, std::int64_t end) {
      for (auto i = begin; i < end; ++i) pd[i] = row_sq_distance(px + i * dim, pc + a[i] * dim, dim);
    });
  } else {  // one N x D difference at a time is the rows' own size; the distance is N floats
    const auto assign = torch::tensor(clusters.assignment, torch::kLong).to(rows.device());
    d = (rows - clusters.centres.index_select(0, assign)).pow(2).sum(1).to(torch::kCPU).contiguous();
  }
  const float* dp = d.data_ptr<float>();
  std::vector<std::int64_t> best(static_cast<std::size_t>(k), -1);
  for (std::int64_t i = 0; i < n; ++i) {
    auto& b = best[static_cast<std::size_t>(clusters.assignment[static_cast<std::size_t>(i)])];
    if (b < 0 || dp[i] < dp[b] * (1 - 1e-5f)) b = i;  // within 1e-5: a tie, the lower position stays
  }
  std::vector<std::int64_t> out;
  for (auto b : best)
    if (b >= 0) out.push_back(b);
  return out;
}

std::vector<std::int64_t> diverse_subset(const torch::Tensor& rows, const std::vector<std::int64_t>& flagged,
                                         std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes) {
  constexpr const char* who = "diverse_subset";
  check_rows(rows, who);
  const auto n = rows.size(0);
  k = std::clamp<std::int64_t>(k, 0, n);
  std::vector<std::int64_t> picked;
  std::vector<char> taken(static_cast<std::size_t>(n), 0);
  // Uniform draws among the positions `allowed` and not taken, until k are picked.
  const auto fill = [&](const std::vector<char>& allowed) {
    std::int64_t left = 0;
    for (std::int64_t i = 0; i < n; ++i) left += allowed[i] && !taken[i];
    while (static_cast<std::int64_t>(picked.size()) < k && left > 0) {
      auto r = uniform_index(rng, left--);
      std::int64_t i = 0;
      for (; !allowed[i] || taken[i] || r-- > 0; ++i) {
      }
      taken[i] = 1;
      picked.push_back(i);
    }
  };
  std::vector<char> is_flagged(static_cast<std::size_t>(n), 0);
  for (auto f : flagged) {
    if (f < 0 || f >= n) throw Error(std::string(who) + ": flagged position " + std::to_string(f) + " outside [0, " + std::to_string(n) + ")");
    is_flagged[f] = 1;
  }
  if (static_cast<std::int64_t>(flagged.size()) <= k) {
    for (auto f : flagged) {
      taken[f] = 1;
      picked.push_back(f);
    }
    std::vector<char> others(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) others[i] = !is_flagged[i];
    fill(others);
    return picked;
  }
  torch::NoGradGuard no_grad;
  const auto unit = unit_rows(rows, flagged);
  const auto km = kmeans(unit, k, rng, memory_budget_bytes);
  for (auto p : nearest_to_centres(unit, km)) {
    taken[flagged[p]] = 1;
    picked.push_back(flagged[p]);
  }
  fill(is_flagged);
  return picked;
}

torch::Tensor knn_distances(const torch::Tensor& rows, std::int64_t k, std::int64_t memory_budget_bytes) {
  constexpr const char* who = "knn_distances";
  check_rows(rows, who);
  check_budget(memory_budget_bytes, who);
  const auto n = rows.size(0);
  k = std::clamp<std::int64_t>(k, 0, std::max<std::int64_t>(n - 1, 0));
  torch::NoGradGuard no_grad;
  if (k == 0) return torch::empty({n, 0}, rows.options());
  const auto x = rows.contiguous();
  const auto x_sq = sq_norms(x);
  // Temporaries: the block, its concatenation with the running best, topk's copy, and the
  // int64 positions beside them.
  const ClusterBlocks blk(n, n, memory_budget_bytes, 7);
  auto out = torch::empty({n, k}, x.options());
  const auto dim = x.size(1);
  // Rows per exact refinement: an rows x k x D gather.
  const auto refine_rows = std::max<std::int64_t>(1, memory_budget_bytes / (4 * 2 * k * std::max<std::int64_t>(dim, 1)));
  for (std::int64_t r = 0; r < n; r += blk.rows) {
    const auto nr = std::min(blk.rows, n - r);
    auto best = torch::full({nr, k}, std::numeric_limits<float>::infinity(), x.options());
    auto best_at = torch::zeros({nr, k}, x.options().dtype(torch::kLong));
    for (std::int64_t c = 0; c < n; c += blk.cols) {
      const auto nc = std::min(blk.cols, n - c);
      auto d = sq_distance_block(x, x_sq, x, x_sq, r, nr, c, nc);
      fill_diagonal(d, r, c, std::numeric_limits<float>::infinity());  // not its own neighbour
      const auto at = torch::arange(c, c + nc, best_at.options()).unsqueeze(0).expand({nr, nc});
      const auto [v, i] = torch::cat({best, d}, 1).topk(k, 1, /*largest=*/false, /*sorted=*/false);
      best = v;
      best_at = torch::cat({best_at, at}, 1).gather(1, i);
    }
    // The matmul form selects the neighbours; their distances are then taken exactly from the
    // differences (0 for a duplicate, no cancellation near 0) and sorted.
    for (std::int64_t q = 0; q < nr; q += refine_rows) {
      const auto nq = std::min(refine_rows, nr - q);
      const auto neighbours = x.index_select(0, best_at.narrow(0, q, nq).reshape(-1)).view({nq, k, dim});
      const auto exact = (neighbours - x.narrow(0, r + q, nq).unsqueeze(1)).pow_(2).sum(2).sqrt_();
      out.narrow(0, r + q, nq).copy_(std::get<0>(exact.sort(1)));
    }
  }
  return out;
}

torch::Tensor distance_to_other_label(const torch::Tensor& rows, const std::vector<std::int64_t>& labels,
                                      std::int64_t memory_budget_bytes) {
  constexpr const char* who = "distance_to_other_label";
  check_rows(rows, who);
  check_budget(memory_budget_bytes, who);
  const auto n = rows.size(0);
  if (static_cast<std::int64_t>(labels.size()) != n)
    throw Error(std::string(who) + ": " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " rows");
  torch::NoGradGuard no_grad;
  const auto x = rows.contiguous();
  const auto x_sq = sq_norms(x);
  const auto lab = torch::tensor(labels, torch::kLong).to(x.device());
  const ClusterBlocks blk(n, n, memory_budget_bytes, 3);  // the block, the label mask, the masked copy
  auto out = torch::full({n}, std::numeric_limits<float>::infinity(), x.options());
  for (std::int64_t r = 0; r < n; r += blk.rows) {
    const auto nr = std::min(blk.rows, n - r);
    auto best = out.narrow(0, r, nr);
    for (std::int64_t c = 0; c < n; c += blk.cols) {
      const auto nc = std::min(blk.cols, n - c);
      auto d = sq_distance_block(x, x_sq, x, x_sq, r, nr, c, nc);
      const auto same = lab.narrow(0, r, nr).unsqueeze(1) == lab.narrow(0, c, nc).unsqueeze(0);
      d.masked_fill_(same, std::numeric_limits<float>::infinity());
      torch::minimum_out(best, best, std::get<0>(d.min(1)));
    }
  }
  return out.sqrt_();
}

}  // namespace quarry
