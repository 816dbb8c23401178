// BatchBALD (Kirsch, van Amersfoort & Gal 2019, "BatchBALD: Efficient and Diverse Batch
// Acquisition for Deep Bayesian Active Learning").
//
// Greedy batch selection on the joint mutual information
//   a(B) = H(y_B) - sum_{i in B} E_w H(y_i | w),
// estimated from S = mc_samples Monte-Carlo dropout passes p_s(y | x). Each step adds the
// candidate n maximising a(B + n), i.e. H(y_B, y_n) - E_w H(y_n | w) (the rest is the same for
// every n; ties: the lower candidate position). Writing J[s, m] = prod_{i in B} p_s(y_i^m) for
// a configuration m of the batch's labels, p_m = mean_s J[s, m] and R[s, m] = J[s, m] / (S p_m),
//   H(y_B, y_n) = H(y_B) + sum_m v_m H(r_m),   r_m(y) = sum_s R[s, m] p_s(y | x_n),
// with v_m = p_m over all C^|B| configurations while C^|B| <= joint_samples (exact), else
// v_m = 1 / M over M = joint_samples configurations drawn from p(y_B) (sampled, as the paper):
// configuration m takes weight sample s = m mod S (M / S per sample) and then, for each batch
// member in pick order, a label by inverse CDF on p_s with u = uniform01(ctx.rng()) (draw order:
// m outer, member inner; the first label whose float64 cumulative probability exceeds u, the
// last label with mass if rounding leaves none). The configurations are drawn afresh after
// every pick once sampled. H(r_m) is a normalised conditional, so no product of 100 small
// probabilities is ever exponentiated: J is kept as float64 logs, R as float32.
//
// Parameters: mc_samples (20), joint_samples (M = 1,000), memory_mb (0 = the run's budget).
// Needs: Monte-Carlo samples. Cost per pick: M N C S multiply-adds (the conditionals r_m) and
// M N C logarithms (quarry::xlogx); on the CPU fused per candidate in registers, so nothing of
// size M x N x C is written; the S x N x C samples must fit.
//
// Against the reference toolbox (dal-toolbox's BatchBALDSampling, after Kirsch's
// batchbald_redux): the same estimator, but it draws only M = S configurations (one per
// weight sample), loops over the candidates in Python, and adds 1e-9 inside every log;
// batchbald_redux's examples use M = 10,000 on a GPU. M = 1,000 keeps k = 100 at N = 10,000
// practical on a CPU; raise joint_samples for a tighter estimate.
#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/Parallel.h>
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>
#include <quarry/xlogx.hpp>

namespace {

class BatchBald : public quarry::Strategy {
 public:
  explicit BatchBald(const quarry::Params& p)
      : samples_(p.get_int("mc_samples")), joint_(p.get_int("joint_samples")), memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto k = std::min<std::int64_t>(ctx.query_size(), n);
    if (k == n) return candidates;
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const auto num_classes = std::max<std::int64_t>(ctx.num_classes(), 1);
    const auto need = samples_ * n * num_classes * 4;
    if (need > budget)
      throw quarry::Error("batchbald: the " + std::to_string(samples_) + " x " + std::to_string(n) + " x " +
                          std::to_string(num_classes) + " Monte-Carlo probabilities need " + std::to_string(need) +
                          " bytes, the budget is " + std::to_string(budget) +
                          " (raise memory_mb or the run's memory budget, or lower al.candidate_subset)");
    const auto probs = ctx.predict_samples(candidates, samples_).to(torch::kFloat).contiguous();
    std::vector<std::int64_t> picked;
    for (auto pos : select(probs, k, ctx.rng(), budget)) picked.push_back(candidates[pos]);
    return picked;
  }

