#include "quarry/selection.hpp"

#include <algorithm>
#include <cstdlib>
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

// Whether to take the CPU fast paths (plain loops, one BLAS call per block) for tensors on the
// CPU. QUARRY_SELECTION_TENSOR_OPS=1 runs the tensor-op path the GPU runs instead, on any
// device: the tests use it to check that path on machines without a GPU.
bool cpu_fast_path(const torch::Tensor& t) {
  if (!t.device().is_cpu()) return false;
  const char* forced = std::getenv("QUARRY_SELECTION_TENSOR_OPS");
  return !(forced && forced[0] == '1');
}

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

// sum_d a[d] * b[d] for 0 <= d < n, eight running sums (so the compiler can vectorise
// without reassociating one long chain).
float dot(const float* a, const float* b, std::int64_t n) {
  float s[8] = {};
  std::int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[d + l] * b[d + l];
  float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; d < n; ++d) total += a[d] * b[d];
  return total;
}

// ||x_i||^2 for every row: on CPU one pass of dot products, elsewhere a block of rows at a
// time so no N x D temporary is made.
torch::Tensor row_sq_norms(const torch::Tensor& x) {
  auto out = torch::empty({x.size(0)}, x.options());
  if (cpu_fast_path(x)) {
    const auto xc = x.contiguous();
    const float* p = xc.data_ptr<float>();
    float* o = out.data_ptr<float>();
    const auto dim = x.size(1);
    at::parallel_for(0, x.size(0), 1024, [&](std::int64_t begin, std::int64_t end) {
      for (auto i = begin; i < end; ++i) o[i] = dot(p + i * dim, p + i * dim, dim);
    });
    return out;
  }
  constexpr std::int64_t kRows = 4096;
  for (std::int64_t r = 0; r < x.size(0); r += kRows) {
    const auto nr = std::min(kRows, x.size(0) - r);
    const auto block = x.narrow(0, r, nr);
    out.narrow(0, r, nr).copy_((block * block).sum(1));
  }
  return out;
}

// Blocks of a rows x cols distance computation that keep each temporary under `budget` bytes.
struct Blocks {
  std::int64_t rows, cols;
  Blocks(std::int64_t num_rows, std::int64_t num_cols, std::int64_t budget) {
    const auto cells = std::max<std::int64_t>(1, budget / static_cast<std::int64_t>(sizeof(float)));
    cols = std::clamp<std::int64_t>(cells / std::max<std::int64_t>(num_rows, 1), 1, std::max<std::int64_t>(num_cols, 1));
    rows = std::clamp<std::int64_t>(cells / cols, 1, std::max<std::int64_t>(num_rows, 1));
  }
};

// Clamped squared distances ||x||^2 + ||c||^2 - 2 x.c of rows [r, r + nr) to centres [c, c + nc),
// as an nr x nc block: csq - 2 x.c in one matmul, then + xsq; clamped because rounding can go below 0.
torch::Tensor distance_block(const torch::Tensor& x, const torch::Tensor& x_sq, const torch::Tensor& centres,
                             const torch::Tensor& centre_sq, std::int64_t r, std::int64_t nr, std::int64_t c,
                             std::int64_t nc) {
  auto d = torch::addmm(centre_sq.narrow(0, c, nc).unsqueeze(0), x.narrow(0, r, nr), centres.narrow(0, c, nc).t(), 1, -2);
  return d.add_(x_sq.narrow(0, r, nr).unsqueeze(1)).clamp_min_(0);
}

// One row of products p_j = x.c_j folded into the running minimum of the clamped squared
// distance max(0, (csq_j - 2 p_j) + xsq) over j < nc, the formula the matmul path uses. With
// `at`, *at becomes base + j for the first j that lowers the minimum (strict: ties keep the
// earlier centre).
inline float fold_row(const float* p, const float* csq, std::int64_t nc, float xsq, float best, std::int64_t* at,
                      std::int64_t base) {
  if (!at) {
    for (std::int64_t j = 0; j < nc; ++j) best = std::min(best, std::max(0.0f, (csq[j] - 2 * p[j]) + xsq));
    return best;
  }
  for (std::int64_t j = 0; j < nc; ++j) {
    const float d = std::max(0.0f, (csq[j] - 2 * p[j]) + xsq);
    if (d < best) {
      best = d;
      *at = base + j;
    }
  }
  return best;
}

