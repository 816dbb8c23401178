// Clustering and neighbourhood kernels shared by the strategy plugins (TypiClust, ProbCover,
// DropQuery, ...), next to the selection kernels of quarry/selection.hpp.
//
// Every kernel takes float32 N x D rows on any device (CPU or CUDA) and does its heavy work
// there, in distance blocks of at most memory_budget_bytes; positions are row numbers into
// the input. Squared distances are ||x||^2 + ||y||^2 - 2 x.y (one matmul per block), clamped
// at 0, as in kcenter_greedy.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/types.h>

namespace quarry {

struct KMeansResult {
  torch::Tensor centres;                 ///< k x D float32, on the rows' device
  std::vector<std::int64_t> assignment;  ///< N: each row's nearest centre (ties: the lowest centre)
  std::vector<std::int64_t> seeds;       ///< the k-means++ seeds (positions), in draw order
  std::int64_t iterations = 0;           ///< Lloyd iterations run (0 when k = N)
};

/// k-means (Lloyd 1982) from a k-means++ start (Arthur & Vassilvitskii 2007), Euclidean.
///
/// Seeding: the first seed is uniform_index(rng, N); each next one is drawn with probability
/// proportional to the squared distance to its nearest seed so far (seeds have weight 0):
/// u = uniform01(rng), then the first position whose float64 cumulative sum exceeds u * total.
/// When every unchosen row coincides with a seed (total = 0) the draw is uniform among the
/// unchosen rows (uniform_index, then the r-th unchosen row). No greedy local trials
/// (scikit-learn's default draws 2 + log k candidates per seed and keeps the best).
///
/// Lloyd: assign every row to its nearest centre (ties: the lowest centre), move each centre to
/// the mean of its rows (summed in float64; a centre with no rows stays where it is), reassign;
/// stop when no row changes its centre, when the centres moved by at most tol x the mean
/// per-feature variance of the rows in total squared distance (scikit-learn's rule), or after
/// max_iter iterations. The assignment returned is always that of the centres returned.
///
/// k is clamped to [1, N]; k = N gives every row its own centre and no Lloyd iteration
/// (duplicate rows go to the earliest-drawn of their seeds). The rng is drawn from only in the
/// seeding: exactly one rng() call per seed.
KMeansResult kmeans(const torch::Tensor& rows, std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes,
                    std::int64_t max_iter = 300, double tol = 1e-4);

/// For each centre of `clusters` (a kmeans result on `rows`) that has rows, the row nearest to
/// it among its own, in centre order: the diversification step of DropQuery and AlfaMix.
/// Squared distances by differences, float32. Ties: a row replaces the best so far (scanning
/// positions upwards) only when it is nearer by more than a relative 1e-5, so rows at the same
/// distance up to rounding (the two rows of a 2-row cluster, symmetric about its centre) go to
/// the lower position on every device.
std::vector<std::int64_t> nearest_to_centres(const torch::Tensor& rows, const KMeansResult& clusters);

/// k positions of `rows` (N x D), diversified among the `flagged` ones (ascending positions),
/// as DropQuery (Gupte et al. 2024) and AlfaMix (Parvaneh et al. 2022) select:
///  - more than k flagged: kmeans of their L2-normalised rows into k clusters (max_iter 300),
///    then nearest_to_centres; should a cluster end empty, the missing picks are drawn
///    uniformly among the flagged rows not picked;
///  - at most k flagged: all of them (ascending), then uniform draws among the other rows.
/// Uniform draws: uniform_index(rng, rows left), the r-th left in ascending order.
std::vector<std::int64_t> diverse_subset(const torch::Tensor& rows, const std::vector<std::int64_t>& flagged,
                                         std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes);

/// The Euclidean distances of every row to its k nearest *other* rows, ascending: N x k
/// float32 on the rows' device. The neighbours are found with the matmul form; their distances
/// are then recomputed from the differences, so a duplicate row at another position counts at
/// exactly 0. Only distances are returned, so no tie-breaking is needed. k is clamped to N - 1.
torch::Tensor knn_distances(const torch::Tensor& rows, std::int64_t k, std::int64_t memory_budget_bytes);

/// The Euclidean distance of every row to its nearest row with another label (+inf when every
/// row has its label): ProbCover's purity radius, since the delta-ball around row i holds only
/// rows of its own label exactly when delta <= this distance. N float32 on the rows' device.
torch::Tensor distance_to_other_label(const torch::Tensor& rows, const std::vector<std::int64_t>& labels,
                                      std::int64_t memory_budget_bytes);

/// A graph in compressed sparse row form: row i's neighbours are
/// neighbours[offsets[i] .. offsets[i + 1]), ascending.
struct RadiusGraph {
  std::vector<std::int64_t> offsets;     ///< N + 1
  std::vector<std::int64_t> neighbours;  ///< every edge (i, j), i's row first
  std::int64_t size() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  std::int64_t degree(std::int64_t i) const { return offsets[i + 1] - offsets[i]; }
};

/// The delta-ball graph (ProbCover, Yehuda et al. 2022): an edge i -> j for every pair with
/// ||x_i - x_j||^2 < delta^2, the squared distance summed in float64 from the float32 rows (so the
/// graph does not depend on blocking, BLAS or device); symmetric, and every row is its own
/// neighbour (i -> i) for delta > 0. Only the blocks on and above the diagonal of the matmul form
/// are computed (each pair once); a pair whose matmul-form distance lies within its rounding bound
/// of delta^2 is recomputed exactly. Temporaries stay under memory_budget_bytes; the graph itself
/// is as large as it is (8 bytes per edge; 2 more per edge while it is built). At most 2^31 - 1 rows.
RadiusGraph radius_graph(const torch::Tensor& rows, double delta, std::int64_t memory_budget_bytes);

}  // namespace quarry
