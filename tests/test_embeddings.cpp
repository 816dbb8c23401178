// Feature vectors (embeddings): the embeddings dataset plugin, the SDK's feature contract, the
// last-layer Laplace predictive against brute force, and whole DAL runs on embeddings. The
// heads' autograd-free training: tests/test_heads.cpp; the .npy parser: tests/test_npy.cpp.
#include "testing.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/al/loop.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/store/store.hpp"
#include "core/training/experiment.hpp"
#include "core/training/schedule.hpp"
#include "formats/bytes.hpp"
#include "formats/npy.hpp"
#include "quarry/error.hpp"
#include "quarry/random.hpp"
#include "npy_files.hpp"
#include "support.hpp"

namespace test_embeddings {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::CaptureLogger;
using quarry::testing::host;
using quarry::testing::TempDir;
namespace fs = std::filesystem;
namespace qf = quarry::formats;

using namespace quarry::testing;

namespace {

// A Gaussian mixture: K classes in D dims, well separated; the four files in `dir`.
void write_mixture(const fs::path& dir, std::int64_t k, std::int64_t d, std::int64_t n_train, std::int64_t n_test,
                   std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto centers = torch::randn({k, d}, gen) * 2.0;
  auto make = [&](std::int64_t n, const std::string& prefix) {
    auto y = torch::arange(n, torch::kInt64).remainder(k);
    auto x = centers.index_select(0, y) + torch::randn({n, d}, gen);
    write_features(dir / (prefix + "_features.npy"), x);
    write_labels(dir / (prefix + "_labels.npy"), y);
  };
  make(n_train, "train");
  make(n_test, "test");
}

DatasetData load_embeddings(const fs::path& dir, std::vector<std::string> class_names = {}) {
  Params p("embeddings");
  p.set("path", dir.string());
  if (!class_names.empty()) p.set("class_names", class_names);
  CaptureLogger log;
  auto data = host().make_dataset("embeddings", p)->load(log);
  validate_dataset(data, "embeddings");
  return data;
}

}  // namespace

TEST_CASE("embeddings dataset: loads the four files and the host validates them") {
  TempDir dir;
  write_mixture(dir.path(), 3, 8, 60, 30, 1);
  auto d = load_embeddings(dir.path());
  CHECK(d.train.has_features());
  CHECK_FALSE(d.train.images.defined());
  CHECK(d.train.features.sizes() == torch::IntArrayRef({60, 8}));
  CHECK(d.test.features.sizes() == torch::IntArrayRef({30, 8}));
  CHECK(d.class_names == std::vector<std::string>{"0", "1", "2"});
  CHECK(d.mean.empty());
  auto named = load_embeddings(dir.path(), {"cat", "dog", "bird", "fish"});
  CHECK(named.class_names.size() == 4);
  CHECK_THROWS_WITH(load_embeddings(dir.path(), {"cat", "dog"}),
                    doctest::Contains("train_labels.npy: label out of range: label 2 at index 2, expected 0..1"));

  // Rows of features and labels disagree; D of train and test disagree; a file is missing.
  write_labels(dir.path() / "test_labels.npy", torch::zeros({29}, torch::kInt64));
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("30 feature rows, but"));
  write_labels(dir.path() / "test_labels.npy", torch::zeros({30}, torch::kInt64));
  write_features(dir.path() / "test_features.npy", torch::zeros({30, 7}));
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("has D = 8 columns but"));
  fs::remove(dir.path() / "test_features.npy");
  CHECK_THROWS_WITH(load_embeddings(dir.path()), doctest::Contains("test_features.npy: file not found"));
}

