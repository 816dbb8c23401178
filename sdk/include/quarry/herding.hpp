// Kernel herding on penultimate features: MaxHerding (Bae et al. 2024, "Generalized Coverage
// for More Robust Low-Budget Active Learning") and its uncertainty-weighted form, Uncertainty
// Herding (Bae et al. 2025, "Uncertainty Herding: One Active Learning Method for All Label
// Budgets").
//
// Features are L2-normalised; k(x, y) = exp(-gamma ||x - y||^2). With m_x = max_{s in L u S}
// k(x, s) over the labeled points and those chosen so far (0 when there are none), each step
// adds the candidate c with the largest weighted gain in generalized coverage
//   w_c * sum_{x in candidates} max(k(x, c) - m_x, 0)
// (w = 1: MaxHerding; w = the candidate's uncertainty: Uncertainty Herding), then raises m.
//
// The gain is submodular (m only grows), so the picks are the textbook greedy's, computed
// lazily: one pass over the N x N kernel (in blocks under the memory budget, never stored)
// gives every gain; later steps re-evaluate only the candidates whose last gain (an upper
// bound, inflated by a rounding slack) could still reach the best, one kernel column each.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace quarry {

/// Rows scaled to unit Euclidean norm (rows of norm < 1e-12 are divided by 1e-12, as
/// torch.nn.functional.normalize does).
torch::Tensor l2_normalize_rows(const torch::Tensor& x);

/// The kernel width the Uncertainty Herding code uses: 1 / d^2 with d the smallest distance
/// between two different L2-normalised labeled rows; 1 when there are fewer than two rows or
/// d = 0. O(L^2 D), in blocks under memory_budget_bytes.
double herding_gamma_from_labeled(const torch::Tensor& labeled_features, std::int64_t memory_budget_bytes);

/// Greedy weighted generalized-coverage selection (above). candidates N x D, labeled L x D
/// (L may be 0), weights N (undefined: all 1, MaxHerding), same device, float32 or float64
/// (the computation's precision). Returns positions in the order chosen; k >= N returns every
/// position 0..N-1. Ties: gains within 1e-9 relative (float64; 1e-6 in float32) of the best
/// are equal, and the lowest position wins. An Error names both numbers when the normalised
/// features and one kernel column do not fit memory_budget_bytes.
std::vector<std::int64_t> kernel_herding(const torch::Tensor& candidates, const torch::Tensor& labeled,
                                         const torch::Tensor& weights, double gamma, std::int64_t k,
                                         std::int64_t memory_budget_bytes);

}  // namespace quarry
