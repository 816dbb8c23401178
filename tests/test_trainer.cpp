#include "testing.hpp"

#include <torch/torch.h>

#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/training/trainer.hpp"
#include "support.hpp"

using namespace quarry;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

TEST_CASE("warm-up then cosine, stepped per epoch") {
  TrainConfig c;
  c.lr = 0.1;
  c.epochs = 200;
  c.warmup_epochs = 10;
  CHECK(warmup_cosine(c, 0) == doctest::Approx(0.001));
  CHECK(warmup_cosine(c, 5) == doctest::Approx(0.1 * (0.01 + 0.99 * 0.5)));
  CHECK(warmup_cosine(c, 10) == doctest::Approx(0.1));
  CHECK(warmup_cosine(c, 105) == doctest::Approx(0.05));  // half-way through the 190 cosine epochs
  CHECK(warmup_cosine(c, 199) == doctest::Approx(0.1 * 0.5 * (1 + std::cos(M_PI * 189.0 / 190.0))));
  c.warmup_epochs = 0;
  CHECK(warmup_cosine(c, 0) == doctest::Approx(0.1));
}

TEST_CASE("augmentation: crops are shifted windows of the zero-padded image, flips mirror") {
  auto img = torch::arange(1, 1 + 2 * 1 * 4 * 4, torch::kInt64).to(torch::kUInt8).view({2, 1, 4, 4});
  at::Generator gen = at::detail::createCPUGenerator(1);
  for (int trial = 0; trial < 20; ++trial) {
    auto out = augment(img, 1, true, gen);
    REQUIRE(out.sizes() == img.sizes());
    auto padded = torch::constant_pad_nd(img, {1, 1, 1, 1}, 0);
    for (int n = 0; n < 2; ++n) {
      bool found = false;
      for (int dy = 0; dy <= 2 && !found; ++dy)
        for (int dx = 0; dx <= 2 && !found; ++dx) {
          auto win = padded[n].narrow(1, dy, 4).narrow(2, dx, 4);
          found = torch::equal(out[n], win) || torch::equal(out[n], win.flip({2}));
        }
      CHECK(found);
    }
  }
}

TEST_CASE("the trainer reaches > 95% on a separable problem, bit-identically for a seed") {
  TempDir dir;
  auto text = synthetic_pipeline(dir.str());
  auto p = parse_pipeline(text, "t.toml", {"train.epochs=15", "dataset.noise=0.1", "train.augment=false"}, &host());
  quarry::testing::CaptureLogger log;
  auto e = prepare_experiment(p, 1, host(), log);
  std::vector<std::int64_t> all(static_cast<std::size_t>(e.data.pool.size()));
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int64_t>(i);
  auto r1 = train_and_evaluate(e, p.train, all, 42, log);
  CHECK_FALSE(r1.train.diverged);
  CHECK(r1.test.accuracy > 0.95);
  CHECK(r1.validation.accuracy > 0.95);
  CHECK(r1.test.ece >= 0.0);
  auto w1 = snapshot_weights(*e.model);
  auto r2 = train_and_evaluate(e, p.train, all, 42, log);
  auto w2 = snapshot_weights(*e.model);
  REQUIRE(w1.size() == w2.size());
  for (std::size_t i = 0; i < w1.size(); ++i) CHECK(torch::equal(w1[i], w2[i]));
  CHECK(r1.test.nll == r2.test.nll);
  // Another seed trains differently.
  train_and_evaluate(e, p.train, all, 43, log);
  auto w3 = snapshot_weights(*e.model);
  CHECK_FALSE(torch::equal(w1[0], w3[0]));
}

TEST_CASE("a diverging training is recorded as diverged, not a crash") {
  TempDir dir;
  auto p = parse_pipeline(synthetic_pipeline(dir.str()), "t.toml", {"train.lr=100.0", "train.weight_decay=10.0", "train.epochs=8", "train.warmup_epochs=0"}, &host());
  quarry::testing::CaptureLogger log;
  auto e = prepare_experiment(p, 1, host(), log);
  std::vector<std::int64_t> some{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  auto r = train_and_evaluate(e, p.train, some, 1, log);
  CHECK(r.train.diverged);
  CHECK(r.train.diverged_epoch >= 0);
  CHECK(r.train.epochs_run == r.train.diverged_epoch + 1);
}

TEST_CASE("metrics: accuracy, NLL and ECE on known logits") {
  auto logits = torch::tensor({{10.0, 0.0}, {0.0, 10.0}, {10.0, 0.0}, {0.0, 0.0}}, torch::kFloat64);
  auto labels = torch::tensor({0, 1, 1, 0}, torch::kInt64);
  auto m = metrics_from_logits(logits, labels);
  CHECK(m.accuracy == doctest::Approx(0.75));
  const double p_hi = 1.0 / (1.0 + std::exp(-10.0));
  CHECK(m.nll == doctest::Approx((-2 * std::log(p_hi) - std::log(1 - p_hi) + std::log(2.0)) / 4));
  // bins: three at confidence p_hi (2 right, 1 wrong), one at 0.5 (right)
  CHECK(m.ece == doctest::Approx((std::abs(3 * p_hi - 2) + std::abs(0.5 - 1.0)) / 4));
}

TEST_CASE("validation splits are deterministic per seed and disjoint") {
  auto a = split_pool(1000, 0.1, 5), b = split_pool(1000, 0.1, 5), c = split_pool(1000, 0.1, 6);
  CHECK(a.validation == b.validation);
  CHECK(a.validation != c.validation);
  CHECK(a.validation.size() == 100);
  CHECK(a.pool.size() == 900);
  std::vector<char> seen(1000, 0);
  for (auto i : a.pool) seen[static_cast<std::size_t>(i)]++;
  for (auto i : a.validation) seen[static_cast<std::size_t>(i)]++;
  for (auto s : seen) CHECK(s == 1);
  CHECK(split_pool(1000, 0.0, 5).validation.empty());
  CHECK(split_pool(1000, 0.1, 5, 50).pool.size() == 50);
}
