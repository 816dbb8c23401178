#include "quarry/selection.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::int64_t uniform_index(std::mt19937_64& rng, std::int64_t n) {
  const auto i = static_cast<std::int64_t>(uniform01(rng) * static_cast<double>(n));
  return std::min(i, n - 1);
}

namespace {

std::vector<std::int64_t> all_positions(std::int64_t n) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  std::iota(out.begin(), out.end(), 0);
  return out;
}

void check_matrix(const torch::Tensor& t, const char* what, const char* who) {
  if (!t.defined() || t.dim() != 2)
    throw Error(std::string(who) + ": " + what + " must be a 2-D tensor" +
                (t.defined() ? ", got shape " + c10::str(t.sizes()) : std::string(", got an undefined tensor")));
  if (t.scalar_type() != torch::kFloat)
    throw Error(std::string(who) + ": " + what + " must be float32, got " + std::string(c10::toString(t.scalar_type())));
}

// ||x_i||^2 for every row, a block of rows at a time so no N x D temporary is made.
torch::Tensor row_sq_norms(const torch::Tensor& x) {
  constexpr std::int64_t kRows = 4096;
  auto out = torch::empty({x.size(0)}, x.options());
  for (std::int64_t r = 0; r < x.size(0); r += kRows) {
    const auto nr = std::min(kRows, x.size(0) - r);
    const auto block = x.narrow(0, r, nr);
    out.narrow(0, r, nr).copy_((block * block).sum(1));
  }
  return out;
}

// Row-wise minimum over centres [c0, c1) of the clamped squared distance
// ||x||^2 + ||c||^2 - 2 x.c, in blocks of at most `budget` bytes. Returns B floats on the device.
torch::Tensor min_sq_distance(const torch::Tensor& x, const torch::Tensor& x_sq, const torch::Tensor& centres,
                              const torch::Tensor& centre_sq, std::int64_t c0, std::int64_t c1, std::int64_t budget) {
  const auto rows = x.size(0);
  const auto cols = c1 - c0;
  const auto cells = std::max<std::int64_t>(1, budget / static_cast<std::int64_t>(sizeof(float)));
  const auto col_block = std::clamp<std::int64_t>(cells / std::max<std::int64_t>(rows, 1), 1, cols);
  const auto row_block = std::clamp<std::int64_t>(cells / col_block, 1, rows);
  auto out = torch::full({rows}, std::numeric_limits<float>::infinity(), x.options());
  for (std::int64_t r = 0; r < rows; r += row_block) {
    const auto nr = std::min(row_block, rows - r);
    auto xr = x.narrow(0, r, nr);
    auto best = out.narrow(0, r, nr);
    for (std::int64_t c = c0; c < c1; c += col_block) {
      const auto nc = std::min(col_block, c1 - c);
      // csq - 2 x.c in one matmul, then + xsq; clamped because rounding can go below 0.
      auto d = torch::addmm(centre_sq.narrow(0, c, nc).unsqueeze(0), xr, centres.narrow(0, c, nc).t(), 1, -2);
      d.add_(x_sq.narrow(0, r, nr).unsqueeze(1)).clamp_min_(0);
      torch::minimum_out(best, best, std::get<0>(d.min(1)));
    }
  }
  return out;
}

}  // namespace

