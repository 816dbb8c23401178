// BAIT's Fisher-information greedy and its Fast Fishing gradient likelihoods (quarry/fisher.hpp).
// Over ~400 lines on purpose: the forward and backward greedy share the per-point r x r
// Woodbury updates and their fused CPU loops, which read best in one file.
#include "quarry/fisher.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

namespace {

constexpr const char* kWho = "bait";
constexpr std::int64_t kMiB = std::int64_t{1} << 20;
constexpr std::int64_t kChunkRows = 256;  // rows per set-up block counted by bait_memory_bytes
constexpr std::int64_t kStepRows = 4096;  // rows per block of a step's per-point update

bool full_expectation(std::int64_t num_classes, const BaitOptions& o) {
  return o.top_classes == 0 || o.top_classes >= num_classes;
}
std::int64_t factor_width(std::int64_t num_classes, const BaitOptions& o) {
  return o.likelihood == FisherLikelihood::CrossEntropy ? num_classes : 1;
}
std::int64_t factor_rank(std::int64_t num_classes, const BaitOptions& o) {
  if (o.likelihood == FisherLikelihood::BinaryCrossEntropy) return o.top_classes == 1 ? 1 : 2;
  return full_expectation(num_classes, o) ? num_classes : o.top_classes;
}

// The c most likely classes of each row (stable: the lower class index among equal
// probabilities) and their probabilities renormalised to sum to 1.
std::pair<torch::Tensor, torch::Tensor> top_classes(const torch::Tensor& p, std::int64_t c) {
  const auto sorted = torch::sort(p, /*stable=*/true, /*dim=*/1, /*descending=*/true);
  auto q = std::get<0>(sorted).narrow(1, 0, c);
  q = q / q.sum(1, true).clamp_min(std::numeric_limits<double>::min());
  return {std::get<1>(sorted).narrow(1, 0, c), q};
}

// sum_r s_r s_r^T per point, as diag(d) + sum_j sign_j u_j u_j^T (each N x C'), so the Fisher
// F = sum_x (sum_r s_r s_r^T) (x) f f^T is C' weighted D x D products plus rank-one terms.
struct FactorGram {
  torch::Tensor diag;
  std::vector<std::pair<double, torch::Tensor>> rank_one;
};

FactorGram factor_gram(const torch::Tensor& p, const BaitOptions& o) {
  if (o.likelihood == FisherLikelihood::BinaryCrossEntropy)
    return {fisher_gradient_factors(p, o).pow(2).sum(1), {}};
  if (full_expectation(p.size(1), o)) return {p, {{-1.0, p}}};  // diag(p) - p p^T
  // diag(q~) + (p - q~)(p - q~)^T - q~ q~^T = sum_{y in top} q_y (e_y - p)(e_y - p)^T
  const auto [idx, q] = top_classes(p, o.top_classes);
  const auto qt = torch::zeros_like(p).scatter_(1, idx, q);
  return {qt, {{1.0, p - qt}, {-1.0, qt}}};
}

// out += weight * sum_x (sum_r s_r s_r^T) (x) f_x f_x^T over the rows of (p, f).
void add_fisher(torch::Tensor& out, const torch::Tensor& p, const torch::Tensor& f, const BaitOptions& o,
                double weight, std::int64_t chunk) {
  if (p.size(0) == 0) return;
  const auto gram = factor_gram(p, o);
  const auto width = gram.diag.size(1), dim = f.size(1);
  for (std::int64_t r0 = 0; r0 < p.size(0); r0 += chunk) {
    const auto m = std::min(chunk, p.size(0) - r0);
    const auto fm = f.narrow(0, r0, m);
    for (std::int64_t c = 0; c < width; ++c) {
      auto block = out.narrow(0, c * dim, dim).narrow(1, c * dim, dim);
      block.addmm_((fm * gram.diag.narrow(0, r0, m).narrow(1, c, 1)).t(), fm, 1.0, weight);
    }
  }
  for (const auto& [sign, u] : gram.rank_one)
    for (std::int64_t r0 = 0; r0 < p.size(0); r0 += chunk) {
      const auto m = std::min(chunk, p.size(0) - r0);
      const auto x = (u.narrow(0, r0, m).unsqueeze(2) * f.narrow(0, r0, m).unsqueeze(1)).reshape({m, width * dim});
      out.addmm_(x.t(), x, 1.0, sign * weight);
    }
}

// a (n x p x q) times b (n x q x s) for tiny matrices: q broadcast multiply-adds over the batch.
// A batched BLAS product costs about a microsecond per matrix, more than the whole work here.
torch::Tensor small_bmm(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.size(2) > 16) return a.bmm(b);
  auto out = a.narrow(2, 0, 1) * b.narrow(1, 0, 1);
  for (std::int64_t q = 1; q < a.size(2); ++q) out.add_(a.narrow(2, q, 1) * b.narrow(1, q, 1));
  return out;
}

