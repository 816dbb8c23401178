// Monte-Carlo predictions for the Bayesian strategies: QueryContext::predict_samples on the
// host (dropout active, batch norm in eval mode, seeded from the query's rng), the models'
// dropout parameters and stochastic(), and labeled_labels().
#include "testing.hpp"

#include <torch/torch.h>

#include "core/al/query_context.hpp"
#include "core/host/plugin_host.hpp"
#include "core/training/evaluation.hpp"
#include "core/training/experiment.hpp"
#include "fixed_context.hpp"
#include "paths.hpp"
#include "quarry/error.hpp"
#include "quarry/random.hpp"

namespace test_monte_carlo {  // one namespace per test file: they compile in unity batches

using namespace quarry;

namespace {

const PluginHost& host() {
  static quarry::testing::SilentLogger log;
  static PluginHost h = [] {
    PluginHost loaded(log);
    loaded.load_directory(quarry::testing::plugin_dir());
    return loaded;
  }();
  return h;
}

std::shared_ptr<Model> make_model(const std::string& name, double dropout, const ModelSpec& spec) {
  Params p("model '" + name + "'");
  if (dropout >= 0) p.set("dropout", dropout);
  if (name == "small_cnn") {
    p.set("width", std::int64_t{4});
    p.set("feature_dim", std::int64_t{16});
  }
  if (name == "wide_resnet") {
    p.set("depth", std::int64_t{10});
    p.set("widen", std::int64_t{1});
  }
  if (name == "resnet18") p.set("width", std::int64_t{4});
  return host().make_model(name, std::move(p), spec);
}

/// A 30-image, 4-class pool of 1 x 12 x 12 images and a small CNN.
Experiment experiment(double dropout) {
  Experiment e;
  auto gen = at::detail::createCPUGenerator(3);
  e.data.pool.images = at::randint(256, {30, 1, 12, 12}, gen, torch::kLong).to(torch::kUInt8);
  e.data.pool.labels = at::randint(4, {30}, gen, torch::kLong);
  e.data.pool_labels_cpu = e.data.pool.labels;
  e.data.mean = torch::full({1, 1, 1, 1}, 120.0f);
  e.data.std = torch::full({1, 1, 1, 1}, 70.0f);
  e.data.num_classes = 4;
  e.model = make_model("small_cnn", dropout, ModelSpec{1, 12, 12, 4});
  // Batch-norm statistics away from their initial 0/1, so eval and train mode differ.
  for (auto& b : e.model->named_buffers())
    if (b.key().find("running_mean") != std::string::npos) b.value().fill_(0.3);
  return e;
}

std::vector<std::int64_t> range(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

}  // namespace

TEST_CASE("predict_samples: dropout active, batch norm in eval mode, the same samples for the same seed") {
  auto e = experiment(0.5);
  TrainConfig cfg;
  cfg.predict_batch_size = 7;  // several batches
  quarry::testing::SilentLogger log;
  const auto idx = std::vector<std::int64_t>{1, 4, 9, 16, 25, 29, 3, 0, 2};
  auto run = [&](std::uint64_t seed) {
    HostQueryContext ctx(e, cfg, {0, 5}, range(30), range(30), 3, 1 << 20, seed, log, "bald", "small_cnn");
    return ctx.predict_samples(idx, 6);
  };
  std::vector<torch::Tensor> before;
  for (const auto& b : e.model->buffers()) before.push_back(b.clone());
  e.model->eval();
  const auto a = run(11);
  CHECK(a.sizes() == torch::IntArrayRef({6, 9, 4}));
  CHECK(torch::allclose(a.sum(2), torch::ones({6, 9}), 1e-5, 1e-5));
  CHECK(!torch::equal(a[0], a[1]));  // dropout drew different masks
  CHECK(torch::equal(a, run(11)));
  CHECK(!torch::equal(a, run(12)));
  CHECK(!e.model->is_training());  // the mode is given back
  e.model->train();
  CHECK(torch::equal(a, run(11)));  // whatever mode it was in
  CHECK(e.model->is_training());
  // Batch norm stayed in eval mode: its running statistics never moved.
  const auto after = e.model->buffers();
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
}

TEST_CASE("predict_samples without dropout are the eval-mode predictions, S times") {
  auto e = experiment(0.0);
  const auto idx = range(30);
  const auto samples = predict_samples(*e.model, e.data.pool, e.data.mean, e.data.std, idx, 3, 8, 5);
  const auto eval = predict(*e.model, e.data.pool, e.data.mean, e.data.std, idx, 8, false).probabilities;
  for (std::int64_t s = 0; s < 3; ++s) CHECK(torch::allclose(samples[s], eval, 1e-6, 1e-6));
}

TEST_CASE("a model without dropout asked for Monte-Carlo samples: an error naming the strategy and the model") {
  auto e = experiment(0.0);
  CHECK(!e.model->stochastic());
  TrainConfig cfg;
  quarry::testing::SilentLogger log;
  HostQueryContext ctx(e, cfg, {0, 5}, range(30), range(30), 3, 1 << 20, 1, log, "bald", "small_cnn");
  CHECK_THROWS_WITH_AS(ctx.predict_samples({1, 2}, 4),
                       doctest::Contains("strategy 'bald' needs Monte-Carlo samples but model 'small_cnn' has no dropout"),
                       Error);
  // Through the real plugin too.
  Params p("strategy 'bald'");
  const auto bald = host().make_strategy("bald", std::move(p));
  CHECK_THROWS_WITH_AS(bald->query(ctx), doctest::Contains("model 'small_cnn' has no dropout"), Error);
  auto stochastic = experiment(0.5);
  HostQueryContext ok(stochastic, cfg, {0, 5}, range(30), range(30), 3, 1 << 20, 1, log, "bald", "small_cnn");
  CHECK_THROWS_WITH_AS(ok.predict_samples({1, 99}, 4), doctest::Contains("pool index 99"), Error);
}

TEST_CASE("the host gives the labels of the labeled pool, in acquisition order") {
  auto e = experiment(0.0);
  TrainConfig cfg;
  quarry::testing::SilentLogger log;
  HostQueryContext ctx(e, cfg, {7, 2, 19}, range(30), range(30), 3, 1 << 20, 1, log);
  const auto l = e.data.pool.labels;
  CHECK(ctx.labeled_labels() == std::vector<std::int64_t>{l[7].item<std::int64_t>(), l[2].item<std::int64_t>(),
                                                          l[19].item<std::int64_t>()});
}

TEST_CASE("dropout parameters: small_cnn, resnet18 and wide_resnet are stochastic with dropout > 0") {
  const ModelSpec spec{3, 16, 16, 5};
  for (const char* name : {"small_cnn", "resnet18", "wide_resnet"}) {
    CAPTURE(name);
    CHECK(!make_model(name, -1, spec)->stochastic());  // default: no dropout
    auto m = make_model(name, 0.5, spec);
    CHECK(m->stochastic());
    const auto x = torch::randn({4, 3, 16, 16});
    m->eval();
    CHECK(torch::equal(m->forward(x).logits, m->forward(x).logits));
    {
      MonteCarloScope mc;
      CHECK(!torch::equal(m->forward(x).logits, m->forward(x).logits));
    }
    CHECK(torch::equal(m->forward(x).logits, m->forward(x).logits));  // the scope has ended
    CHECK_THROWS_WITH_AS(make_model(name, 1.0, spec), doctest::Contains("'dropout'"), Error);
  }
  CHECK(!make_model("vgg11_bn", -1, spec)->stochastic());
}

TEST_CASE("every vision model's classify(features) is its forward logits, and the host's context calls it") {
  const ModelSpec spec{3, 16, 16, 5};
  for (const char* name : {"small_cnn", "resnet18", "wide_resnet", "vgg11_bn"}) {
    CAPTURE(name);
    auto m = make_model(name, name == std::string("vgg11_bn") ? -1 : 0.5, spec);
    m->eval();
    const auto out = m->forward(torch::randn({3, 3, 16, 16}));
    CHECK(torch::allclose(m->classify(out.features), out.logits, 1e-5, 1e-5));
  }
  auto e = experiment(0.3);
  TrainConfig cfg;
  quarry::testing::SilentLogger log;
  HostQueryContext ctx(e, cfg, {0}, range(30), range(30), 3, 1 << 20, 1, log, "dropquery", "small_cnn");
  const auto p = ctx.predict(range(30), true, true);
  CHECK(torch::allclose(torch::softmax(ctx.classify(p.features), 1), p.probabilities, 1e-5, 1e-5));
}

namespace {

/// tanh features, then dropout and a linear layer; counts its forward() calls. With `head` it
/// offers Model::sample_logits, without it declines (the host then runs forward() per pass).
struct CountingNet : Model {
  explicit CountingNet(bool head) : head_(head) { fc = register_module("fc", torch::nn::Linear(6, 3)); }
  ModelOutput forward(const torch::Tensor& x) override {
    ++forwards;
    const auto f = torch::tanh(x);
    return {logits(f), f};
  }
  torch::Tensor sample_logits(const torch::Tensor& f) override { return head_ ? logits(f) : torch::Tensor(); }
  std::int64_t feature_dim() const override { return 6; }
  bool stochastic() const override { return true; }
  torch::Tensor logits(const torch::Tensor& f) { return fc(quarry::dropout(f, 0.5, is_training())); }
  torch::nn::Linear fc{nullptr};
  int forwards = 0;

