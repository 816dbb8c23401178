// Power sampling on entropy scores (Kirsch et al. 2023, "Stochastic Batch
// Acquisition"): instead of the top-k entropies, which pick near-duplicates,
// draw k candidates without replacement with probability proportional to
// entropy^beta. Gumbel top-k does the draw in one pass: add Gumbel noise to
// beta * log(entropy) and keep the k largest.
#include <cmath>

#include <quarry/quarry.hpp>

namespace {

class PowerEntropy : public quarry::Strategy {
 public:
  explicit PowerEntropy(const quarry::Params& params) : beta_(params.get_float("beta")) {}

  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    // Softmax probabilities of the candidates, from the current model, on its device.
    auto p = ctx.probabilities(candidates).to(torch::kCPU, torch::kFloat64);
    auto entropy = -(p * p.clamp_min(1e-12).log()).sum(1);
    // Gumbel noise from the context's seeded generator, so a seed gives the same picks.
    std::vector<double> gumbel(candidates.size());
    for (auto& g : gumbel) {
      const double u = (static_cast<double>(ctx.rng()() >> 11) + 0.5) * 0x1.0p-53;
      g = -std::log(-std::log(u));
    }
    auto noise = torch::tensor(gumbel, torch::kFloat64);
    auto scores = beta_ * entropy.clamp_min(1e-12).log() + noise;
    ctx.log().debug("power_entropy: scored " + std::to_string(candidates.size()) + " candidates");
    return quarry::top_k(scores, candidates, ctx.query_size());
  }

 private:
  double beta_;
};

}  // namespace

QUARRY_PLUGIN("power-entropy", "1.0.0") {
  registrar.strategy<PowerEntropy>(
      "power_entropy", "Entropy power sampling: k draws with probability ~ entropy^beta (Kirsch et al. 2023)",
      {quarry::param_float("beta", 1.0, "sharpness: 0 = uniform, large = top-k entropy", 0.0, 1000.0)});
}
