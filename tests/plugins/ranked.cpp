// A well-behaved strategy whose answer depends on a parameter, so one pipeline can list it
// twice with different parameters and the tests can tell from the queries which entry ran
// (the in-tree strategies have no parameter that changes what they pick).
#include <quarry/quarry.hpp>

namespace {

/// method: most_uncertain | most_confident (by predictive entropy among the candidates)
class Ranked : public quarry::Strategy {
 public:
  explicit Ranked(const quarry::Params& p) : confident_(p.get_string("method") == "most_confident") {}
  std::vector<std::int64_t> query(quarry::QueryContext& ctx) override {
    const auto& candidates = ctx.candidates();
    const torch::Tensor p = ctx.probabilities(candidates).to(torch::kFloat);
    const torch::Tensor entropy = -(p * torch::log(p.clamp_min(1e-30))).sum(1);
    return quarry::top_k(confident_ ? -entropy : entropy, candidates, ctx.query_size());
  }

 private:
  bool confident_;
};

}  // namespace

QUARRY_PLUGIN("ranked", "0.0.1") {
  registrar.strategy<Ranked>("ranked", "Top-k candidates by entropy, either end (tests only)",
                             {quarry::param_string("method", "most_uncertain", "which end of the entropy ranking",
                                                   {"most_uncertain", "most_confident"})});
}