// Row-wise minimum over centres [c0, c1) of the clamped squared distance, in blocks of at
// most `budget` bytes. Returns the minimum (float) and, if `argmin` is given, the centre
// reaching it (long; the first on ties), both B-vectors on the device.
torch::Tensor min_sq_distance(const torch::Tensor& x, const torch::Tensor& x_sq, const torch::Tensor& centres,
                              const torch::Tensor& centre_sq, std::int64_t c0, std::int64_t c1, std::int64_t budget,
                              torch::Tensor* argmin = nullptr) {
  const auto rows = x.size(0);
  const Blocks blk(rows, c1 - c0, budget);
  auto out = torch::full({rows}, std::numeric_limits<float>::infinity(), x.options());
  if (argmin) *argmin = torch::full({rows}, c0, x.options().dtype(torch::kLong));
  if (cpu_fast_path(x)) {
    // One matmul per block into a reused buffer; the clamp and the minimum in one loop
    // (as tensor ops they would be four more passes over the block).
    const auto xc = x.contiguous();
    const auto product = torch::empty({blk.rows * blk.cols}, x.options());
    const auto cs = centre_sq.contiguous();
    const auto xs = x_sq.contiguous();
    const float* csq = cs.data_ptr<float>();
    const float* xsq = xs.data_ptr<float>();
    float* best = out.data_ptr<float>();
    std::int64_t* best_at = argmin ? argmin->data_ptr<std::int64_t>() : nullptr;
    for (std::int64_t r = 0; r < rows; r += blk.rows) {
      const auto nr = std::min(blk.rows, rows - r);
      for (std::int64_t c = c0; c < c1; c += blk.cols) {
        const auto nc = std::min(blk.cols, c1 - c);
        auto prod = product.narrow(0, 0, nr * nc).view({nr, nc});
        torch::mm_out(prod, xc.narrow(0, r, nr), centres.narrow(0, c, nc).t());
        const float* p = prod.data_ptr<float>();
        for (std::int64_t i = 0; i < nr; ++i)
          best[r + i] = fold_row(p + i * nc, csq + c, nc, xsq[r + i], best[r + i], best_at ? best_at + r + i : nullptr, c);
      }
    }
    return out;
  }
  for (std::int64_t r = 0; r < rows; r += blk.rows) {
    const auto nr = std::min(blk.rows, rows - r);
    auto best = out.narrow(0, r, nr);
    for (std::int64_t c = c0; c < c1; c += blk.cols) {
      const auto nc = std::min(blk.cols, c1 - c);
      const auto d = distance_block(x, x_sq, centres, centre_sq, r, nr, c, nc);
      if (!argmin) {
        torch::minimum_out(best, best, std::get<0>(d.min(1)));
        continue;
      }
      const auto [m, at] = d.min(1);
      const auto better = m < best;  // strict: an earlier centre wins a tie
      auto best_at = argmin->narrow(0, r, nr);
      best_at.copy_(torch::where(better, at + c, best_at));
      torch::minimum_out(best, best, m);
    }
  }
  return out;
}


}  // namespace

