// BAIT (Ash et al. 2021, "Gone Fishing: Neural Active Learning with Fisher Embeddings") and
// the fast likelihoods of "Fast Fishing" (Huseljic et al. 2024), on the last layer's Fisher.
//
// A point x with softmax p and penultimate features f (D) has the last-layer Fisher
//   I(x) = sum_r v_r v_r^T,  v_r = s_r (outer) f,
// a rank-r matrix of size P x P, P = C' D. The rows s_r (C') are its gradient factors:
//   cross_entropy, every class:   C' = C, r = C, s_y = sqrt(p_y) (e_y - p)
//                                 (so sum_y s_y s_y^T = diag(p) - p p^T, the exact Fisher)
//   cross_entropy, top_classes c: C' = C, r = c, the same rows for the c most likely classes
//                                 with sqrt(q_y), q = those probabilities renormalised
//   binary_cross_entropy:         C' = 1, P = D: the predicted class against the rest,
//                                 r = 2 rows sqrt(pmax)(1 - pmax) and -sqrt(1 - pmax) pmax
//                                 (top_classes = 1: the one row 1 - pmax)
//
// BAIT picks S (|S| = k) to minimise tr(M_S^{-1} F), with F the mean Fisher over candidates and
// labeled points and M_S = lambda I + L/(L+k) mean_{labeled} I(x) + k/(L+k) sum_{x in S} I(x):
// greedy forward steps (oversample * k of them, each adding the candidate with the largest
// decrease tr((I + V B V^T)^{-1} V G V^T), B = M^{-1}, G = B F B), then backward steps that
// remove the chosen point whose removal increases the trace least, until k remain.
//
// What is exact and what it costs: every step is a rank-r Woodbury update of B and G (P x P,
// O(P^2 r)) and of each candidate's r x r matrices V B V^T and V G V^T (one N x D by
// D x 2C'r product, O(N D C' r)); nothing of size N x P is ever formed. The set-up forms F and
// B and G once (O((N + L) P^2 + P^3)) and each candidate's V B V^T, V G V^T (O(N P^2)). Memory:
// three P x P matrices at the set-up's peak, then two, plus O(N r (r + C')). With C = 100 and
// D = 512, P = 51,200: one P x P float64 matrix is 21 GB, so the cross-entropy likelihoods do
// not fit a usual budget there; binary_cross_entropy (P = D) does. See bait_memory_bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace quarry {

enum class FisherLikelihood { CrossEntropy, BinaryCrossEntropy };

struct BaitOptions {
  FisherLikelihood likelihood = FisherLikelihood::CrossEntropy;
  /// 0: the expectation over every class (cross-entropy) or both outcomes (binary); c >= 1: the
  /// c most likely classes only (binary: 1 or 2). Ties between classes: the lower class index.
  std::int64_t top_classes = 0;
  double lambda = 1.0;      ///< ridge on M, > 0
  double oversample = 2.0;  ///< forward steps = min(N, ceil(oversample * k)), >= 1
  /// float64 (default) or float32 for the P x P matrices and every product.
  torch::ScalarType dtype = torch::kDouble;
};

/// Parse "cross_entropy" / "binary_cross_entropy"; an Error names the value otherwise.
FisherLikelihood parse_fisher_likelihood(const std::string& name);

/// The gradient factors s_r of every row of `probabilities` (N x C): N x r x C'.
torch::Tensor fisher_gradient_factors(const torch::Tensor& probabilities, const BaitOptions& options);

/// The bytes bait_select needs at its peak for these sizes (n candidates, l labeled).
std::int64_t bait_memory_bytes(std::int64_t n, std::int64_t l, std::int64_t num_classes, std::int64_t dim,
                               std::int64_t k, const BaitOptions& options);

/// BAIT selection; returns positions into the candidate rows, in the order they were added
/// (the forward order of the points that survive the backward steps). k >= N returns every
/// position 0..N-1. Ties (scores within 1e-9 relative in float64, 1e-5 in float32): the lowest
/// position forward, the earliest chosen backward.
///
/// probabilities N x C, features N x D of the candidates; labeled_* L x C, L x D (L may be 0);
/// float32 or float64, CPU or CUDA, all on one device. An Error names both numbers when
/// bait_memory_bytes exceeds memory_budget_bytes.
std::vector<std::int64_t> bait_select(const torch::Tensor& probabilities, const torch::Tensor& features,
                                      const torch::Tensor& labeled_probabilities,
                                      const torch::Tensor& labeled_features, std::int64_t k,
                                      const BaitOptions& options, std::int64_t memory_budget_bytes);

}  // namespace quarry