// V_x A V_x^T (r x r) for every row x, V_x = S_x (x) f_x, A = P x P: first the C' x C' matrix
// T_x[c, c'] = f_x^T A_{cc'} f_x, one P x D block of A at a time, then S_x T_x S_x^T.
torch::Tensor quadratic_forms(const torch::Tensor& a, const torch::Tensor& s, const torch::Tensor& f,
                              std::int64_t chunk) {
  const auto n = f.size(0), dim = f.size(1), width = s.size(2);
  auto out = torch::empty({n, s.size(1), s.size(1)}, f.options());
  for (std::int64_t r0 = 0; r0 < n; r0 += chunk) {
    const auto m = std::min(chunk, n - r0);
    const auto ft = f.narrow(0, r0, m).t();  // D x m
    auto t = torch::empty({m, width, width}, f.options());
    for (std::int64_t c = 0; c < width; ++c) {
      const auto h = a.narrow(1, c * dim, dim).mm(ft).view({width, dim, m});  // A[:, block c] f
      t.select(2, c).copy_((h * ft.unsqueeze(0)).sum(1).t());
    }
    const auto sc = s.narrow(0, r0, m);
    out.narrow(0, r0, m).copy_(small_bmm(small_bmm(sc, t), sc.transpose(1, 2)));
  }
  return out;
}

// tr(solve(sign I + bx, gx)) for each row: the change of tr(M^{-1} F) when that point is
// removed (sign -1) or, negated, added (sign +1). sign I + bx is symmetric definite (positive
// adding, negative removing, since V M^{-1} V^T < I for a point in M), so Gauss-Jordan without
// pivoting is stable; it runs as r batched tensor steps, where a batched LAPACK solve costs
// microseconds per tiny matrix (10,000 candidates x 2 x 2: 0.1 s a step).
torch::Tensor trace_scores(const torch::Tensor& bx, const torch::Tensor& gx, double sign) {
  const auto r = bx.size(1);
  if (r == 1) return gx.view({-1}) / (bx.view({-1}) + sign);
  auto m = torch::cat({bx + torch::eye(r, bx.options()).mul_(sign), gx}, 2);  // n x r x 2r
  for (std::int64_t i = 0; i < r; ++i) {
    const auto row = m.select(1, i) / m.select(1, i).narrow(1, i, 1);  // n x 2r, pivot 1
    m.sub_(m.narrow(2, i, 1) * row.unsqueeze(1));                      // clear column i
    m.select(1, i).copy_(row);
  }
  return m.narrow(2, r, r).diagonal(0, 1, 2).sum(1);
}

// The first position (in `scores` order) whose score is within `tol` (relative) of the best;
// positions with -inf never win.
std::int64_t first_best(const torch::Tensor& scores, double tol) {
  const auto s = scores.to(torch::kCPU, torch::kDouble).contiguous();
  const double* v = s.data_ptr<double>();
  double best = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < s.numel(); ++i) best = std::max(best, v[i]);
  const double threshold = best - tol * std::abs(best);
  for (std::int64_t i = 0; i < s.numel(); ++i)
    if (v[i] >= threshold) return i;
  throw Error(std::string(kWho) + ": every score is NaN (the Fisher matrices lost precision; try precision = float64)");
}

// The Fisher state: B = M^{-1}, G = B F B and every tracked point's V B V^T, V G V^T.
struct FisherState {
  torch::Tensor b, g;    // P x P
  torch::Tensor s, f;    // the candidates' (scaled) factors N x r x C' and features N x D
  torch::Tensor bx, gx;  // N x r x r
  std::int64_t step_rows = kStepRows;