TEST_CASE("validate_dataset: the feature contract, naming the plugin") {
  DatasetData d;
  d.class_names = {"a", "b"};
  d.train.features = torch::zeros({4, 3});
  d.train.labels = torch::tensor(std::vector<std::int64_t>{0, 1, 0, 1});
  d.test = d.train;
  CHECK_NOTHROW(validate_dataset(d, "plugin 'x'"));
  auto bad = [&](auto&& change) {
    auto c = d;
    change(c);
    try {
      validate_dataset(c, "plugin 'x'");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({4, 3}, torch::kFloat64); }) ==
        "plugin 'x': train split: features must be float32");
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({4}); }) ==
        "plugin 'x': train split: features must be N x D, got 1 dims");
  CHECK(bad([](DatasetData& c) { c.train.images = torch::zeros({4, 1, 2, 2}, torch::kUInt8); }) ==
        "plugin 'x': train split: both images and features set; a split holds one of them");
  CHECK(bad([](DatasetData& c) { c.test.features = torch::zeros({4, 5}); }) ==
        "plugin 'x': train features have D = 3 but test features D = 5");
  CHECK(bad([](DatasetData& c) { c.train.features = torch::zeros({3, 3}); }) ==
        "plugin 'x': train split: 3 feature vectors but 4 labels");
  CHECK(bad([](DatasetData& c) {
          c.train.features = c.train.features.clone();  // the copy shares the tensor
          c.train.features[1][2] = std::nan("");
        }) ==
        "plugin 'x': train split: features hold a NaN or infinite value");
  CHECK(bad([](DatasetData& c) {
          c.mean = {0.5};
          c.std = {0.2};
        }) ==
        "plugin 'x': mean and std are for images; leave them empty for features");
  CHECK(bad([](DatasetData& c) {
          c.test.features = torch::Tensor();
          c.test.images = torch::zeros({4, 1, 2, 2}, torch::kUInt8);
        }) == "plugin 'x': the train split holds features but the test split images");
}

namespace {

// The brute-force posterior of the last layer [W | b] (float64): the full precision
// kron(G, A) + delta I written out, inverted, and sampled.
struct BruteForce {
  torch::Tensor theta_mean;  // K*(D+1)
  torch::Tensor covariance;  // K*(D+1) square
  std::int64_t k, h;
  BruteForce(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double delta) {
    const auto x1 = torch::cat({x.to(torch::kFloat64), torch::ones({x.size(0), 1}, torch::kFloat64)}, 1);
    const auto theta = torch::cat({w.to(torch::kFloat64), b.to(torch::kFloat64).unsqueeze(1)}, 1);
    k = theta.size(0), h = theta.size(1);
    const auto p = torch::softmax(x1.mm(theta.t()), 1);
    const auto a = x1.t().mm(x1);
    const auto g = (torch::diag(p.sum(0)) - p.t().mm(p)) / static_cast<double>(x.size(0));
    const auto precision = torch::kron(g, a) + delta * torch::eye(k * h, torch::kFloat64);
    covariance = torch::inverse(precision);
    theta_mean = theta.reshape({-1});
  }
  static double log_marglik(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, double delta) {
    BruteForce f(x, w, b, delta);
    const auto p = static_cast<double>(f.k * f.h);
    return -0.5 * delta * f.theta_mean.pow(2).sum().item<double>() + 0.5 * p * std::log(delta) +
           0.5 * torch::logdet(f.covariance).item<double>();
  }
  // Logit covariance of input x (exact), K x K.
  torch::Tensor logit_covariance(const torch::Tensor& xq) const {
    const auto x1 = torch::cat({xq.to(torch::kFloat64), torch::ones({1}, torch::kFloat64)});
    const auto j = torch::kron(torch::eye(k, torch::kFloat64), x1.unsqueeze(0));  // K x K*H
    return j.mm(covariance).mm(j.t());
  }
  // E[softmax(f)] under the weight posterior, by sampling the weights.
  torch::Tensor predictive(const torch::Tensor& xq, std::int64_t samples, std::uint64_t seed) const {
    auto gen = at::detail::createCPUGenerator(seed);
    const auto chol = torch::linalg_cholesky(covariance);
    const auto thetas = theta_mean.unsqueeze(0) + torch::randn({samples, k * h}, gen, torch::kFloat64).mm(chol.t());
    const auto x1 = torch::cat({xq.to(torch::kFloat64), torch::ones({xq.size(0), 1}, torch::kFloat64)}, 1);
    const auto f = torch::einsum("skh,nh->nsk", {thetas.view({samples, k, h}), x1});
    return torch::softmax(f, 2).mean(1);
  }
};

torch::Tensor param(Model& m, const std::string& name) { return m.named_parameters()[name].detach().clone(); }

}  // namespace

