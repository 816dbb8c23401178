#include "quarry/herding.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

namespace {

constexpr const char* kHerdingWho = "kernel_herding";
constexpr std::int64_t kHerdingMiB = std::int64_t{1} << 20;
constexpr std::int64_t kLazyBatch = 64;      // stale candidates re-evaluated together (one GEMM)
constexpr std::int64_t kCacheColumns = 128;  // kernel rows per in-place pass on the CPU

void check_features(const torch::Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 2)
    throw Error(std::string(kHerdingWho) + ": " + what + " must be a 2-D tensor");
  if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble)
    throw Error(std::string(kHerdingWho) + ": " + what + " must be float32 or float64, got " +
                std::string(c10::toString(t.scalar_type())));
}

// ||x_i - c_j||^2 = ||x_i||^2 + ||c_j||^2 - 2 x_i.c_j, clamped at 0: rows(x) x rows(c).
torch::Tensor squared_distances(const torch::Tensor& x, const torch::Tensor& xx, const torch::Tensor& c,
                                const torch::Tensor& cc) {
  return torch::addmm(xx.unsqueeze(1) + cc.unsqueeze(0), x, c.t(), 1.0, -2.0).clamp_min_(0);
}

// sum_i max(k_ji - m_i, 0) for each row j of the kernel block kt (|cols| x N), float64 sums in a
// fixed order (one plain loop per row).
template <typename T>
void row_gains_cpu(const torch::Tensor& kt, const torch::Tensor& m, double* out) {
  const auto n = kt.size(1);
  const T* k = kt.data_ptr<T>();
  const T* cov = m.data_ptr<T>();
  at::parallel_for(0, kt.size(0), 1, [&](std::int64_t begin, std::int64_t end) {
    for (auto j = begin; j < end; ++j) {
      const T* row = k + j * n;
      double acc = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const T v = row[i] - cov[i];
        if (v > 0) acc += v;
      }
      out[j] = acc;
    }
  });
}

// The candidates, their squared norms, the current coverage m and the kernel width.
struct Coverage {
  torch::Tensor x, xx, m;
  double gamma;

  // k(x_i, c_j) for every candidate i and the rows c (norms cc): N x |c|.
  torch::Tensor kernel(const torch::Tensor& c, const torch::Tensor& cc) const {
    return squared_distances(x, xx, c, cc).mul_(-gamma).exp_();
  }
  // sum_i max(k(x_i, x_j) - m_i, 0) for the candidate positions `cols`, float64 sums, on the CPU.
  torch::Tensor gains(const torch::Tensor& cols) const {
    const auto c = x.index_select(0, cols);
    const auto cc = xx.index_select(0, cols);
    if (!x.device().is_cpu()) {
      auto k = kernel(c, cc);
      return k.sub_(m.unsqueeze(1)).clamp_min_(0).sum(0, false, torch::kDouble).cpu();
    }
    // |cols| x N kernel rows, in blocks that stay in cache for the in-place passes (vectorised exp).
    auto out = torch::empty({cols.size(0)}, torch::kDouble);
    for (std::int64_t j0 = 0; j0 < cols.size(0); j0 += kCacheColumns) {
      const auto nj = std::min(kCacheColumns, cols.size(0) - j0);
      auto kt = torch::addmm(cc.narrow(0, j0, nj).unsqueeze(1) + xx.unsqueeze(0), c.narrow(0, j0, nj), x.t(), 1.0, -2.0);
      kt.clamp_min_(0).mul_(-gamma).exp_();
      if (x.scalar_type() == torch::kFloat)
        row_gains_cpu<float>(kt, m, out.data_ptr<double>() + j0);
      else
        row_gains_cpu<double>(kt, m, out.data_ptr<double>() + j0);
    }
    return out;
  }
};

}  // namespace

torch::Tensor l2_normalize_rows(const torch::Tensor& x) { return x / x.norm(2, 1, true).clamp_min(1e-12); }

double herding_gamma_from_labeled(const torch::Tensor& labeled_features, std::int64_t memory_budget_bytes) {
  if (!labeled_features.defined() || labeled_features.dim() != 2 || labeled_features.size(0) < 2) return 1.0;
  check_features(labeled_features, "labeled features");
  const auto x = l2_normalize_rows(labeled_features);
  const auto xx = (x * x).sum(1);
  const auto l = x.size(0);
  const auto rows = std::max<std::int64_t>(1, memory_budget_bytes / (2 * l * x.element_size()));
  double best = std::numeric_limits<double>::infinity();
  for (std::int64_t r0 = 0; r0 < l; r0 += rows) {
    const auto m = std::min(rows, l - r0);
    auto d = squared_distances(x, xx, x.narrow(0, r0, m), xx.narrow(0, r0, m));  // L x m
    d.narrow(0, r0, m).diagonal().fill_(std::numeric_limits<double>::infinity());  // a row and itself
    best = std::min(best, d.min().item<double>());
  }
  return best > 0 && std::isfinite(best) ? 1.0 / best : 1.0;
}