  /// Positions of the k picks into the S x N x C samples, in pick order.
  std::vector<std::int64_t> select(const torch::Tensor& probs, std::int64_t k, std::mt19937_64& rng,
                                   std::int64_t budget) const {
    torch::NoGradGuard no_grad;
    const auto s = probs.size(0), n = probs.size(1), c = probs.size(2);
    const auto flat = probs.view({s, n * c});
    const auto conditional = (-(probs * probs.clamp_min(1e-30).log()).sum(2).mean(0)).to(torch::kCPU, torch::kDouble);
    auto log_joint = torch::zeros({s, 1}, probs.options().dtype(torch::kDouble));  // the empty batch
    bool exact = true;
    std::vector<std::int64_t> picked;
    std::vector<char> taken(static_cast<std::size_t>(n), 0);
    while (true) {
      // R = J / (S p_m) column-wise; v_m = p_m (exact) or 1 / M (sampled).
      const auto log_p = log_joint.logsumexp(0) - std::log(static_cast<double>(s));
      const auto r = (log_joint - log_p).exp().div_(static_cast<double>(s)).to(torch::kFloat);  // S x M
      const auto v = (exact ? log_p.exp() : torch::full_like(log_p, 1.0 / static_cast<double>(log_p.size(0))))
                         .to(torch::kFloat);
      const auto m = r.size(1);
      const auto scores = (joint_entropies(r, v, flat, n, c, budget).to(torch::kCPU, torch::kDouble) - conditional);
      const double* sc = scores.data_ptr<double>();
      std::int64_t best = -1;
      for (std::int64_t i = 0; i < n; ++i)
        if (!taken[static_cast<std::size_t>(i)] && (best < 0 || sc[i] > sc[best])) best = i;
      picked.push_back(best);
      taken[static_cast<std::size_t>(best)] = 1;
      if (static_cast<std::int64_t>(picked.size()) == k) break;
      if (exact && static_cast<double>(m) * static_cast<double>(c) <= static_cast<double>(joint_)) {
        // Every configuration of the batch times every label of the new member: S x (M C).
        const auto log_new = probs.select(1, best).to(torch::kDouble).clamp_min(1e-300).log();  // S x C
        log_joint = (log_joint.unsqueeze(2) + log_new.unsqueeze(1)).reshape({s, m * c});
        continue;
      }
      exact = false;
      log_joint = draw_configurations(probs, picked, joint_, rng);
    }
    return picked;
  }

 private:
  /// sum_m v_m H(r_m) for every candidate, r_m = R^T p(. | x_n), float32 N. On the CPU one fused
  /// pass per candidate (joint_entropy_rows, candidates in parallel); elsewhere a chunk of
  /// candidates at a time through matrix products.
  static torch::Tensor joint_entropies(const torch::Tensor& r, const torch::Tensor& v, const torch::Tensor& flat,
                                       std::int64_t n, std::int64_t c, std::int64_t budget) {
    const auto s = r.size(0), m = r.size(1);
    auto out = torch::empty({n}, flat.options());
    if (flat.device().is_cpu()) {
      // Configurations padded to whole blocks with R = 0 and v = 0 (they add 0 log 0 = 0).
      const auto mp = (m + kBlock - 1) / kBlock * kBlock;
      auto rp = torch::zeros({s, mp}, torch::kFloat);
      rp.narrow(1, 0, m).copy_(r);
      auto vp = torch::zeros({mp}, torch::kFloat);
      vp.narrow(0, 0, m).copy_(v);
      const float *rd = rp.data_ptr<float>(), *vd = vp.data_ptr<float>(), *pd = flat.data_ptr<float>();
      float* od = out.data_ptr<float>();
      at::parallel_for(0, n, 8, [&](std::int64_t b, std::int64_t e) { joint_entropy_rows(rd, vd, pd, s, n, mp, c, b, e, od); });
      return out;
    }
    // Per candidate: the M x C conditional and its entropy terms, in chunks under the budget.
    const auto per_candidate = std::max<std::int64_t>(1, 2 * 4 * m * c);
    const auto chunk = std::clamp<std::int64_t>(budget / per_candidate, 1, n);
    const auto rt = r.t().contiguous();
    for (std::int64_t a = 0; a < n; a += chunk) {
      const auto len = std::min(chunk, n - a);
      const auto q = torch::mm(rt, flat.narrow(1, a * c, len * c)).view({m, len, c});  // r_m(y) per candidate
      const auto h = torch::xlogy(q, q).sum(2).neg_();                                 // M x len: H(r_m)
      out.narrow(0, a, len).copy_(torch::mv(h.t(), v));
    }
    return out;
  }

