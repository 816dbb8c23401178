// Selection kernels shared by the strategy plugins, the tests and the benchmark.
//
// Both kernels take float32 tensors on any device (CPU or CUDA) and do their
// heavy work there; they return positions (row numbers) into the candidate
// tensors, in the order they were chosen. Map them through the candidate list.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/types.h>

namespace quarry {

/// A uniform double in [0, 1) from the top 53 bits of one rng() call. A fixed
/// formula, so draws are identical across standard libraries (std::uniform_real_distribution
/// is not specified bit for bit).
double uniform01(std::mt19937_64& rng);
/// A uniform integer in [0, n) from one rng() call: floor(uniform01 * n). n >= 1.
std::int64_t uniform_index(std::mt19937_64& rng, std::int64_t n);

/// The 53 random bits of draw i of the stream named by `key`: the top 53 bits of the
/// (i + 1)-th output of SplitMix64 (Steele, Lea & Flood 2014) started from state `key`, i.e. its
/// mixing function of key + (i + 1) * 0x9e3779b97f4a7c15. Every draw stands on its own, so a
/// kernel that needs millions of them (DropQuery's dropout masks) fills them in parallel, in any
/// order and on any thread, and gets the same bits as a loop over i. Take the key from the
/// query's generator (one rng() call), so the stream is seeded from the config like any draw.
inline std::uint64_t stream_bits53(std::uint64_t key, std::uint64_t i) {
  std::uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z >> 11;
}
/// stream_bits53(key, i) * 2^-53: uniform on [0, 1). u >= p exactly when the bits are >=
/// ceil(p * 2^53), an integer comparison a loop over millions of draws vectorises.
inline double stream_uniform01(std::uint64_t key, std::uint64_t i) {
  return static_cast<double>(stream_bits53(key, i)) * 0x1.0p-53;
}

/// Greedy k-center, Core-Set (Sener & Savarese 2018), Euclidean distance.
///
/// The labeled rows are the initial centres; each step takes the candidate farthest
/// from its nearest centre (ties: lowest position) and makes it a centre. With no
/// labeled rows the first pick is the candidate with the largest norm. k >= N returns
/// every position 0..N-1.
///
/// The result is exactly that of the textbook algorithm (full N x L distance matrix,
/// then one N x D update per step), computed lazily: a candidate's distance to its
/// nearest centre is kept as an upper bound (the minimum over the centres it has been
/// compared with so far) and only brought up to date while it could be the farthest
/// point. Squared distances use ||x||^2 + ||c||^2 - 2 x.c (matmul), clamped at 0;
/// every temporary distance block stays under memory_budget_bytes.
///
/// candidates: N x D, labeled: L x D (L may be 0), same device and dtype float32.
std::vector<std::int64_t> kcenter_greedy(const torch::Tensor& candidates, const torch::Tensor& labeled,
                                         std::int64_t k, std::int64_t memory_budget_bytes);

/// BADGE's gradient embedding (Ash et al. 2020), g_i = (onehot(argmax p_i) - p_i) (outer) f_i,
/// held in factorised form: with a_i = onehot - p_i,
///   <g_i, g_j> = <a_i, a_j> <f_i, f_j>,  ||g_i||^2 = ||a_i||^2 ||f_i||^2,
/// so the C x D vectors never exist. Memory: O(N (C + D)).
class GradientEmbedding {
 public:
  /// probabilities: N x C softmax, features: N x D; float32, same device.
  GradientEmbedding(const torch::Tensor& probabilities, const torch::Tensor& features);

  std::int64_t size() const { return a_.size(0); }
  /// ||g_i||^2, N (float32).
  const torch::Tensor& squared_norms() const { return sq_norms_; }
  /// ||g_i - g_j||^2 for every i, clamped at 0, written into `out` (N, float32).
  /// One N x C and one N x D matrix-vector product.
  void squared_distances_to(std::int64_t j, torch::Tensor& out);
  /// Fill a_dot() = <a_i, a_j> and f_dot() = <f_i, f_j> for every i (the two products above).
  void inner_products_with(std::int64_t j);
  const torch::Tensor& a_dot() const { return af_; }
  const torch::Tensor& f_dot() const { return ff_; }

 private:
  torch::Tensor a_;         // N x C, onehot(argmax p) - p
  torch::Tensor f_;         // N x D
  torch::Tensor sq_norms_;  // N
  torch::Tensor af_, ff_;   // N each: preallocated <a_i, a_j>, <f_i, f_j>
};

/// BADGE selection: k-means++ seeding on the gradient embedding, no Lloyd iterations.
///
/// First centre: the largest-norm embedding (ties: lowest position). Each next centre
/// is drawn with probability proportional to the squared distance to its nearest chosen
/// centre (a running minimum; chosen points have probability 0): u = uniform01(rng), then
/// the first position whose float64 cumulative sum exceeds u * total. If every remaining
/// distance is 0, the draw is uniform among the unchosen positions (uniform_index).
/// k >= N returns every position 0..N-1. Distances are float32, the sampling sums float64.
///
/// memory_budget_bytes is checked against the working set (a: N x C plus five N-vectors;
/// the features are used in place when already float32 and contiguous) and an Error names
/// both numbers when it does not fit.
std::vector<std::int64_t> badge_kmeanspp(const torch::Tensor& probabilities, const torch::Tensor& features,
                                         std::int64_t k, std::mt19937_64& rng, std::int64_t memory_budget_bytes);

}  // namespace quarry