std::vector<std::int64_t> kernel_herding(const torch::Tensor& candidates, const torch::Tensor& labeled,
                                         const torch::Tensor& weights, double gamma, std::int64_t k,
                                         std::int64_t memory_budget_bytes) {
  check_features(candidates, "candidate features");
  const bool has_labeled = labeled.defined() && labeled.numel() > 0;
  if (has_labeled) {
    check_features(labeled, "labeled features");
    if (labeled.size(1) != candidates.size(1))
      throw Error(std::string(kHerdingWho) + ": candidates have " + std::to_string(candidates.size(1)) +
                  " features but labeled rows have " + std::to_string(labeled.size(1)));
  }
  if (!(gamma > 0) || !std::isfinite(gamma)) throw Error(std::string(kHerdingWho) + ": gamma must be a positive number");
  const auto n = candidates.size(0), dim = candidates.size(1);
  if (weights.defined() && (weights.dim() != 1 || weights.size(0) != n))
    throw Error(std::string(kHerdingWho) + ": weights must have one value per candidate (" + std::to_string(n) + ")");
  std::vector<std::int64_t> chosen;
  if (k <= 0) return chosen;
  if (k >= n) {
    chosen.resize(static_cast<std::size_t>(n));
    std::iota(chosen.begin(), chosen.end(), 0);
    return chosen;
  }
  const bool single = candidates.scalar_type() == torch::kFloat;
  const std::int64_t e = single ? 4 : 8;
  const auto l = has_labeled ? labeled.size(0) : 0;
  // The normalised copies, norms, coverage, bounds and weights, then blocks of kernel columns.
  const auto fixed = e * (n + l) * (dim + 1) + 8 * 4 * n;
  const auto per_column = n * (2 * e + 8);  // a kernel block, its input, and the float64 sums
  if (fixed + per_column > memory_budget_bytes)
    throw Error(std::string(kHerdingWho) + ": needs at least " + std::to_string((fixed + per_column + kHerdingMiB - 1) / kHerdingMiB) +
                " MiB (" + std::to_string(n) + " x " + std::to_string(dim) +
                " normalised features and one kernel column), more than the memory budget of " +
                std::to_string(memory_budget_bytes / kHerdingMiB) + " MiB");
  const auto block = std::min(n, (memory_budget_bytes - fixed) / per_column);

  Coverage cov;
  cov.x = l2_normalize_rows(candidates);
  cov.xx = (cov.x * cov.x).sum(1);
  cov.gamma = gamma;
  cov.m = torch::zeros({n}, cov.x.options());
  if (has_labeled) {
    const auto lab = l2_normalize_rows(labeled.to(cov.x.scalar_type()));
    const auto ll = (lab * lab).sum(1);
    for (std::int64_t r0 = 0; r0 < l; r0 += block) {
      const auto m = std::min(block, l - r0);
      cov.m = torch::maximum(cov.m, std::get<0>(cov.kernel(lab.narrow(0, r0, m), ll.narrow(0, r0, m)).max(1)));
    }
  }
  std::vector<double> w(static_cast<std::size_t>(n), 1.0);
  if (weights.defined()) {
    const auto wc = weights.to(torch::kCPU, torch::kDouble).contiguous();
    std::copy(wc.data_ptr<double>(), wc.data_ptr<double>() + n, w.begin());
    for (double v : w)
      if (!(v >= 0) || !std::isfinite(v)) throw Error(std::string(kHerdingWho) + ": weights must be finite and >= 0");
  }
  const auto index_opts = torch::TensorOptions().dtype(torch::kLong).device(cov.x.device());
  std::vector<double> bound(static_cast<std::size_t>(n));
  std::vector<char> fresh(static_cast<std::size_t>(n), 1), taken(static_cast<std::size_t>(n), 0);
  const auto evaluate = [&](const std::vector<std::int64_t>& cols) {
    const auto g = cov.gains(torch::tensor(cols, torch::kLong).to(index_opts.device()));
    const double* gv = g.data_ptr<double>();
    for (std::size_t i = 0; i < cols.size(); ++i) {
      const auto c = static_cast<std::size_t>(cols[i]);
      bound[c] = w[c] * gv[i];
      fresh[c] = 1;
    }
  };
  {  // every gain once: the one pass over the whole kernel
    std::vector<std::int64_t> cols;
    for (std::int64_t c0 = 0; c0 < n; c0 += block) {
      cols.resize(static_cast<std::size_t>(std::min(block, n - c0)));
      std::iota(cols.begin(), cols.end(), c0);
      evaluate(cols);
    }
  }
  const double tol = single ? 1e-6 : 1e-9;     // gains this close to the best are ties
  const double slack = single ? 1e-3 : 1e-7;   // rounding between differently blocked evaluations
  std::vector<std::int64_t> stale;
  for (std::int64_t step = 0; step < k; ++step) {
    double threshold = -std::numeric_limits<double>::infinity();
    for (;;) {
      double best = -std::numeric_limits<double>::infinity();
      for (std::int64_t i = 0; i < n; ++i)
        if (!taken[i] && fresh[i]) best = std::max(best, bound[i]);
      threshold = best - tol * std::abs(best);
      stale.clear();
      for (std::int64_t i = 0; i < n; ++i)
        if (!taken[i] && !fresh[i] && bound[i] * (1 + slack) >= threshold) stale.push_back(i);
      if (stale.empty()) break;
      const auto batch = std::min<std::size_t>(stale.size(), static_cast<std::size_t>(std::min(block, kLazyBatch)));
      std::partial_sort(stale.begin(), stale.begin() + static_cast<std::ptrdiff_t>(batch), stale.end(),
                        [&](std::int64_t a, std::int64_t b) { return bound[a] > bound[b] || (bound[a] == bound[b] && a < b); });
      stale.resize(batch);
      evaluate(stale);

    }
    std::int64_t pick = -1;
    for (std::int64_t i = 0; i < n && pick < 0; ++i)
      if (!taken[i] && fresh[i] && bound[i] >= threshold) pick = i;
    chosen.push_back(pick);
    taken[pick] = 1;
    const auto col = torch::tensor({pick}, index_opts);
    cov.m = torch::maximum(cov.m, cov.kernel(cov.x.index_select(0, col), cov.xx.index_select(0, col)).squeeze(1));
    std::fill(fresh.begin(), fresh.end(), 0);
  }
  return chosen;
}

}  // namespace quarry