// Greedy k-center, Sener & Savarese 2018, evaluated lazily (see the header and
// docs/selection.md). Every candidate carries `bound`, the minimum squared distance over
// the centres [0, seen) it has met; bound >= its true distance to the nearest centre. A
// max-heap orders candidates by (bound desc, position asc). When the heap's top has met
// every centre, its bound is exact and no other candidate can beat it, so it is the
// textbook algorithm's pick. The order of the labeled centres is free (a minimum does not
// depend on it), so the ones that bound the most candidates are moved to the front.
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
  if (num_labeled > 0 && labeled.device() != candidates.device())
    throw Error(std::string(who) + ": candidates and labeled features are on different devices");
  if (k >= n) return all_positions(n);
  if (k <= 0) return {};

  torch::NoGradGuard no_grad;
  const auto x = candidates.contiguous();
  const auto x_sq = row_sq_norms(x);
  const auto on_device = [&](const std::vector<std::int64_t>& v) { return torch::tensor(v, torch::kLong).to(x.device()); };
  const auto to_host = [](const torch::Tensor& t) { return t.to(torch::kCPU).contiguous(); };

  // Centres: the labeled rows, then each pick in turn.
  auto centres = torch::empty({num_labeled + k, dim}, x.options());
  auto centre_sq = torch::empty({num_labeled + k}, x.options());
  if (num_labeled > 0) {
    centres.narrow(0, 0, num_labeled).copy_(labeled);
    centre_sq.narrow(0, 0, num_labeled).copy_(row_sq_norms(centres.narrow(0, 0, num_labeled)));
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

  std::vector<float> bound(static_cast<std::size_t>(n));
  std::vector<std::int64_t> seen(static_cast<std::size_t>(n));
  const auto set_bounds = [&](const torch::Tensor& b, std::int64_t met) {
    const auto host = to_host(b);
    std::copy(host.data_ptr<float>(), host.data_ptr<float>() + n, bound.begin());
    std::fill(seen.begin(), seen.end(), met);
  };
  // Initial bounds, in three cheap stages instead of the N x L product:
  //  1. every candidate meets kProbe labeled rows spread over the block;
  //  2. the kTop candidates with the largest bound meet all L rows (their bounds become
  //     exact), and the labeled rows nearest to them become the front rows: on real features
  //     they are the centres of the regions the farthest candidates lie in;
  //  3. every candidate meets the front rows too.
  // Every other candidate has then met only a few labeled rows (seen = 0: it still has to
  // meet [0, num_centres), front rows again included, which is harmless: min is idempotent),
  // and only those whose bound stays above the picks' distances ever meet the whole block.
  constexpr std::int64_t kProbe = 32;
  constexpr std::int64_t kTop = 128;
  if (num_labeled <= 2 * kProbe || n <= kTop) {
    set_bounds(min_sq_distance(x, x_sq, centres, centre_sq, 0, num_centres, memory_budget_bytes), num_centres);
  } else {
    const auto block = centres.narrow(0, 0, num_labeled);
    const auto block_sq = centre_sq.narrow(0, 0, num_labeled);
    // Stage 1: rows i * L / kProbe (distinct, spread over the block).
    std::vector<char> front(static_cast<std::size_t>(num_labeled), 0);
    std::vector<std::int64_t> rows;
    for (std::int64_t i = 0; i < kProbe; ++i) rows.push_back(i * num_labeled / kProbe);
    for (const auto r : rows) front[static_cast<std::size_t>(r)] = 1;
    auto idx = on_device(rows);
    auto b = min_sq_distance(x, x_sq, block.index_select(0, idx), block_sq.index_select(0, idx), 0, kProbe,
                             memory_budget_bytes);
    // Stage 2: the kTop largest bounds meet every labeled row.
    const auto top = std::get<1>(b.topk(kTop));
    torch::Tensor nearest_at;
    const auto exact = to_host(min_sq_distance(x.index_select(0, top), x_sq.index_select(0, top), block, block_sq, 0,
                                               num_labeled, memory_budget_bytes, &nearest_at));
    const auto nearest_host = to_host(nearest_at);
    rows.clear();
    for (std::int64_t i = 0; i < kTop; ++i) {
      const auto r = nearest_host.data_ptr<std::int64_t>()[i];
      if (!front[static_cast<std::size_t>(r)]) rows.push_back(r);
      front[static_cast<std::size_t>(r)] = 1;
    }
    // Stage 3: everyone meets the new front rows.
    if (!rows.empty()) {
      idx = on_device(rows);
      const auto more = min_sq_distance(x, x_sq, block.index_select(0, idx), block_sq.index_select(0, idx), 0,
                                        static_cast<std::int64_t>(rows.size()), memory_budget_bytes);
      torch::minimum_out(b, b, more);
    }
    set_bounds(b, 0);
    const auto top_host = to_host(top);
    for (std::int64_t i = 0; i < kTop; ++i) {
      const auto c = static_cast<std::size_t>(top_host.data_ptr<std::int64_t>()[i]);
      bound[c] = exact.data_ptr<float>()[i];
      seen[c] = num_labeled;
    }
  }

  // The candidates that have not met the whole labeled block, largest initial bound first:
  // when one of them must meet it, the next ones in this order meet it in the same matmul.
  // Reading the block costs as much for 3 rows as for 64, and the next ones are the likeliest
  // to need it later.
  std::vector<std::int64_t> unmet;
  for (std::int64_t i = 0; i < n; ++i)
    if (seen[static_cast<std::size_t>(i)] < num_labeled) unmet.push_back(i);
  std::stable_sort(unmet.begin(), unmet.end(), [&bound](std::int64_t a, std::int64_t b) { return bound[a] > bound[b]; });
  std::size_t unmet_cursor = 0;

  // Max-heap of (bound when pushed, position): larger bound first, then lower position.
  // A candidate refreshed while inside the heap keeps its old, larger entry; when that entry
  // reaches the top it is pushed again with the current bound (a lazy decrease-key).
  struct Entry {
    float bound;
    std::int64_t i;
  };
  const auto lower_priority = [](const Entry& a, const Entry& b) {
    return a.bound < b.bound || (a.bound == b.bound && a.i > b.i);
  };
  std::vector<Entry> heap;
  heap.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    if (num_labeled > 0 || i != picked.front()) heap.push_back({bound[static_cast<std::size_t>(i)], i});
  std::make_heap(heap.begin(), heap.end(), lower_priority);
  const auto pop = [&] {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const auto e = heap.back();
    heap.pop_back();
    return e;
  };
  const auto push = [&](std::int64_t i) {
    heap.push_back({bound[static_cast<std::size_t>(i)], i});
    std::push_heap(heap.begin(), heap.end(), lower_priority);
  };

  constexpr std::int64_t kBatch = 64;
  // On CPU, a refresh of at most kLoopCells distances runs as plain dot products: a matmul's
  // fixed cost (dispatch, waking BLAS threads) is far more than these few.
  constexpr std::int64_t kLoopCells = 256;
  const bool on_cpu = cpu_fast_path(x);
  // CPU refresh buffers: the group's rows, and their products with a block of centres
  // (as many columns as the memory budget allows).
  const auto loop_block =
      std::max<std::int64_t>(1, memory_budget_bytes / static_cast<std::int64_t>(sizeof(float) * kBatch));
  const auto gathered = on_cpu ? torch::empty({kBatch, dim}, x.options()) : torch::Tensor();
  const auto product =
      on_cpu ? torch::empty({kBatch * std::min(loop_block, num_labeled + k)}, x.options()) : torch::Tensor();
  const float* xp = on_cpu ? x.data_ptr<float>() : nullptr;
  const float* xsqp = on_cpu ? x_sq.data_ptr<float>() : nullptr;
  const float* cp = on_cpu ? centres.data_ptr<float>() : nullptr;
  const float* csqp = on_cpu ? centre_sq.data_ptr<float>() : nullptr;

  // Lower bound[i] for every i in `group` (at most kBatch) by the centres [from, num_centres).
  const auto refresh = [&](const std::vector<std::int64_t>& group, std::int64_t from) {
    const auto rows = static_cast<std::int64_t>(group.size());
    const auto cols = num_centres - from;
    if (on_cpu && rows * cols <= kLoopCells) {
      for (const auto i : group) {
        float best = bound[static_cast<std::size_t>(i)];
        for (std::int64_t c = from; c < num_centres; ++c)
          best = std::min(best, std::max(0.0f, (csqp[c] - 2 * dot(xp + i * dim, cp + c * dim, dim)) + xsqp[i]));
        bound[static_cast<std::size_t>(i)] = best;
      }
    } else if (on_cpu) {
      float* gp = gathered.data_ptr<float>();
      for (std::int64_t r = 0; r < rows; ++r)
        std::copy_n(xp + group[static_cast<std::size_t>(r)] * dim, dim, gp + r * dim);
      const auto xg = gathered.narrow(0, 0, rows);
      for (std::int64_t c = from; c < num_centres; c += loop_block) {
        const auto nc = std::min(loop_block, num_centres - c);
        auto prod = product.narrow(0, 0, rows * nc).view({rows, nc});
        torch::mm_out(prod, xg, centres.narrow(0, c, nc).t());
        const float* pp = prod.data_ptr<float>();
        for (std::int64_t r = 0; r < rows; ++r) {
          auto& b = bound[static_cast<std::size_t>(group[static_cast<std::size_t>(r)])];
          b = fold_row(pp + r * nc, csqp + c, nc, xsqp[group[static_cast<std::size_t>(r)]], b, nullptr, 0);
        }
      }
    } else {
      const auto idx = on_device(group);
      const auto fresh = to_host(min_sq_distance(x.index_select(0, idx), x_sq.index_select(0, idx), centres, centre_sq,
                                                 from, num_centres, memory_budget_bytes));
      const float* f = fresh.data_ptr<float>();
      for (std::size_t r = 0; r < group.size(); ++r)
        bound[static_cast<std::size_t>(group[r])] = std::min(bound[static_cast<std::size_t>(group[r])], f[r]);
    }
    for (const auto i : group) seen[static_cast<std::size_t>(i)] = num_centres;
  };

  std::vector<std::int64_t> batch, group;
  std::vector<char> in_batch(static_cast<std::size_t>(n), 0);
  while (static_cast<std::int64_t>(picked.size()) < k) {
    const auto top = heap.front();
    if (top.bound != bound[static_cast<std::size_t>(top.i)]) {  // refreshed since it was pushed
      pop();
      push(top.i);
      continue;
    }
    if (seen[static_cast<std::size_t>(top.i)] == num_centres) {
      pop();
      add_centre(top.i);
      continue;
    }
    // Bring the stale candidates at the top up to date, a batch at a time.
    batch.clear();
    while (!heap.empty() && static_cast<std::int64_t>(batch.size()) < kBatch) {
      const auto e = heap.front();
      if (e.bound != bound[static_cast<std::size_t>(e.i)]) {
        pop();
        push(e.i);
        continue;
      }
      if (seen[static_cast<std::size_t>(e.i)] == num_centres) break;
      batch.push_back(pop().i);
    }
    // Groups by the centre they start from: those that have not met the whole labeled block
    // (joined by the next unmet candidates, up to kBatch rows: one read of the block), then
    // the rest, which meet the few newest picks from the earliest one any of them misses
    // (re-meeting a centre is harmless: min is idempotent).
    std::sort(batch.begin(), batch.end(), [&seen](std::int64_t a, std::int64_t b) { return seen[a] < seen[b]; });
    const auto group_of = [&](std::int64_t i) { return std::min(seen[static_cast<std::size_t>(i)], num_labeled); };
    for (std::size_t g0 = 0; g0 < batch.size();) {
      std::size_t g1 = g0;
      while (g1 < batch.size() && group_of(batch[g1]) == group_of(batch[g0])) ++g1;
      group.assign(batch.begin() + static_cast<std::ptrdiff_t>(g0), batch.begin() + static_cast<std::ptrdiff_t>(g1));
      const auto from = seen[static_cast<std::size_t>(batch[g0])];
      if (from < num_labeled) {
        for (const auto i : group) in_batch[static_cast<std::size_t>(i)] = 1;
        while (unmet_cursor < unmet.size() && seen[static_cast<std::size_t>(unmet[unmet_cursor])] >= num_labeled)
          ++unmet_cursor;
        for (auto u = unmet_cursor; u < unmet.size() && static_cast<std::int64_t>(group.size()) < kBatch; ++u) {
          const auto i = unmet[u];
          if (seen[static_cast<std::size_t>(i)] == from && !in_batch[static_cast<std::size_t>(i)]) {
            group.push_back(i);
          }
        }
        for (std::size_t r = 0; r < g1 - g0; ++r) in_batch[static_cast<std::size_t>(batch[g0 + r])] = 0;
      }
      refresh(group, from);
      g0 = g1;
    }
    // The batch left the heap and goes back with its new bounds; the extra rows never left it.
    for (const auto i : batch) push(i);
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
  const bool on_cpu = cpu_fast_path(probabilities);
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
