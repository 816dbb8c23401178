// The strategy plugins, loaded through the real host and driven by a QueryContext that
// serves fixed probability and feature tensors for the pool.
#include "testing.hpp"

#include <set>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "quarry/selection.hpp"
#include "paths.hpp"

namespace test_strategies {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::plugin_dir;

namespace {

struct QuietLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string&) override {}
};

/// A pool whose "model" outputs are fixed tensors, one row per pool index.
class FixedContext : public QueryContext {
 public:
  FixedContext(torch::Tensor probabilities, torch::Tensor features, std::vector<std::int64_t> labeled,
               std::int64_t query_size, std::uint64_t seed)
      : probabilities_(std::move(probabilities)), features_(std::move(features)), labeled_(std::move(labeled)),
        query_size_(query_size), rng_(seed) {
    std::set<std::int64_t> l(labeled_.begin(), labeled_.end());
    for (std::int64_t i = 0; i < pool_size(); ++i)
      if (!l.count(i)) unlabeled_.push_back(i);
    candidates_ = unlabeled_;
  }
  std::int64_t pool_size() const { return features_.defined() ? features_.size(0) : probabilities_.size(0); }
  void set_candidates(std::vector<std::int64_t> c) { candidates_ = std::move(c); }

  const std::vector<std::int64_t>& labeled() const override { return labeled_; }
  const std::vector<std::int64_t>& unlabeled() const override { return unlabeled_; }
  const std::vector<std::int64_t>& candidates() const override { return candidates_; }
  std::int64_t query_size() const override { return query_size_; }
  std::int64_t num_classes() const override { return probabilities_.defined() ? probabilities_.size(1) : 0; }
  torch::Device device() const override { return torch::kCPU; }
  std::int64_t memory_budget_bytes() const override { return std::int64_t{256} << 20; }
  std::mt19937_64& rng() override { return rng_; }
  Logger& log() override { return log_; }
  Predictions predict(const std::vector<std::int64_t>& indices, bool probabilities, bool features) override {
    ++predict_calls;
    const auto idx = torch::tensor(indices, torch::kLong);
    Predictions out;
    if (probabilities) out.probabilities = probabilities_.index_select(0, idx);
    if (features) out.features = features_.index_select(0, idx);
    return out;
  }
  int predict_calls = 0;

 private:
  torch::Tensor probabilities_, features_;
  std::vector<std::int64_t> labeled_, unlabeled_, candidates_;
  std::int64_t query_size_;
  std::mt19937_64 rng_;
  QuietLogger log_;
};

struct Plugins {
  QuietLogger log;
  PluginHost host{log};
  Plugins() { host.load_directory(plugin_dir()); }
  std::shared_ptr<Strategy> make(const std::string& name, Params p = Params("strategy")) {
    return host.make_strategy(name, std::move(p));
  }
};

bool valid_query(const std::vector<std::int64_t>& picked, const QueryContext& ctx, const std::vector<std::int64_t>& from) {
  std::set<std::int64_t> s(picked.begin(), picked.end());
  std::set<std::int64_t> allowed(from.begin(), from.end());
  for (auto i : picked)
    if (!allowed.count(i)) return false;
  return s.size() == picked.size() &&
         static_cast<std::int64_t>(picked.size()) == std::min<std::int64_t>(ctx.query_size(), from.size());
}

}  // namespace

TEST_CASE("uncertainty strategies pick the known items on handcrafted probabilities") {
  Plugins plugins;
  // Pool index: 0 confident, 1 uniform (max entropy, lowest max), 2 two-way tie (smallest margin),
  // 3 mildly unsure, 4 labeled (never returned).
  const auto p = torch::tensor({0.98f, 0.01f, 0.01f,  //
                                0.34f, 0.33f, 0.33f,  //
                                0.50f, 0.50f, 0.00f,  //
                                0.70f, 0.20f, 0.10f,  //
                                0.34f, 0.33f, 0.33f})
                     .reshape({5, 3});
  auto run = [&](const std::string& name, std::int64_t k) {
    FixedContext ctx(p, torch::Tensor(), {4}, k, 1);
    return plugins.make(name)->query(ctx);
  };
  CHECK(run("entropy", 1) == std::vector<std::int64_t>{1});
  CHECK(run("entropy", 3) == std::vector<std::int64_t>{1, 3, 2});
  CHECK(run("margin", 2) == std::vector<std::int64_t>{2, 1});
  CHECK(run("least_confidence", 2) == std::vector<std::int64_t>{1, 2});
  CHECK(run("least_confidence", 10).size() == 4);  // k > candidates: all of them

  // Only the candidate subset is scored.
  FixedContext ctx(p, torch::Tensor(), {4}, 1, 1);
  ctx.set_candidates({0, 3});
  CHECK(plugins.make("entropy")->query(ctx) == std::vector<std::int64_t>{3});
}