 private:
  bool head_;
};

/// What predict_samples must equal: every pass a whole forward() under a MonteCarloScope, batch
/// by batch, drawing from ModelRandomScope(seed).
torch::Tensor full_passes(Model& m, const DeviceSplit& split, const torch::Tensor& mean, const torch::Tensor& std,
                          std::int64_t n, std::int64_t samples, std::int64_t batch, std::uint64_t seed) {
  torch::NoGradGuard ng;
  m.eval();
  ModelRandomScope random(seed);
  MonteCarloScope mc;
  std::vector<torch::Tensor> rows;
  for (std::int64_t s = 0; s < n; s += batch) {
    const auto x = normalize(split.images.narrow(0, s, std::min(batch, n - s)), mean, std);
    std::vector<torch::Tensor> passes;
    for (std::int64_t t = 0; t < samples; ++t) passes.push_back(torch::softmax(m.forward(x).logits, 1));
    rows.push_back(torch::stack(passes));
  }
  return torch::cat(rows, 1);
}

}  // namespace

TEST_CASE("predict_samples runs a model's trunk once per batch when it has sample_logits, with the same samples") {
  // Feature rows, 20 of them, in batches of 8 (3 batches), 5 passes.
  DeviceSplit rows{torch::randn({20, 6}, at::detail::createCPUGenerator(4)), torch::zeros({20}, torch::kLong)};
  for (const bool head : {true, false}) {
    CAPTURE(head);
    auto net = std::make_shared<CountingNet>(head);
    const auto expected = full_passes(*net, rows, {}, {}, 20, 5, 8, 17);
    net->forwards = 0;
    const auto got = predict_samples(*net, rows, {}, {}, range(20), 5, 8, 17);
    CHECK(torch::equal(got, expected));  // the same draws, bit for bit
    // One per batch; without the head one per pass, and the first batch's features pass (asked once).
    CHECK(net->forwards == (head ? 3 : 3 * 5 + 1));
  }
  // The in-tree models: small_cnn and resnet18 (dropout before the classifier) take the fast
  // path, wide_resnet (dropout inside its blocks) declines; the mlp head takes it too.
  auto e = experiment(0.0);
  for (const char* name : {"small_cnn", "resnet18", "wide_resnet"}) {
    CAPTURE(name);
    auto m = make_model(name, 0.4, ModelSpec{1, 12, 12, 4});
    const auto expected = full_passes(*m, e.data.pool, e.data.mean, e.data.std, 30, 4, 7, 9);
    CHECK(torch::equal(predict_samples(*m, e.data.pool, e.data.mean, e.data.std, range(30), 4, 7, 9), expected));
    CHECK(m->sample_logits(torch::zeros({1, m->feature_dim()})).defined() == (name != std::string("wide_resnet")));
  }
  Params p("model 'mlp'");
  p.set("dropout", 0.3);
  p.set("hidden", std::int64_t{5});
  ModelSpec spec;
  spec.input_dim = 6;
  spec.num_classes = 3;
  spec.in_channels = spec.height = spec.width = 0;
  auto mlp = host().make_model("mlp", std::move(p), spec);
  CHECK(mlp->stochastic());
  CHECK(torch::equal(predict_samples(*mlp, rows, {}, {}, range(20), 5, 8, 3), full_passes(*mlp, rows, {}, {}, 20, 5, 8, 3)));
}

}  // namespace test_monte_carlo