TEST_CASE("Laplace: the last-layer predictive against a brute-force posterior (float64)") {
  const std::int64_t d = 5, k = 3, n = 20;
  auto gen = at::detail::createCPUGenerator(11);
  const auto x = torch::randn({n, d}, gen);
  const auto y = torch::randint(0, k, {n}, gen, torch::kInt64);
  const auto xq = torch::randn({8, d}, gen);
  const double delta = 1.0;
  const auto w0 = torch::randn({k, d}, gen) * 1.5;
  auto fit = [&](const std::string& predictive, double prior, std::int64_t samples) {
    auto m = make_head("linear", d, k,
                       {{"laplace", true}, {"laplace_predictive", predictive}, {"prior_precision", prior},
                        {"laplace_samples", samples}});
    {
      torch::NoGradGuard ng;
      m->named_parameters()["fc.weight"].copy_(w0);
    }
    m->train(false);
    m->after_training(x, y);
    return m;
  };
  auto m = fit("probit", delta, 1);
  const auto w = param(*m, "fc.weight"), b = param(*m, "fc.bias");
  const BruteForce bf(x, w, b, delta);
  torch::NoGradGuard ng;
  const auto mu = (xq.to(torch::kFloat64).mm(w.to(torch::kFloat64).t()) + b.to(torch::kFloat64));

  // Probit: exactly mu / sqrt(1 + pi/8 var) with the brute-force logit variances...
  const auto probit = torch::softmax(m->forward(xq).logits.to(torch::kFloat64), 1);
  for (std::int64_t i = 0; i < xq.size(0); ++i) {
    const auto var = bf.logit_covariance(xq[i]).diagonal();
    const auto want = torch::softmax(mu[i] / (1 + M_PI / 8 * var).sqrt(), 0);
    CHECK(torch::allclose(probit[i], want, 1e-5, 1e-6));
  }
  // ... and close to the predictive that sampling the weights gives (it is an approximation).
  const auto brute = bf.predictive(xq, 200000, 1);
  // Per-class mean field ignores the logits' correlations: close, not exact; and much closer
  // than the plain softmax, so a head without its Laplace predictive would fail here.
  const auto plain = torch::softmax(mu, 1);
  CHECK((probit - brute).abs().max().item<double>() < 0.06);
  CHECK((probit - brute).abs().mean().item<double>() < 0.5 * (plain - brute).abs().mean().item<double>());

  // Monte Carlo in logit space agrees with sampling the weights, to Monte-Carlo error.
  auto mc = fit("mc", delta, 20000);
  CHECK(torch::allclose(param(*mc, "fc.weight"), w));  // same draws, same weights as above
  const auto mc_probs = torch::softmax(mc->forward(xq).logits.to(torch::kFloat64), 1);
  CHECK((mc_probs - brute).abs().max().item<double>() < 0.01);

  // prior_precision = 0: the grid value that maximises the brute-force marginal likelihood.
  double best = 0, best_ml = -1e300;
  for (int i = 0; i <= 160; ++i) {
    const double dl = std::pow(10.0, -4.0 + 0.05 * i);
    const double ml = BruteForce::log_marglik(x, w, b, dl);
    if (ml > best_ml) best_ml = ml, best = dl;
  }
  auto chosen = fit("probit", 0.0, 1);
  auto fixed = fit("probit", best, 1);
  CHECK(torch::allclose(chosen->forward(xq).logits, fixed->forward(xq).logits, 1e-5, 1e-6));

  // The fit lives in buffers: restoring the weights from before it forgets it.
  auto fresh = make_head("linear", d, k, {{"laplace", true}});
  fresh->train(false);
  const auto before = snapshot_weights(*fresh);
  const auto plain_logits = fresh->forward(xq).logits.clone();
  fresh->after_training(x, y);
  CHECK_FALSE(torch::allclose(fresh->forward(xq).logits, plain_logits));
  restore_weights(*fresh, before);
  CHECK(torch::equal(fresh->forward(xq).logits, plain_logits));
}

