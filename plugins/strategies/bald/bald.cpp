// BALD, Bayesian Active Learning by Disagreement (Houlsby et al. 2011, "Bayesian Active
// Learning for Classification and Preference Learning"; with Monte-Carlo dropout as the
// posterior: Gal, Islam & Ghahramani 2017, "Deep Bayesian Active Learning with Image Data").
//
// Computes, for every candidate x, the mutual information between its label and the weights,
// estimated from S = mc_samples stochastic passes p_s = p(y | x, w_s):
//   I(y; w | x) = H[ mean_s p_s ] - mean_s H[ p_s ],   H[p] = -sum_c p_c log p_c (0 log 0 = 0),
// on the CPU in one pass over the samples (float32 logs, float64 sums), and returns the k candidates with the largest I (ties: the lower candidate
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
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/Parallel.h>
#include <quarry/quarry.hpp>

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
  /// On the CPU one pass over the samples: per row, the mean and the entropies accumulate in
  /// float64 (logs of the float32 samples in float32, 0 log 0 = 0), rows in parallel; each row's
  /// score depends only on its own samples, so equal rows score equally wherever they sit.
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
    at::parallel_for(0, n, 64, [&](std::int64_t begin, std::int64_t end) {
      std::vector<double> mean(static_cast<std::size_t>(c));
      for (auto i = begin; i < end; ++i) {
        std::fill(mean.begin(), mean.end(), 0.0);
        double plogp = 0;
        for (std::int64_t t = 0; t < s; ++t) {
          const float* row = in + (t * n + i) * c;
          for (std::int64_t j = 0; j < c; ++j) {
            const float v = row[j];
            mean[static_cast<std::size_t>(j)] += v;
            if (v > 0) plogp += v * std::log(v);
            else if (v != 0) plogp += std::numeric_limits<double>::quiet_NaN();  // not a probability
          }
        }
        double mean_plogp = 0;
        for (std::int64_t j = 0; j < c; ++j) {
          const double m = mean[static_cast<std::size_t>(j)] / static_cast<double>(s);
          if (m > 0) mean_plogp += m * std::log(m);
        }
        o[i] = -mean_plogp + plogp / static_cast<double>(s);
      }
    });
    return out;
  }

 private:
  std::int64_t samples_, memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("bald", "1.0.0") {
  registrar.strategy<Bald>(
      "bald", "Mutual information of label and weights from Monte-Carlo dropout (Houlsby et al. 2011; Gal et al. 2017)",
      {quarry::param_int("mc_samples", 20, "stochastic forward passes (Monte-Carlo dropout samples)", 1, 10000),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