  // M += sign * V_j^T V_j (Woodbury on B and G, as derived in fisher.hpp), and the same update
  // of bx, gx for the points at `rows` (all when undefined); returns their scores with next_sign.
  torch::Tensor update(std::int64_t j, double sign, const torch::Tensor& rows, double next_sign) {
    const auto width = s.size(2), rank = s.size(1), dim = f.size(1);
    const auto vj = (s[j].unsqueeze(2) * f[j].view({1, 1, dim})).reshape({rank, width * dim});
    const auto z = b.mm(vj.t()), r = g.mm(vj.t());
    const auto k = torch::inverse(vj.mm(z) + torch::eye(rank, z.options()).mul_(sign));
    const auto w = vj.mm(r);
    const auto zk = z.mm(k);
    b.addmm_(zk, z.t(), 1.0, -1.0);
    g.addmm_(zk, (r - zk.mm(w)).t(), 1.0, -1.0);
    g.addmm_(r, zk.t(), 1.0, -1.0);
    // V_x Z and V_x R for the tracked points: one (n x D) by (D x C' 2r) product per block of rows.
    const auto zr = torch::cat({z, r}, 1).view({width, dim, 2 * rank}).permute({1, 0, 2}).reshape({dim, width * 2 * rank});
    if (rows.defined()) {
      auto bsel = bx.index_select(0, rows), gsel = gx.index_select(0, rows);
      auto scores = apply(f.index_select(0, rows), s.index_select(0, rows), bsel, gsel, zr, k, w, next_sign);
      bx.index_copy_(0, rows, bsel);
      gx.index_copy_(0, rows, gsel);
      return scores;
    }
    std::vector<torch::Tensor> parts;
    for (std::int64_t r0 = 0; r0 < f.size(0); r0 += step_rows) {
      const auto m = std::min(step_rows, f.size(0) - r0);
      auto bv = bx.narrow(0, r0, m), gv = gx.narrow(0, r0, m);
      parts.push_back(apply(f.narrow(0, r0, m), s.narrow(0, r0, m), bv, gv, zr, k, w, next_sign));
    }
    return torch::cat(parts);
  }

  // bx -= a K a^T, gx -= a K (b - a K W)^T + b (a K)^T with [a b] = S_x (V_x-rows of Z|R) for a block
  // of points (bx, gx updated in place), then their scores with next_sign. On the CPU one plain
  // loop per point does it all: a step's tensor ops on n x r x r would be ~20 passes, each a
  // parallel region, which on a busy machine costs more than the arithmetic.
  torch::Tensor apply(const torch::Tensor& fx, const torch::Tensor& sx, torch::Tensor& bxv, torch::Tensor& gxv,
                      const torch::Tensor& zr, const torch::Tensor& k, const torch::Tensor& w, double next_sign) const {
    const auto width = s.size(2), rank = s.size(1), n = fx.size(0);
    const auto y = fx.mm(zr).view({n, width, 2 * rank});
    if (!fx.device().is_cpu()) {
      const auto ab = small_bmm(sx, y);
      const auto a = ab.narrow(2, 0, rank), bb = ab.narrow(2, rank, rank);
      const auto ak = a.matmul(k);
      bxv.sub_(small_bmm(ak, a.transpose(1, 2)));
      gxv.sub_(small_bmm(ak, (bb - ak.matmul(w)).transpose(1, 2)) + small_bmm(bb, ak.transpose(1, 2)));
      return trace_scores(bxv, gxv, next_sign);
    }
    auto scores = torch::empty({n}, fx.options());
    if (fx.scalar_type() == torch::kFloat)
      apply_cpu<float>(y, sx.contiguous(), bxv, gxv, k, w, next_sign, scores);
    else
      apply_cpu<double>(y, sx.contiguous(), bxv, gxv, k, w, next_sign, scores);
    return scores;
  }

