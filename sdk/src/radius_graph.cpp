// quarry::radius_graph (quarry/clustering.hpp): the delta-ball graph as a symmetric CSR, from
// blocked matmul-form distances on and above the diagonal, pairs near delta decided in float64.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "quarry/clustering.hpp"
#include "quarry/error.hpp"
#include "clustering_internal.hpp"

namespace quarry {

using sdk_detail::check_budget;
using sdk_detail::check_rows;
using sdk_detail::ClusterBlocks;
using sdk_detail::sq_norms;

namespace {

// The exact test of radius_graph: the squared distance summed in float64 from the float32 rows.
double exact_sq_distance(const float* a, const float* b, std::int64_t dim) {
  double s = 0;
  for (std::int64_t d = 0; d < dim; ++d) {
    const double e = static_cast<double>(a[d]) - static_cast<double>(b[d]);
    s += e * e;
  }
  return s;
}

// The upper edges (j > i) of rows [r, r + nr) against columns [c, c + nc), from the block of
// matmul-form squared distances `d` (nr x nc, on the CPU): per row its count, then the columns
// in row order, ascending. A cell within `tol` x (||x_i||^2 + ||x_j||^2) of delta^2, where the
// matmul form's rounding could decide, is recomputed exactly.
struct EdgePiece {
  std::vector<std::int64_t> count;  // nr
  std::vector<std::int32_t> cols;
};

EdgePiece upper_edges(const torch::Tensor& d, const float* x, const float* x_sq, std::int64_t dim, std::int64_t r,
                      std::int64_t nr, std::int64_t c, std::int64_t nc, double limit, double tol) {
  constexpr std::int64_t kChunk = 16;  // rows per task
  const auto chunks = (nr + kChunk - 1) / kChunk;
  std::vector<std::vector<std::int32_t>> parts(static_cast<std::size_t>(chunks));
  EdgePiece piece;
  piece.count.assign(static_cast<std::size_t>(nr), 0);
  const float* dp = d.data_ptr<float>();
  // A per-row band from the largest squared norm: wider than the pair's own, never narrower.
  float max_sq = 0;
  for (std::int64_t j = c; j < c + nc; ++j) max_sq = std::max(max_sq, x_sq[j]);
  at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (auto q = begin; q < end; ++q) {
      auto& out = parts[static_cast<std::size_t>(q)];
      for (auto a = q * kChunk; a < std::min(nr, (q + 1) * kChunk); ++a) {
        const auto i = r + a;
        const float* row = dp + a * nc;
        const auto first = std::max(c, i + 1);
        const auto before = out.size();
        const double band = tol * (static_cast<double>(x_sq[i]) + max_sq);
        // Below `accept` an edge, at or above `reject` none, whatever the rounding; between, exact.
        auto accept = static_cast<float>(limit - band), reject = static_cast<float>(limit + band);
        if (static_cast<double>(accept) > limit - band) accept = std::nextafter(accept, -1.0f);
        if (static_cast<double>(reject) < limit + band) reject = std::nextafter(reject, 2 * reject + 1.0f);
        for (auto j = first; j < c + nc; ++j) {
          const float v = row[j - c];
          if (v >= reject) continue;
          if (v < accept || exact_sq_distance(x + i * dim, x + j * dim, dim) < limit)
            out.push_back(static_cast<std::int32_t>(j));
        }
        piece.count[static_cast<std::size_t>(a)] = static_cast<std::int64_t>(out.size() - before);
      }
    }
  });
  std::size_t total = 0;
  for (const auto& p : parts) total += p.size();
  piece.cols.reserve(total);
  for (const auto& p : parts) piece.cols.insert(piece.cols.end(), p.begin(), p.end());
  return piece;
}

}  // namespace