// Greedy k-center, Sener & Savarese 2018, evaluated lazily (see the header). Every
// candidate carries `bound`, the minimum squared distance over centres [0, seen) it has
// been compared with; bound >= its true distance to the nearest centre. A max-heap orders
// candidates by (bound desc, position asc). When the heap's top has seen every centre, its
// bound is exact and no other candidate can beat it, so it is the textbook algorithm's pick.
std::vector<std::int64_t> kcenter_greedy(const torch::Tensor& candidates, const torch::Tensor& labeled,
                                         std::int64_t k, std::int64_t memory_budget_bytes) {
  constexpr const char* who = "kcenter_greedy";
  check_matrix(candidates, "candidates", who);
  check_matrix(labeled, "labeled features", who);
  const auto n = candidates.size(0);
  const auto dim = candidates.size(1);
  const auto num_labeled = labeled.size(0);
  if (num_labeled > 0 && labeled.size(1) != dim)
    throw Error(std::string(who) + ": candidates have " + std::to_string(dim) + " features but labeled rows have " +
                std::to_string(labeled.size(1)));
  if (memory_budget_bytes <= 0) throw Error(std::string(who) + ": memory budget must be positive");
  if (k >= n) return all_positions(n);
  if (k <= 0) return {};

  torch::NoGradGuard no_grad;
  const auto x = candidates.contiguous();
  const auto x_sq = row_sq_norms(x);
  // Centres: the labeled rows, then each pick in turn.
  auto centres = torch::empty({num_labeled + k, dim}, x.options());
  auto centre_sq = torch::empty({num_labeled + k}, x.options());
  if (num_labeled > 0) {
    centres.narrow(0, 0, num_labeled).copy_(labeled);
    centre_sq.narrow(0, 0, num_labeled).copy_(row_sq_norms(labeled));
  }
  std::int64_t num_centres = num_labeled;
  std::vector<std::int64_t> picked;
  picked.reserve(static_cast<std::size_t>(k));
  auto add_centre = [&](std::int64_t p) {
    centres.narrow(0, num_centres, 1).copy_(x.narrow(0, p, 1));
    centre_sq.narrow(0, num_centres, 1).copy_(x_sq.narrow(0, p, 1));
    ++num_centres;
    picked.push_back(p);
  };
  // No labeled data: start from the candidate with the largest norm (argmax: first on ties).
  if (num_labeled == 0) add_centre(x_sq.argmax().item<std::int64_t>());

  // Initial bounds from the first centres: cheap (N x 128 distances) and usually tight
  // enough that only the candidates near the top ever meet the other centres.
  constexpr std::int64_t kInitialCentres = 128;
  constexpr std::int64_t kBatch = 64;
  const auto first = std::min(num_centres, kInitialCentres);
  std::vector<float> bound(static_cast<std::size_t>(n));
  std::vector<std::int64_t> seen(static_cast<std::size_t>(n), first);
  {
    auto b = min_sq_distance(x, x_sq, centres, centre_sq, 0, first, memory_budget_bytes).to(torch::kCPU).contiguous();
    std::copy(b.data_ptr<float>(), b.data_ptr<float>() + n, bound.begin());
  }
  const auto lower_priority = [&bound](std::int64_t a, std::int64_t b) {
    return bound[a] < bound[b] || (bound[a] == bound[b] && a > b);
  };
  std::vector<std::int64_t> heap;
  heap.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    if (num_labeled > 0 || i != picked.front()) heap.push_back(i);
  std::make_heap(heap.begin(), heap.end(), lower_priority);

  std::vector<std::int64_t> batch;
  while (static_cast<std::int64_t>(picked.size()) < k) {
    if (seen[heap.front()] == num_centres) {
      std::pop_heap(heap.begin(), heap.end(), lower_priority);
      add_centre(heap.back());
      heap.pop_back();
      continue;
    }
    // Bring the stale candidates at the top up to date, a batch at a time.
    batch.clear();
    while (!heap.empty() && static_cast<std::int64_t>(batch.size()) < kBatch && seen[heap.front()] != num_centres) {
      std::pop_heap(heap.begin(), heap.end(), lower_priority);
      batch.push_back(heap.back());
      heap.pop_back();
    }
    // Two groups: candidates that have not met the labeled centres yet (the expensive
    // L-column block, shared), and the rest, which meet the few newest picks from the
    // earliest one any of them misses (re-meeting a centre is harmless: min is idempotent).
    std::sort(batch.begin(), batch.end(), [&seen](std::int64_t a, std::int64_t b) { return seen[a] < seen[b]; });
    const auto group_of = [&](std::int64_t i) { return std::min(seen[i], num_labeled); };
    for (std::size_t g0 = 0; g0 < batch.size();) {
      std::size_t g1 = g0;
      while (g1 < batch.size() && group_of(batch[g1]) == group_of(batch[g0])) ++g1;
      const std::vector<std::int64_t> group(batch.begin() + g0, batch.begin() + g1);
      auto idx = torch::tensor(group, torch::kLong).to(x.device());
      auto fresh = min_sq_distance(x.index_select(0, idx), x_sq.index_select(0, idx), centres, centre_sq,
                                   seen[group[0]], num_centres, memory_budget_bytes)
                       .to(torch::kCPU)
                       .contiguous();
      const float* f = fresh.data_ptr<float>();
      for (std::size_t b = 0; b < group.size(); ++b) {
        const auto i = group[b];
        bound[i] = std::min(bound[i], f[b]);
        seen[i] = num_centres;
        heap.push_back(i);
        std::push_heap(heap.begin(), heap.end(), lower_priority);
      }
      g0 = g1;
    }
  }
  return picked;
}

GradientEmbedding::GradientEmbedding(const torch::Tensor& probabilities, const torch::Tensor& features) {
  constexpr const char* who = "gradient_embedding";
  check_matrix(probabilities, "probabilities", who);
  check_matrix(features, "features", who);
  if (probabilities.size(0) != features.size(0))
    throw Error(std::string(who) + ": " + std::to_string(probabilities.size(0)) + " probability rows but " +
                std::to_string(features.size(0)) + " feature rows");
  torch::NoGradGuard no_grad;
  f_ = features.contiguous();
  // a = onehot(argmax p) - p: -p everywhere, 1 - p at the predicted class.
  const auto top = probabilities.argmax(1, /*keepdim=*/true);
  a_ = probabilities.neg().contiguous();
  a_.scatter_(1, top, 1 - probabilities.gather(1, top));
  sq_norms_ = row_sq_norms(a_).mul_(row_sq_norms(f_));
  af_ = torch::empty_like(sq_norms_);
  ff_ = torch::empty_like(sq_norms_);
}