TEST_CASE("random is deterministic for a seed and draws from the whole unlabeled pool") {
  Plugins plugins;
  const auto f = torch::zeros({200, 2});
  std::vector<std::int64_t> labeled{0, 5, 9};
  auto draw = [&](std::uint64_t seed) {
    FixedContext ctx(torch::Tensor(), f, labeled, 50, seed);
    ctx.set_candidates({1, 2, 3});  // ignored: random uses the whole pool
    auto out = plugins.make("random")->query(ctx);
    CHECK(valid_query(out, ctx, ctx.unlabeled()));
    CHECK(ctx.predict_calls == 0);
    return out;
  };
  const auto a = draw(7);
  CHECK(a == draw(7));
  CHECK(a != draw(8));
  CHECK(*std::max_element(a.begin(), a.end()) > 3);
  // Over many seeds every unlabeled index shows up and no labeled one does.
  std::set<std::int64_t> seen;
  for (std::uint64_t s = 0; s < 40; ++s)
    for (auto i : draw(s)) seen.insert(i);
  CHECK(seen.size() == 197);
  // Query larger than the pool: the whole pool.
  FixedContext small(torch::Tensor(), torch::zeros({4, 2}), {0}, 10, 1);
  auto all = plugins.make("random")->query(small);
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::int64_t>{1, 2, 3});
}

TEST_CASE("coreset and badge plugins return what their kernels pick, mapped to pool indices") {
  Plugins plugins;
  auto gen = at::detail::createCPUGenerator(5);
  const auto feats = torch::relu(at::randn({120, 16}, gen, torch::kFloat));
  const auto probs = torch::softmax(at::randn({120, 10}, gen, torch::kFloat), 1);
  std::vector<std::int64_t> labeled{3, 50, 77, 100};
  std::vector<std::int64_t> candidates;
  for (std::int64_t i = 1; i < 120; i += 2) candidates.push_back(i);  // odd indices, none labeled
  const auto cand_idx = torch::tensor(candidates, torch::kLong);

  SUBCASE("coreset") {
    Params params("strategy 'coreset'");
    params.set("memory_mb", std::int64_t{1});
    FixedContext ctx(probs, feats, labeled, 10, 1);
    ctx.set_candidates(candidates);
    const auto out = plugins.make("coreset", params)->query(ctx);
    CHECK(valid_query(out, ctx, candidates));
    const auto pos = kcenter_greedy(feats.index_select(0, cand_idx),
                                    feats.index_select(0, torch::tensor(labeled, torch::kLong)), 10, 1 << 20);
    for (std::size_t i = 0; i < pos.size(); ++i) CHECK(out[i] == candidates[pos[i]]);
  }
  SUBCASE("coreset with nothing labeled") {
    FixedContext ctx(probs, feats, {}, 7, 1);
    const auto out = plugins.make("coreset")->query(ctx);
    CHECK(valid_query(out, ctx, ctx.candidates()));
  }
  SUBCASE("badge: one prediction pass, same picks as the kernel for the same seed") {
    FixedContext ctx(probs, feats, labeled, 10, 99);
    ctx.set_candidates(candidates);
    const auto out = plugins.make("badge")->query(ctx);
    CHECK(ctx.predict_calls == 1);
    CHECK(valid_query(out, ctx, candidates));
    std::mt19937_64 rng(99);
    const auto pos = badge_kmeanspp(probs.index_select(0, cand_idx), feats.index_select(0, cand_idx), 10, rng,
                                    std::int64_t{1} << 30);
    for (std::size_t i = 0; i < pos.size(); ++i) CHECK(out[i] == candidates[pos[i]]);
  }
  SUBCASE("query larger than the candidates returns them all") {
    for (const char* name : {"coreset", "badge", "entropy", "margin", "least_confidence"}) {
      FixedContext ctx(probs, feats, labeled, 500, 1);
      ctx.set_candidates(candidates);
      const auto out = plugins.make(name)->query(ctx);
      CAPTURE(name);
      CHECK(valid_query(out, ctx, candidates));
    }
  }
}

}  // namespace test_strategies
