// BALD, Bayesian Active Learning by Disagreement (Houlsby et al. 2011, "Bayesian Active
// Learning for Classification and Preference Learning"; with Monte-Carlo dropout as the
// posterior: Gal, Islam & Ghahramani 2017, "Deep Bayesian Active Learning with Image Data").
//
// Computes, for every candidate x, the mutual information between its label and the weights,
// estimated from S = mc_samples stochastic passes p_s = p(y | x, w_s):
//   I(y; w | x) = H[ mean_s p_s ] - mean_s H[ p_s ],   H[p] = -sum_c p_c log p_c (0 log 0 = 0),
// on the CPU in one vectorised pass over the samples (float32 sums over the samples, float64 over
// the classes), and returns the k candidates with the largest I (ties: the lower candidate
// position, i.e. the lower pool index). Parameters: mc_samples (20, as Gal et al. 2017),
// memory_mb (0 = the run's budget).
//
// Needs: Monte-Carlo samples (a model with dropout > 0; a model without is refused with an
// error naming the strategy and the model). Cost: S forward passes over the candidates, then
// O(S N C). The S x chunk x C samples are asked for a chunk of candidates at a time, so the
// working set stays under the memory budget.
//
// Against the reference toolbox (dal-toolbox, BALDSampling): the same score (entropy of the mean
// probability minus the mean entropy) over one materialised N x S x C tensor; Quarry asks for
// the samples a chunk of candidates at a time, so the S x N x C tensor never has to fit at once.
#include <algorithm>
#include <vector>

#include <ATen/Parallel.h>
#include <quarry/quarry.hpp>
#include <quarry/xlogx.hpp>

namespace {

class Bald : public quarry::Strategy {
 public:
  explicit Bald(const quarry::Params& p) : samples_(p.get_int("mc_samples")), memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    // Per candidate: S x C float32 samples and one temporary of their size.
    const auto per_row = samples_ * std::max<std::int64_t>(ctx.num_classes(), 1) * (4 + 4);
    const auto chunk = std::max<std::int64_t>(1, budget / per_row);
    auto scores = torch::empty({n}, torch::kFloat64);
    for (std::int64_t a = 0; a < n; a += chunk) {
      const auto len = std::min(chunk, n - a);
      const std::vector<std::int64_t> part(candidates.begin() + a, candidates.begin() + a + len);
      const auto p = ctx.predict_samples(part, samples_).to(torch::kFloat);  // S x len x C
      scores.narrow(0, a, len).copy_(mutual_information(p).to(torch::kCPU));
    }
    return quarry::top_k(scores, candidates, ctx.query_size());
  }

  /// H[mean_s p_s] - mean_s H[p_s] for each row of an S x N x C tensor (N float64).
  /// On the CPU one pass over the samples, a block of candidates at a time (rows in parallel):
  /// per element, float32 sums over the samples of p and of p log p (quarry::xlogx, vectorised);
  /// per candidate, float64 sums over the classes. Every element is treated alike, so equal
  /// candidates score equally wherever they sit.
  static torch::Tensor mutual_information(const torch::Tensor& p_in) {
    if (!p_in.device().is_cpu()) {
      const auto entropy = [](const torch::Tensor& q) { return -torch::xlogy(q, q).sum(-1); };
      return (entropy(p_in.mean(0)) - entropy(p_in).mean(0)).to(torch::kFloat64);
    }
    const auto p = p_in.contiguous();
    const auto s = p.size(0), n = p.size(1), c = p.size(2);
    auto out = torch::empty({n}, torch::kFloat64);
    const float* in = p.data_ptr<float>();
    double* o = out.data_ptr<double>();
    // Candidates per block: about 4,096 floats per buffer (three buffers stay in L1/L2).
    const auto block = std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(c, 1));
    const auto blocks = (n + block - 1) / block;
    at::parallel_for(0, blocks, 1, [&](std::int64_t begin, std::int64_t end) {
      std::vector<float> mean(static_cast<std::size_t>(block * c)), plogp(mean.size());
      for (auto b = begin; b < end; ++b) {
        const auto a = b * block;
        block_information(in, s, n, c, a, std::min(block, n - a), mean.data(), plogp.data(), o + a);
      }
    });
    return out;
  }

 private:
  /// Candidates a .. a + len - 1 of the S x N x C samples `in`: float32 sums over the samples of
  /// p and p log p per cell (in mp and lp, len x C each), then per candidate float64 sums over
  /// the classes into o[0 .. len). Compiled for the widest vectors the CPU has (the same bits).
  QUARRY_VECTOR_CLONES static void block_information(const float* in, std::int64_t s, std::int64_t n,
                                                     std::int64_t c, std::int64_t a, std::int64_t len,
                                                     float* __restrict mp, float* __restrict lp, double* o) {
    const auto cells = len * c;
    const auto inv_s = 1.0f / static_cast<float>(s);
    std::fill(mp, mp + cells, 0.0f);
    std::fill(lp, lp + cells, 0.0f);
    for (std::int64_t t = 0; t < s; ++t) {
      const float* __restrict slab = in + (t * n + a) * c;
      for (std::int64_t e = 0; e < cells; ++e) {
        mp[e] += slab[e];
        lp[e] += quarry::xlogx(slab[e]);
      }
    }
    for (std::int64_t e = 0; e < cells; ++e) mp[e] = quarry::xlogx(mp[e] * inv_s);
    for (std::int64_t i = 0; i < len; ++i) {
      double h_mean = 0, mean_h = 0;
      for (std::int64_t j = 0; j < c; ++j) {
        h_mean -= mp[i * c + j];
        mean_h -= lp[i * c + j];
      }
      o[i] = h_mean - mean_h / static_cast<double>(s);
    }
  }

  std::int64_t samples_, memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("bald", "1.0.0") {
  registrar.strategy<Bald>(
      "bald", "Mutual information of label and weights from Monte-Carlo dropout (Houlsby et al. 2011; Gal et al. 2017)",
      {quarry::param_int("mc_samples", 20, "stochastic forward passes (Monte-Carlo dropout samples)", 1, 10000),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