RadiusGraph radius_graph(const torch::Tensor& rows, double delta, std::int64_t memory_budget_bytes) {
  constexpr const char* who = "radius_graph";
  check_rows(rows, who);
  check_budget(memory_budget_bytes, who);
  if (!(delta > 0) || !std::isfinite(delta))
    throw Error(std::string(who) + ": delta must be a positive finite distance, got " + std::to_string(delta));
  const auto n = rows.size(0);
  if (n >= std::numeric_limits<std::int32_t>::max())
    throw Error(std::string(who) + ": " + std::to_string(n) + " rows, more than 2^31 - 1");
  torch::NoGradGuard no_grad;
  const auto x = rows.contiguous();
  const auto x_sq = sq_norms(x);
  const auto dim = x.size(1);
  // The exact recomputation reads the rows on the CPU.
  const auto host = x.to(torch::kCPU).contiguous();
  const auto host_sq = x_sq.to(torch::kCPU, torch::kFloat).contiguous();
  const double limit = delta * delta;
  // Rounding of the matmul form, ||x||^2 + ||y||^2 - 2 x.y in float32 with D terms: at most about
  // (2 D + 3) u (||x||^2 + ||y||^2) (u = 2^-24); twice that, as the band recomputed exactly.
  const double tol = (4.0 * static_cast<double>(dim) + 16.0) * std::ldexp(1.0, -24);
  // The matrix is symmetric: only blocks on and above the diagonal are computed, each pair once.
  // Blocks of at most 128 MiB: as fast as larger ones (the products stay large), less memory.
  const ClusterBlocks blk(n, n, std::min<std::int64_t>(memory_budget_bytes, std::int64_t{128} << 20), x.is_cuda() ? 2 : 1);
  std::vector<std::int64_t> upper_count(static_cast<std::size_t>(n), 0);
  std::vector<std::int32_t> upper;  // the j > i of every row i, in (i, j) order
  for (std::int64_t r = 0; r < n; r += blk.rows) {
    const auto nr = std::min(blk.rows, n - r);
    std::vector<EdgePiece> pieces;  // per column block, ascending columns
    for (std::int64_t c = r; c < n; c += blk.cols) {
      const auto nc = std::min(blk.cols, n - c);
      auto d = torch::addmm(x_sq.narrow(0, c, nc).unsqueeze(0), x.narrow(0, r, nr), x.narrow(0, c, nc).t(), 1, -2)
                   .add_(x_sq.narrow(0, r, nr).unsqueeze(1));
      if (!d.device().is_cpu()) d = d.to(torch::kCPU);
      pieces.push_back(upper_edges(d.contiguous(), host.data_ptr<float>(), host_sq.data_ptr<float>(), dim, r, nr, c,
                                   nc, limit, tol));
    }
    // Merge the column blocks row by row.
    std::vector<std::size_t> cursor(pieces.size(), 0);
    for (std::int64_t a = 0; a < nr; ++a) {
      std::int64_t count = 0;
      for (std::size_t b = 0; b < pieces.size(); ++b) {
        const auto len = pieces[b].count[static_cast<std::size_t>(a)];
        const auto from = pieces[b].cols.begin() + static_cast<std::ptrdiff_t>(cursor[b]);
        upper.insert(upper.end(), from, from + len);
        cursor[b] += static_cast<std::size_t>(len);
        count += len;
      }
      upper_count[static_cast<std::size_t>(r + a)] = count;
    }
  }
  // CSR of the symmetric graph: row m holds its lower neighbours (i < m, written while row i is
  // visited, so ascending), itself, then its upper neighbours (ascending).
  std::vector<std::int64_t> degree(static_cast<std::size_t>(n), 1);
  for (std::int64_t i = 0; i < n; ++i) degree[static_cast<std::size_t>(i)] += upper_count[static_cast<std::size_t>(i)];
  for (const auto j : upper) ++degree[static_cast<std::size_t>(j)];
  RadiusGraph g;
  g.offsets.assign(static_cast<std::size_t>(n) + 1, 0);
  for (std::int64_t i = 0; i < n; ++i)
    g.offsets[static_cast<std::size_t>(i) + 1] = g.offsets[static_cast<std::size_t>(i)] + degree[static_cast<std::size_t>(i)];
  g.neighbours.resize(static_cast<std::size_t>(g.offsets.back()));
  std::vector<std::int64_t>& pos = degree;  // reused: each row's write cursor
  std::copy(g.offsets.begin(), g.offsets.end() - 1, pos.begin());
  std::int64_t* nb = g.neighbours.data();
  std::size_t e = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    auto& pi = pos[static_cast<std::size_t>(i)];
    nb[pi++] = i;
    const auto end = e + static_cast<std::size_t>(upper_count[static_cast<std::size_t>(i)]);
    for (; e < end; ++e) {
      const auto j = upper[e];
      nb[pi++] = j;
      nb[pos[static_cast<std::size_t>(j)]++] = i;
    }
  }
  return g;
}

}  // namespace quarry