  static constexpr std::int64_t kBlock = 64;  ///< configurations per register block

  /// Candidates [begin, end) of the S x N x C samples p: for each, over blocks of kBlock
  /// configurations j, r_j(y) = sum_s R[s, j] p_s(y) accumulated in registers (float32, s in
  /// order), H_j = -sum_y r_j(y) log r_j(y) (quarry::xlogx), and sum_j v_j H_j in float64, with no
  /// M x C conditional ever written out. R is S x mp (mp a multiple of kBlock), v mp. Compiled
  /// for the widest vectors the CPU has (the same bits on each).
  QUARRY_VECTOR_CLONES static void joint_entropy_rows(const float* r, const float* v, const float* p, std::int64_t s,
                                                      std::int64_t n, std::int64_t mp, std::int64_t c,
                                                      std::int64_t begin, std::int64_t end, float* out) {
    for (std::int64_t i = begin; i < end; ++i) {
      double total = 0;
      for (std::int64_t jb = 0; jb < mp; jb += kBlock) {
        float h[kBlock] = {};
        for (std::int64_t y = 0; y < c; ++y) {
          float acc[kBlock] = {};
          for (std::int64_t t = 0; t < s; ++t) {
            const float w = p[(t * n + i) * c + y];
            const float* __restrict rt = r + t * mp + jb;
            for (std::int64_t j = 0; j < kBlock; ++j) acc[j] += rt[j] * w;
          }
          for (std::int64_t j = 0; j < kBlock; ++j) h[j] -= quarry::xlogx(acc[j]);
        }
        for (std::int64_t j = 0; j < kBlock; ++j) total += static_cast<double>(v[jb + j]) * static_cast<double>(h[j]);
      }
      out[i] = static_cast<float>(total);
    }
  }

  /// log J for M configurations of the picked batch drawn from p(y_B): S x M float64.
  static torch::Tensor draw_configurations(const torch::Tensor& probs, const std::vector<std::int64_t>& batch,
                                           std::int64_t m, std::mt19937_64& rng) {
    const auto batch_idx = torch::tensor(batch, torch::kLong).to(probs.device());
    const auto members = probs.index_select(1, batch_idx).to(torch::kDouble);  // S x b x C
    const auto host = members.to(torch::kCPU).contiguous();
    const auto s = host.size(0), b = host.size(1), c = host.size(2);
    const double* p = host.data_ptr<double>();
    std::vector<std::int64_t> labels(static_cast<std::size_t>(b * m));  // b x M
    for (std::int64_t j = 0; j < m; ++j) {
      const auto w = j % s;
      for (std::int64_t i = 0; i < b; ++i) {
        const double* row = p + (w * b + i) * c;
        const double u = quarry::uniform01(rng);
        double cum = 0;
        std::int64_t y = -1, last = 0;
        for (std::int64_t l = 0; l < c; ++l) {
          if (row[l] > 0) last = l;
          if ((cum += row[l]) > u) {
            y = l;
            break;
          }
        }
        labels[static_cast<std::size_t>(i * m + j)] = y < 0 ? last : y;
      }
    }
    const auto lp = members.clamp_min(1e-300).log();
    const auto y = torch::tensor(labels, torch::kLong).view({b, m}).to(probs.device());
    // log J[s, m] = sum_i log p_s(y_i^m | x_i)
    return lp.gather(2, y.unsqueeze(0).expand({s, b, m})).sum(1);
  }

  std::int64_t samples_, joint_, memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("batchbald", "1.0.0") {
  registrar.strategy<BatchBald>(
      "batchbald", "Greedy batch on the joint mutual information from Monte-Carlo dropout (Kirsch et al. 2019)",
      {quarry::param_int("mc_samples", 20, "stochastic forward passes (Monte-Carlo dropout samples)", 1, 10000),
       quarry::param_int("joint_samples", 1000,
                         "label configurations of the batch: exact while C^|B| is at most this, then sampled", 1),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