namespace {
std::string embeddings_pipeline(const TempDir& dir, const std::string& model, const std::string& strategy) {
  return R"([run]
name = "emb"
seeds = [1]
device = "cpu"
threads = 1
results = ")" + dir.str() + R"("

[dataset]
name = "embeddings"
path = ")" + dir.str() + R"("
validation_fraction = 0.1

[model]
)" + model + R"(

[train]
epochs = 30
batch_size = 16
lr = 0.05
warmup_epochs = 1
augment = false
predict_batch_size = 64

[al]
initial = 12
query_size = 12
budget = 36
candidate_subset = 200

[[strategies]]
name = ")" + strategy + "\"\n";
}

std::vector<CycleRecord> run_embeddings(const TempDir& dir, const std::string& model, const std::string& strategy) {
  auto p = parse_pipeline(embeddings_pipeline(dir, model, strategy), "t.toml", {}, &host());
  Store store(dir.path() / "quarry.db");
  auto out = run_active_learning(p, 0, 1, host(), store);
  return store.cycles(out.run_id);
}
}  // namespace

TEST_CASE("a whole DAL run on embeddings: linear head + margin, mlp head + BADGE, Laplace + entropy") {
  TempDir dir;
  write_mixture(dir.path(), 4, 16, 400, 120, 2);
  for (const auto& [model, strategy] :
       std::vector<std::pair<std::string, std::string>>{{"name = \"linear\"", "margin"},
                                                        {"name = \"mlp\"\nhidden = 32\ndropout = 0.1", "badge"},
                                                        {"name = \"linear\"\nlaplace = true", "entropy"},
                                                        {"name = \"mlp\"\nhidden = 16\nlaplace = true\n"
                                                         "laplace_predictive = \"mc\"\nlaplace_samples = 50",
                                                         "margin"}}) {
    CAPTURE(model);
    const auto cycles = run_embeddings(dir, model, strategy);
    REQUIRE(cycles.size() == 3);
    CHECK(cycles[2].labeled == 36);
    CHECK(cycles[2].test_accuracy > 0.9);  // four well-separated Gaussians in 16 dimensions
    CHECK(std::isfinite(cycles[2].test_nll));
    // Same seed, same picks and metrics.
    const auto again = run_embeddings(dir, model, strategy);
    CHECK(again[1].queried == cycles[1].queried);
    CHECK(again[2].test_accuracy == cycles[2].test_accuracy);
  }
}

TEST_CASE("embeddings pipelines: a bad key names file:line:column; images models are refused") {
  TempDir dir;
  write_mixture(dir.path(), 3, 4, 60, 20, 3);
  auto text = embeddings_pipeline(dir, "name = \"linear\"", "margin");
  const auto bad = text.replace(text.find("validation_fraction"), 0, "trian_features = \"x.npy\"\n");
  CHECK_THROWS_WITH(parse_pipeline(bad, "t.toml", {}, &host()), doctest::Contains("t.toml:11:1"));
  CHECK_THROWS_WITH(parse_pipeline(bad, "t.toml", {}, &host()), doctest::Contains("trian_features"));
  auto p = parse_pipeline(embeddings_pipeline(dir, "name = \"small_cnn\"", "margin"), "t.toml", {}, &host());
  CaptureLogger log;
  CHECK_THROWS_WITH(prepare_experiment(p, 1, host(), log), doctest::Contains("takes images"));
}

}  // namespace test_embeddings
