// DropQuery (Gupte, Wang, Yoon, Choi, Kim & Sabuncu 2024, "Revisiting Active Learning in the
// Era of Vision Foundation Models").
//
// Computes: the current prediction y* = argmax classify(f) of every candidate from its
// penultimate feature f; then `iterations` (M) passes of the classifier head on dropped-out
// features f * m / (1 - p), m_d = 1 when u >= p; pass t draws one key = ctx.rng()() (in pass
// order) and candidate i's feature d takes u = quarry::stream_uniform01(key, i * D + d), so the
// M N D draws are made in parallel and do not depend on chunking or threads. A candidate is
// flagged when its prediction differs from y* in more than half of the passes. The k picks
// are quarry::diverse_subset of the flagged ones: k-means of their L2-normalised features into k clusters, the candidate nearest each centre;
// with at most k flagged, all of them and uniform draws among the others. Argmax ties: the
// lower class.
//
// Parameters as the paper: iterations (3), p (0.75), memory_mb (0 = the run's budget).
// Needs: features and the model's classifier head (Model::classify). Cost: one feature pass of
// the model, M head passes on N x D, M N D counter-based uniform draws (two threads
// fill them with the dropped features in one pass), then k-means of <= N rows into k.
//
// Against the reference toolbox (dal-toolbox DropQuery): it applies dropout to the *input
// images* and runs the whole network, where the paper drops features of a frozen encoder;
// Quarry drops the features, as the paper. It also lowers the mismatch threshold until 25 k
// candidates are flagged (the paper keeps the majority rule, as here), and its cluster step
// assigns each point to its *farthest* centre (torch.max over KMeans.transform), which picks
// near-arbitrary points; Quarry assigns to the nearest.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <ATen/Parallel.h>

#include <quarry/clustering.hpp>
#include <quarry/quarry.hpp>
#include <quarry/selection.hpp>
#include <quarry/vector_clones.hpp>

namespace {

// out[e] = (src ? src[e] : 1) * (u_e >= p ? scale : 0) for the draws e = first .. first + len - 1
// (u_e = quarry::stream_uniform01(key, e)), compared on their integer bits: see stream_bits53.
QUARRY_VECTOR_CLONES void fill_dropped(const float* src, float* out, std::int64_t len, std::uint64_t key,
                                       std::uint64_t first, std::uint64_t threshold, float scale) {
  const auto mask = [&](std::int64_t e) {
    return quarry::stream_bits53(key, first + static_cast<std::uint64_t>(e)) >= threshold ? scale : 0.0f;
  };
  if (src)
    for (std::int64_t e = 0; e < len; ++e) out[e] = src[e] * mask(e);
  else
    for (std::int64_t e = 0; e < len; ++e) out[e] = mask(e);
}

class DropQuery : public quarry::Strategy {
 public:
  explicit DropQuery(const quarry::Params& p)
      : iterations_(p.get_int("iterations")), p_(p.get_float("p")), memory_mb_(p.get_int("memory_mb")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    torch::NoGradGuard no_grad;
    const auto& candidates = ctx.candidates();
    const auto n = static_cast<std::int64_t>(candidates.size());
    const auto k = std::min<std::int64_t>(ctx.query_size(), n);
    if (k == n) return candidates;
    const auto budget = memory_mb_ > 0 ? memory_mb_ << 20 : ctx.memory_budget_bytes();
    const auto f = ctx.features(candidates).to(torch::kFloat).contiguous();
    const auto dim = f.size(1);
    const auto y_star = ctx.classify(f).argmax(1);
    // Chunks of candidates whose masks (host and device copies) fit the budget.
    const auto chunk = std::clamp<std::int64_t>(budget / std::max<std::int64_t>(1, 3 * 4 * dim), 1, n);
    auto mismatches = torch::zeros({n}, torch::kLong);
    const float keep_scale = static_cast<float>(1.0 / (1.0 - p_));
    const bool on_cpu = f.device().is_cpu();
    const auto threshold = static_cast<std::uint64_t>(std::ceil(p_ * 0x1.0p53));
    // One buffer for every chunk and pass (a fresh one each time costs its page faults).
    auto buffer = torch::empty({chunk, dim}, torch::kFloat);
    for (std::int64_t pass = 0; pass < iterations_; ++pass) {
      const std::uint64_t key = ctx.rng()();
      for (std::int64_t a = 0; a < n; a += chunk) {
        const auto len = std::min(chunk, n - a);
        // On the CPU the dropped features themselves; elsewhere the mask, applied on the device.
        auto out = buffer.narrow(0, 0, len);
        const float* src = on_cpu ? f.data_ptr<float>() + a * dim : nullptr;
        float* o = out.data_ptr<float>();
        const auto first = static_cast<std::uint64_t>(a * dim);  // the chunk's first draw
        at::parallel_for(0, len * dim, 4096, [&](std::int64_t begin, std::int64_t end) {
          fill_dropped(src ? src + begin : nullptr, o + begin, end - begin, key, first + static_cast<std::uint64_t>(begin),
                       threshold, keep_scale);
        });
        const auto dropped = on_cpu ? out : f.narrow(0, a, len) * out.to(f.device());
        const auto y = ctx.classify(dropped).argmax(1);
        mismatches.narrow(0, a, len).add_((y != y_star.narrow(0, a, len)).to(torch::kCPU, torch::kLong));
      }
    }
    std::vector<std::int64_t> flagged;
    const auto* mm = mismatches.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i)
      if (2 * mm[i] > iterations_) flagged.push_back(i);
    ctx.log().debug("dropquery: " + std::to_string(flagged.size()) + " of " + std::to_string(n) + " candidates flagged");
    std::vector<std::int64_t> out;
    for (auto pos : quarry::diverse_subset(f, flagged, k, ctx.rng(), budget)) out.push_back(candidates[pos]);
    return out;
  }

 private:
  std::int64_t iterations_;
  double p_;
  std::int64_t memory_mb_;
};

}  // namespace

QUARRY_PLUGIN("dropquery", "1.0.0") {
  registrar.strategy<DropQuery>(
      "dropquery", "Candidates whose prediction changes under feature dropout, diversified by k-means (Gupte et al. 2024)",
      {quarry::param_int("iterations", 3, "dropout passes of the classifier head", 1, 1000),
       quarry::param_float("p", 0.75, "feature dropout probability", 0.0, 0.99),
       quarry::param_int("memory_mb", 0, "working memory limit in MiB; 0 = the run's budget", 0)});
}
