#include "testing.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include "core/data/augment.hpp"
#include "core/pipeline/pipeline.hpp"
#include "core/training/experiment.hpp"
#include "core/training/schedule.hpp"
#include "core/training/trainer.hpp"
#include "quarry/error.hpp"
#include "quarry/random.hpp"
#include "support.hpp"

namespace test_trainer {  // one namespace per test file: they compile in unity batches

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
  CHECK(r1.test.ece > 0.0);  // a trained model is never exactly calibrated in all 15 bins
  CHECK(r1.test.ece < 0.1);
  auto w1 = snapshot_weights(*e.model);
  auto r2 = train_and_evaluate(e, p.train, all, 42, log);
  auto w2 = snapshot_weights(*e.model);
  REQUIRE(w1.size() == w2.size());
  for (std::size_t i = 0; i < w1.size(); ++i) CHECK(torch::equal(w1[i], w2[i]));
  CHECK(r1.test.nll == r2.test.nll);
  CHECK(r1.test.ece == r2.test.ece);
  CHECK(r1.train.final_loss == r2.train.final_loss);
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
  CHECK(r.train.diverged_epoch >= 0);  // set (it is -1 until a training diverges)
  CHECK(r.train.diverged_epoch < 8);
  CHECK(r.train.epochs_run == r.train.diverged_epoch + 1);  // stopped there
  CHECK_FALSE(std::isfinite(r.train.final_loss));
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

namespace {

/// `draws` dropout masks of 256 ones (p = 0.5: each element 0 or 2) in one ModelRandomScope(seed).
std::vector<torch::Tensor> scoped_masks(std::uint64_t seed, int draws, bool yield = false) {
  ModelRandomScope scope(seed);
  const auto x = torch::ones({256});
  std::vector<torch::Tensor> out;
  for (int i = 0; i < draws; ++i) {
    out.push_back(quarry::dropout(x, 0.5, true));
    if (yield) std::this_thread::yield();
  }
  return out;
}

bool same_masks(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

}  // namespace

TEST_CASE("quarry::dropout in a ModelRandomScope: inverted dropout, the same mask for a seed, another for another") {
  const auto x = torch::ones({1000});
  torch::Tensor a, b, c;
  {
    ModelRandomScope s(11);
    a = quarry::dropout(x, 0.25, true);
  }
  {
    ModelRandomScope s(11);
    b = quarry::dropout(x, 0.25, true);
  }
  {
    ModelRandomScope s(12);
    c = quarry::dropout(x, 0.25, true);
  }
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
  // Inverted dropout: zeros and 1 / (1 - p), about p of them zero (1000 draws: 250 +- 5 sd).
  const float kept = static_cast<float>(1.0 / 0.75);
  CHECK(((a == 0) | (a == kept)).all().item<bool>());
  const auto zeros = (a == 0).sum().item<std::int64_t>();
  CHECK(zeros > 180);
  CHECK(zeros < 320);
  // Successive draws of one scope differ; outside training, or with p = 0, x comes back.
  const auto m = scoped_masks(11, 2);
  CHECK_FALSE(torch::equal(m[0], m[1]));
  CHECK(quarry::dropout(x, 0.5, false).is_same(x));
  CHECK(quarry::dropout(x, 0.0, true).is_same(x));
  CHECK_THROWS_AS(quarry::dropout(x, 1.0, true), Error);
  CHECK_THROWS_AS(quarry::dropout(x, -0.1, true), Error);

  // A scope draws from a generator of its own: LibTorch's default one is not advanced...
  torch::manual_seed(3);
  const auto expected = torch::rand({8});
  torch::manual_seed(3);
  {
    ModelRandomScope s(11);
    CHECK((model_generator(torch::kCPU) != at::globalContext().defaultGenerator(torch::kCPU)));
    quarry::dropout(x, 0.5, true);
  }
  CHECK(torch::equal(torch::rand({8}), expected));
  // ...and nor does it depend on the default generator's state.
  torch::manual_seed(99);
  CHECK(torch::equal(scoped_masks(11, 2)[0], m[0]));

  // Scopes nest: the inner one draws its own sequence, then the outer one continues.
  {
    ModelRandomScope outer(11);
    CHECK(torch::equal(quarry::dropout(torch::ones({256}), 0.5, true), m[0]));
    {
      ModelRandomScope inner(22);
      CHECK(torch::equal(quarry::dropout(torch::ones({256}), 0.5, true), scoped_masks(22, 1)[0]));
    }
    CHECK(torch::equal(quarry::dropout(torch::ones({256}), 0.5, true), m[1]));
  }
}

TEST_CASE("outside any ModelRandomScope, dropout draws from LibTorch's default generator") {
  CHECK((model_generator(torch::kCPU) == at::globalContext().defaultGenerator(torch::kCPU)));
  const auto x = torch::ones({256});
  torch::manual_seed(5);
  const auto a = quarry::dropout(x, 0.5, true);
  torch::manual_seed(5);
  const auto b = quarry::dropout(x, 0.5, true);
  CHECK(torch::equal(a, b));
  torch::manual_seed(5);
  const auto keep = torch::empty({256}).bernoulli_(0.5);  // the default generator's draw
  CHECK(torch::equal(a, keep * 2));
  torch::manual_seed(6);
  CHECK_FALSE(torch::equal(quarry::dropout(x, 0.5, true), a));
}

TEST_CASE("per-training generators: two threads with their own scopes draw exactly the serial masks") {
  constexpr int kDraws = 300;
  const auto serial_a = scoped_masks(11, kDraws);
  const auto serial_b = scoped_masks(22, kDraws);
  REQUIRE_FALSE(torch::equal(serial_a[0], serial_b[0]));
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    std::atomic<int> ready{0};
    std::vector<torch::Tensor> got_a, got_b;
    auto run = [&ready](std::uint64_t seed, std::vector<torch::Tensor>& out) {
      // Both threads start drawing together, and yield between draws, so their draws interleave.
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      out = scoped_masks(seed, kDraws, true);
    };
    std::thread ta(run, 11, std::ref(got_a));
    std::thread tb(run, 22, std::ref(got_b));
    // Meanwhile this thread draws from the default generator, as an unscoped model would.
    for (int i = 0; i < 200; ++i) quarry::dropout(torch::ones({256}), 0.5, true);
    ta.join();
    tb.join();
    CHECK(same_masks(got_a, serial_a));
    CHECK(same_masks(got_b, serial_b));
  }
}

TEST_CASE("epoch_batches: sampled = floor(n/batch)+1 full batches covering every image; shuffled = one pass") {
  struct Case {
    std::int64_t n, batch, sampled, shuffled, last;
  };
  for (const auto& k : {Case{37, 8, 5, 5, 5}, Case{32, 8, 5, 4, 8}}) {
    CAPTURE(k.n);
    TrainConfig cfg;
    cfg.batch_size = k.batch;
    at::Generator gen = at::detail::createCPUGenerator(3);

    REQUIRE(cfg.epoch_mode == "sampled");  // the default
    const auto s = epoch_batches(k.n, cfg, gen);
    REQUIRE(static_cast<std::int64_t>(s.size()) == k.sampled);
    std::vector<int> seen(static_cast<std::size_t>(k.n), 0);
    std::vector<std::int64_t> flat;
    for (const auto& b : s) {
      CHECK((b.scalar_type() == torch::kInt64));
      REQUIRE(b.dim() == 1);
      CHECK(b.size(0) == k.batch);  // every batch full
      for (std::int64_t i = 0; i < b.size(0); ++i) {
        const auto v = b[i].item<std::int64_t>();
        REQUIRE(v >= 0);
        REQUIRE(v < k.n);
        ++seen[static_cast<std::size_t>(v)];
        flat.push_back(v);
      }
    }
    for (int c : seen) CHECK(c >= 1);  // every image at least once an epoch
    // Concatenated permutations: the first n positions are one, the rest repeat images once.
    CHECK(std::count(seen.begin(), seen.end(), 2) == k.sampled * k.batch - k.n);
    std::vector<std::int64_t> head(flat.begin(), flat.begin() + k.n);
    std::sort(head.begin(), head.end());
    for (std::int64_t i = 0; i < k.n; ++i) CHECK(head[static_cast<std::size_t>(i)] == i);

    cfg.epoch_mode = "shuffled";
    const auto sh = epoch_batches(k.n, cfg, gen);
    REQUIRE(static_cast<std::int64_t>(sh.size()) == k.shuffled);
    std::vector<std::int64_t> all;
    for (std::size_t i = 0; i < sh.size(); ++i) {
      CHECK((sh[i].scalar_type() == torch::kInt64));
      CHECK(sh[i].size(0) == (i + 1 == sh.size() ? k.last : k.batch));
      for (std::int64_t j = 0; j < sh[i].size(0); ++j) all.push_back(sh[i][j].item<std::int64_t>());
    }
    REQUIRE(static_cast<std::int64_t>(all.size()) == k.n);
    const auto unsorted = all;
    std::sort(all.begin(), all.end());
    for (std::int64_t i = 0; i < k.n; ++i) CHECK(all[static_cast<std::size_t>(i)] == i);  // a permutation
    std::vector<std::int64_t> identity(all);
    CHECK(unsorted != identity);  // shuffled (37! or 32! orders: never the identity by chance)
  }
  // The batches are a function of the generator's state.
  TrainConfig cfg;
  cfg.batch_size = 8;
  at::Generator g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3),
                g3 = at::detail::createCPUGenerator(4);
  const auto a = epoch_batches(37, cfg, g1), b = epoch_batches(37, cfg, g2), c = epoch_batches(37, cfg, g3);
  CHECK(same_masks(a, b));
  CHECK_FALSE(same_masks(a, c));
  CHECK_FALSE(same_masks(epoch_batches(37, cfg, g1), a));  // the next epoch draws anew
}

}  // namespace test_trainer