  template <typename T>
  static void apply_cpu(const torch::Tensor& y, const torch::Tensor& sx, torch::Tensor& bxv, torch::Tensor& gxv,
                        const torch::Tensor& k, const torch::Tensor& w, double next_sign, torch::Tensor& scores) {
    const auto n = y.size(0), width = sx.size(2), r = sx.size(1);
    const auto kc = k.contiguous().cpu(), wc = w.contiguous().cpu();
    const T *yp = y.data_ptr<T>(), *sp = sx.data_ptr<T>(), *kp = kc.data_ptr<T>(), *wp = wc.data_ptr<T>();
    T *bp = bxv.data_ptr<T>(), *gp = gxv.data_ptr<T>(), *out = scores.data_ptr<T>();
    at::parallel_for(0, n, 64, [&](std::int64_t begin, std::int64_t end) {
      std::vector<T> ab(r * 2 * r), ak(r * r), t(r * r), m(r * 2 * r);
      for (auto x = begin; x < end; ++x) {
        const T* sx_ = sp + x * r * width;
        const T* yx = yp + x * width * 2 * r;
        T* bx_ = bp + x * r * r;
        T* gx_ = gp + x * r * r;
        for (std::int64_t i = 0; i < r; ++i)
          for (std::int64_t j = 0; j < 2 * r; ++j) {
            T acc = 0;
            for (std::int64_t c = 0; c < width; ++c) acc += sx_[i * width + c] * yx[c * 2 * r + j];
            ab[i * 2 * r + j] = acc;
          }
        const auto a = [&](std::int64_t i, std::int64_t j) { return ab[i * 2 * r + j]; };
        const auto b = [&](std::int64_t i, std::int64_t j) { return ab[i * 2 * r + r + j]; };
        for (std::int64_t i = 0; i < r; ++i)
          for (std::int64_t j = 0; j < r; ++j) {
            T acc = 0;
            for (std::int64_t l = 0; l < r; ++l) acc += a(i, l) * kp[l * r + j];
            ak[i * r + j] = acc;
          }
        for (std::int64_t i = 0; i < r; ++i)  // t = b - aK W
          for (std::int64_t j = 0; j < r; ++j) {
            T acc = b(i, j);
            for (std::int64_t l = 0; l < r; ++l) acc -= ak[i * r + l] * wp[l * r + j];
            t[i * r + j] = acc;
          }
        for (std::int64_t i = 0; i < r; ++i)
          for (std::int64_t j = 0; j < r; ++j) {
            T db = 0, dg = 0;
            for (std::int64_t l = 0; l < r; ++l) {
              db += ak[i * r + l] * a(j, l);
              dg += ak[i * r + l] * t[j * r + l] + b(i, l) * ak[j * r + l];
            }
            bx_[i * r + j] -= db;
            gx_[i * r + j] -= dg;
          }
        // tr((next_sign I + bx)^-1 gx): Gauss-Jordan on [next_sign I + bx | gx], no pivoting (definite).
        for (std::int64_t i = 0; i < r; ++i)
          for (std::int64_t j = 0; j < r; ++j) {
            m[i * 2 * r + j] = bx_[i * r + j] + (i == j ? static_cast<T>(next_sign) : T(0));
            m[i * 2 * r + r + j] = gx_[i * r + j];
          }
        for (std::int64_t i = 0; i < r; ++i) {
          const T piv = m[i * 2 * r + i];
          for (std::int64_t j = 0; j < 2 * r; ++j) m[i * 2 * r + j] /= piv;
          for (std::int64_t q = 0; q < r; ++q) {
            if (q == i) continue;
            const T fac = m[q * 2 * r + i];
            if (fac == 0) continue;
            for (std::int64_t j = 0; j < 2 * r; ++j) m[q * 2 * r + j] -= fac * m[i * 2 * r + j];
          }
        }
        T tr = 0;
        for (std::int64_t i = 0; i < r; ++i) tr += m[i * 2 * r + r + i];
        out[x] = tr;
      }
    });
  }
};

void check_pair(const torch::Tensor& p, const torch::Tensor& f, const char* what) {
  if (!p.defined() || !f.defined() || p.dim() != 2 || f.dim() != 2)
    throw Error(std::string(kWho) + ": " + what + " probabilities and features must be 2-D tensors");
  if (p.size(0) != f.size(0))
    throw Error(std::string(kWho) + ": " + what + " have " + std::to_string(p.size(0)) + " probability rows but " +
                std::to_string(f.size(0)) + " feature rows");
  for (const auto& t : {p, f})
    if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble)
      throw Error(std::string(kWho) + ": " + what + " tensors must be float32 or float64, got " +
                  std::string(c10::toString(t.scalar_type())));
}

}  // namespace