void GradientEmbedding::inner_products_with(std::int64_t j) {
  torch::NoGradGuard no_grad;
  torch::mv_out(af_, a_, a_[j]);
  torch::mv_out(ff_, f_, f_[j]);
}

void GradientEmbedding::squared_distances_to(std::int64_t j, torch::Tensor& out) {
  inner_products_with(j);
  // ||g_i||^2 + ||g_j||^2 - 2 <a_i,a_j><f_i,f_j>; ||g_j||^2 stays a 0-d tensor (no device sync).
  torch::add_out(out, sq_norms_, sq_norms_[j]);
  out.addcmul_(af_, ff_, -2).clamp_min_(0);
}

// BADGE, Ash et al. 2020: k-means++ seeding on the gradient embedding.
std::vector<std::int64_t> badge_kmeanspp(const torch::Tensor& probabilities, const torch::Tensor& features,
                                         std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes) {
  constexpr const char* who = "badge_kmeanspp";
  check_matrix(probabilities, "probabilities", who);
  check_matrix(features, "features", who);
  const auto n = probabilities.size(0);
  const auto num_classes = probabilities.size(1);
  // Working set: a (N x C), a copy of f if it is not contiguous, five float N-vectors, two double ones.
  const auto need = 4 * n * num_classes + (features.is_contiguous() ? 0 : 4 * features.numel()) + 4 * 5 * n + 8 * 2 * n;
  if (need > memory_budget_bytes)
    throw Error(std::string(who) + ": needs " + std::to_string(need) + " bytes of working memory, the budget is " +
                std::to_string(memory_budget_bytes) + " (raise memory_mb or the run's memory budget)");
  if (k >= n) return all_positions(n);
  if (k <= 0) return {};

  torch::NoGradGuard no_grad;
  GradientEmbedding g(probabilities, features);
  auto nearest = torch::full({n}, std::numeric_limits<float>::infinity(), probabilities.options());
  auto d = torch::empty({n}, probabilities.options());
  std::vector<char> chosen(static_cast<std::size_t>(n), 0);
  std::vector<std::int64_t> picked;
  picked.reserve(static_cast<std::size_t>(k));
  std::int64_t j = g.squared_norms().argmax().item<std::int64_t>();
  const bool on_cpu = probabilities.device().is_cpu();
  std::vector<double> cumulative(on_cpu ? static_cast<std::size_t>(n) : 0);
  while (true) {
    picked.push_back(j);
    chosen[static_cast<std::size_t>(j)] = 1;
    if (static_cast<std::int64_t>(picked.size()) == k) break;
    double total = 0;
    if (on_cpu) {
      // The sampling scan, fused: distance to the new centre, running minimum, float64
      // cumulative sum, in one pass (separate tensor ops would each cost a thread fork).
      g.inner_products_with(j);
      const float* sq = g.squared_norms().data_ptr<float>();
      const float* af = g.a_dot().data_ptr<float>();
      const float* ff = g.f_dot().data_ptr<float>();
      float* best = nearest.data_ptr<float>();
      const float sq_j = sq[j];
      for (std::int64_t i = 0; i < n; ++i) {
        const float d_i = std::max(0.0f, sq[i] + sq_j - 2 * af[i] * ff[i]);
        best[i] = i == j ? 0.0f : std::min(best[i], d_i);
        cumulative[i] = total += best[i];
      }
    } else {
      g.squared_distances_to(j, d);
      torch::minimum_out(nearest, nearest, d);
      nearest.narrow(0, j, 1).zero_();  // chosen points are never drawn again
      const auto cum = nearest.to(torch::kDouble).cumsum(0);
      total = cum[n - 1].item<double>();
      if (total > 0) {
        const auto target = torch::full({1}, uniform01(rng) * total, cum.options());
        j = torch::searchsorted(cum, target, /*out_int32=*/false, /*right=*/true).item<std::int64_t>();
        if (j >= n) j = torch::nonzero(nearest > 0).max().item<std::int64_t>();  // u * total rounded up
        continue;
      }
    }
    if (total > 0) {
      // First position whose cumulative sum exceeds u * total (chosen points add 0, so never hit).
      const double target = uniform01(rng) * total;
      j = std::upper_bound(cumulative.begin(), cumulative.end(), target) - cumulative.begin();
      if (j >= n) j = std::find_if(cumulative.begin(), cumulative.end(), [&](double c) { return c == total; }) -
                      cumulative.begin();  // u * total rounded up: the last point with weight
    } else {
      // Every unchosen point coincides with a centre: draw uniformly among them.
      auto r = uniform_index(rng, n - static_cast<std::int64_t>(picked.size()));
      for (j = 0; chosen[static_cast<std::size_t>(j)] || r-- > 0; ++j) {
      }
    }
  }
  return picked;
}

}  // namespace quarry