FisherLikelihood parse_fisher_likelihood(const std::string& name) {
  if (name == "cross_entropy") return FisherLikelihood::CrossEntropy;
  if (name == "binary_cross_entropy") return FisherLikelihood::BinaryCrossEntropy;
  throw Error(std::string(kWho) + ": unknown likelihood '" + name + "' (cross_entropy or binary_cross_entropy)");
}

torch::Tensor fisher_gradient_factors(const torch::Tensor& p, const BaitOptions& o) {
  const auto n = p.size(0), c = p.size(1);
  if (o.likelihood == FisherLikelihood::BinaryCrossEntropy) {
    const auto pmax = std::get<0>(p.max(1));
    if (o.top_classes == 1) return (1 - pmax).view({n, 1, 1});
    return torch::stack({pmax.sqrt() * (1 - pmax), -(1 - pmax).sqrt() * pmax}, 1).view({n, 2, 1});
  }
  if (full_expectation(c, o))  // row y: sqrt(p_y) (e_y - p)
    return p.sqrt().unsqueeze(2) * (torch::eye(c, p.options()).unsqueeze(0) - p.unsqueeze(1));
  const auto [idx, q] = top_classes(p, o.top_classes);
  const auto onehot = torch::zeros({n, o.top_classes, c}, p.options()).scatter_(2, idx.unsqueeze(2), 1.0);
  return q.sqrt().unsqueeze(2) * (onehot - p.unsqueeze(1));
}

std::int64_t bait_memory_bytes(std::int64_t n, std::int64_t l, std::int64_t num_classes, std::int64_t dim,
                               std::int64_t /*k: the sizes do not depend on it*/, const BaitOptions& o) {
  const std::int64_t e = o.dtype == torch::kFloat ? 4 : 8;
  const auto width = factor_width(num_classes, o), rank = factor_rank(num_classes, o), p = width * dim;
  const auto inputs = (n + l) * (num_classes + dim + 3 * width);  // converted copies, factor grams
  const auto chunk = 2 * p * std::min(n + l, kChunkRows);          // one set-up block
  const auto setup = 3 * p * p + inputs + chunk;                   // B, F, F B (then G)
  const auto state = n * (rank * width + 2 * rank * rank);         // S, V B V^T, V G V^T
  const auto step = std::min(n, kStepRows) * (3 * width * rank + 8 * rank * rank);  // one block of an update
  return e * std::max(setup, 2 * p * p + inputs + state + std::max(step, chunk));
}

std::vector<std::int64_t> bait_select(const torch::Tensor& probabilities, const torch::Tensor& features,
                                      const torch::Tensor& labeled_probabilities,
                                      const torch::Tensor& labeled_features, std::int64_t k,
                                      const BaitOptions& options, std::int64_t memory_budget_bytes) {
  check_pair(probabilities, features, "candidate");
  const bool has_labeled = labeled_probabilities.defined() && labeled_probabilities.numel() > 0;
  if (has_labeled) check_pair(labeled_probabilities, labeled_features, "labeled");
  const auto n = probabilities.size(0), num_classes = probabilities.size(1), dim = features.size(1);
  const auto l = has_labeled ? labeled_probabilities.size(0) : 0;
  if (has_labeled && (labeled_probabilities.size(1) != num_classes || labeled_features.size(1) != dim))
    throw Error(std::string(kWho) + ": labeled rows have " + std::to_string(labeled_probabilities.size(1)) +
                " classes and " + std::to_string(labeled_features.size(1)) + " features, candidates " +
                std::to_string(num_classes) + " and " + std::to_string(dim));
  if (options.lambda <= 0) throw Error(std::string(kWho) + ": lambda must be > 0");
  if (options.oversample < 1) throw Error(std::string(kWho) + ": oversample must be >= 1");
  if (options.top_classes < 0 ||
      (options.likelihood == FisherLikelihood::BinaryCrossEntropy && options.top_classes > 2))
    throw Error(std::string(kWho) + ": top_classes must be 0 (all) or >= 1, and 0, 1 or 2 for binary_cross_entropy");
  if (options.dtype != torch::kFloat && options.dtype != torch::kDouble)
    throw Error(std::string(kWho) + ": the precision must be float32 or float64");
  std::vector<std::int64_t> chosen;
  if (k <= 0) return chosen;
  if (k >= n) {
    chosen.resize(static_cast<std::size_t>(n));
    std::iota(chosen.begin(), chosen.end(), 0);
    return chosen;
  }
  const auto need = bait_memory_bytes(n, l, num_classes, dim, k, options);
  const auto width = factor_width(num_classes, options);
  const auto pdim = width * dim;
  if (need > memory_budget_bytes)
    throw Error(std::string(kWho) + ": needs " + std::to_string(need / kMiB) + " MiB (Fisher matrices of " +
                std::to_string(pdim) + " x " + std::to_string(pdim) + " = " + std::to_string(width) + " x " +
                std::to_string(dim) + " squared, " + (options.dtype == torch::kFloat ? "float32" : "float64") +
                ", three at the set-up's peak), more than the memory budget of " +
                std::to_string(memory_budget_bytes / kMiB) +
                " MiB; use likelihood = \"binary_cross_entropy\" (D x D), precision = \"float32\", or a larger "
                "run.memory_budget_mb / memory_mb");

  const std::int64_t e = options.dtype == torch::kFloat ? 4 : 8;
  // Set-up blocks as large as the budget allows beyond what the estimate counts for one of 256 rows.
  const auto chunk = std::max<std::int64_t>(
      kChunkRows, std::min<std::int64_t>(n + l, kChunkRows + (memory_budget_bytes - need) / (2 * pdim * e)));
  const auto opts = features.options().dtype(options.dtype);
  const auto p = probabilities.to(opts), f = features.to(opts);
  const auto lp = has_labeled ? labeled_probabilities.to(opts) : torch::Tensor();
  const auto lf = has_labeled ? labeled_features.to(opts) : torch::Tensor();

  FisherState st;
  {
    // B = (lambda I + L/(L+k) mean_labeled I(x))^{-1}
    auto m = torch::eye(pdim, opts).mul_(options.lambda);
    if (has_labeled) add_fisher(m, lp, lf, options, 1.0 / static_cast<double>(l + k), chunk);
    auto chol = torch::linalg_cholesky(m);
    m = torch::Tensor();
    st.b = torch::cholesky_inverse(chol);
    chol = torch::Tensor();
    // G = B F B, F = the mean Fisher over candidates and labeled points
    auto fisher = torch::zeros({pdim, pdim}, opts);
    const double mean = 1.0 / static_cast<double>(n + l);
    add_fisher(fisher, p, f, options, mean, chunk);
    if (has_labeled) add_fisher(fisher, lp, lf, options, mean, chunk);
    auto fb = fisher.mm(st.b);
    fisher = torch::Tensor();
    st.g = st.b.mm(fb);
  }
  // The query's points enter M with weight k/(L+k) each: scale their factors by its root.
  st.s = fisher_gradient_factors(p, options).mul_(std::sqrt(static_cast<double>(k) / static_cast<double>(l + k)));
  st.f = f;
  st.bx = quadratic_forms(st.b, st.s, f, chunk);
  st.gx = quadratic_forms(st.g, st.s, f, chunk);

  const double tol = options.dtype == torch::kFloat ? 1e-5 : 1e-9;
  const auto steps = std::min<std::int64_t>(n, static_cast<std::int64_t>(std::ceil(options.oversample * k)));
  auto taken = torch::zeros({n}, torch::TensorOptions().dtype(torch::kBool).device(f.device()));
  auto score = trace_scores(st.bx, st.gx, 1.0);
  for (std::int64_t step = 0; step < steps; ++step) {
    const auto j = first_best(score.masked_fill_(taken, -std::numeric_limits<double>::infinity()), tol);
    chosen.push_back(j);
    taken[j].fill_(true);
    score = st.update(j, 1.0, torch::Tensor(), 1.0);
  }
  const auto index = [&](const std::vector<std::int64_t>& v) {
    return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong)).to(f.device());
  };
  if (static_cast<std::int64_t>(chosen.size()) > k) {
    auto rows = index(chosen);
    score = trace_scores(st.bx.index_select(0, rows), st.gx.index_select(0, rows), -1.0);
  }
  while (static_cast<std::int64_t>(chosen.size()) > k) {
    const auto drop = first_best(score, tol);
    const auto j = chosen[static_cast<std::size_t>(drop)];
    chosen.erase(chosen.begin() + drop);
    if (static_cast<std::int64_t>(chosen.size()) == k) break;
    score = st.update(j, -1.0, index(chosen), -1.0);
  }
  return chosen;
}

}  // namespace quarry
