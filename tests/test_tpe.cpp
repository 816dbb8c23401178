#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/hpo/sampler.hpp"
#include "core/hpo/search_space.hpp"
#include "quarry/error.hpp"

namespace test_tpe {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::hpo;

namespace {

double quadratic(const Assignment& a) { return (a.values[0] - 1.7) * (a.values[0] - 1.7); }

SearchSpace one_d() { return SearchSpace({Dimension::uniform("x", -10, 10)}); }

SearchSpace mixed_space() {
  return SearchSpace({Dimension::log_uniform("lr", 1e-5, 1e-1), Dimension::uniform("momentum", -1, 1),
                      Dimension::integer("batch", 1, 64, true), Dimension::integer("depth", -3, 3),
                      Dimension::categorical("optimizer", {"sgd", "adam", "lamb"})});
}

// Rewards the lower edge of every dimension, so TPE piles its kernels against the bounds.
double edge_seeking(const Assignment& a) {
  double s = std::log10(a.values[0]) + a.values[1] + std::log2(a.values[2]) + a.values[3] + a.values[4];
  return s;
}

double best_value(const std::vector<Trial>& h, Direction d) {
  const int i = best_trial(h, d);
  REQUIRE(i >= 0);
  return h[static_cast<std::size_t>(i)].value;
}

}  // namespace

TEST_CASE("TPE concentrates near the optimum of a 1-D quadratic and beats random search") {
  double tpe_sum = 0, random_sum = 0;
  int near_total = 0, near_fewest = 20;
  const int seeds = 10;
  for (int seed = 0; seed < seeds; ++seed) {
    TpeOptions o;
    o.seed = static_cast<std::uint64_t>(seed);
    const auto h = optimize(one_d(), TpeSampler(o), 60, quadratic);
    REQUIRE(h.size() == 60);
    // Within 10% of the range of the optimum: random search would put 4 of 20 there.
    // (TPE keeps exploring through its prior kernel; Optuna gives 11 to 15 of 20 here.)
    int near = 0;
    for (std::size_t i = 40; i < 60; ++i) near += std::abs(h[i].assignment.values[0] - 1.7) < 2.0;
    near_total += near;
    near_fewest = std::min(near_fewest, near);
    tpe_sum += best_value(h, Direction::Minimize);
    random_sum += best_value(optimize(one_d(), RandomSampler(static_cast<std::uint64_t>(seed)), 60, quadratic),
                             Direction::Minimize);
  }
  CHECK(near_total > 10 * seeds);  // most of the last 20, on average
  CHECK(near_fewest >= 8);
  CHECK(tpe_sum / seeds < 0.5 * random_sum / seeds);
  CHECK(tpe_sum / seeds < 1e-2);
}

TEST_CASE("TPE maximises when told to") {
  TpeOptions o;
  o.direction = Direction::Maximize;
  const auto h = optimize(one_d(), TpeSampler(o), 40, [](const Assignment& a) { return -quadratic(a); });
  CHECK(best_value(h, Direction::Maximize) > -0.05);
}

TEST_CASE("samples stay inside the bounds, ints are integers, categoricals in range") {
  const auto space = mixed_space();
  for (bool multivariate : {true, false}) {
    for (Direction dir : {Direction::Minimize, Direction::Maximize}) {
      TpeOptions o;
      o.multivariate = multivariate;
      o.direction = dir;
      o.seed = 7;
      const TpeSampler tpe(o);
      const auto history = optimize(space, tpe, 40, edge_seeking);
      for (int n = 40; n < 440; ++n) {
        const auto a = tpe.sample(space, history, n);
        REQUIRE(a.values.size() == space.size());
        CHECK_NOTHROW(space.check(a));
        CHECK(a.values[0] >= 1e-5);
        CHECK(a.values[0] <= 1e-1);
        CHECK(a.values[2] == std::floor(a.values[2]));
        CHECK(a.values[3] == std::floor(a.values[3]));
        CHECK(a.values[4] == std::floor(a.values[4]));
      }
      // Minimising pushes lr to its lower edge; the suggestions must follow it there.
      if (dir == Direction::Minimize) CHECK(best_value(history, dir) < -6.5);  // the minimum is -9
    }
  }
  const RandomSampler random(3);
  for (int n = 0; n < 2000; ++n) CHECK_NOTHROW(space.check(random.sample(space, {}, n)));
}

TEST_CASE("the same seed and history give the same suggestion") {
  const auto space = mixed_space();
  TpeOptions o;
  o.seed = 11;
  const auto history = optimize(space, TpeSampler(o), 25, edge_seeking);
  const auto a = TpeSampler(o).sample(space, history, 25);
  CHECK(TpeSampler(o).sample(space, history, 25) == a);
  // The order the history is stored in does not matter.
  auto reversed = history;
  std::reverse(reversed.begin(), reversed.end());
  CHECK(TpeSampler(o).sample(space, reversed, 25) == a);
  // Another seed or another trial number draws differently.
  TpeOptions other = o;
  other.seed = 12;
  CHECK(TpeSampler(other).sample(space, history, 25) != a);
  CHECK(TpeSampler(o).sample(space, history, 26) != a);
}

TEST_CASE("Running and Failed trials are ignored unless constant liar is on") {
  const auto space = mixed_space();
  TpeOptions o;
  o.seed = 5;
  const auto history = optimize(space, TpeSampler(o), 20, edge_seeking);
  const auto plain = TpeSampler(o).sample(space, history, 22);
  auto busy = history;
  Trial running;
  running.number = 20;
  running.assignment = RandomSampler(99).sample(space, {}, 0);
  busy.push_back(running);
  Trial failed = running;
  failed.number = 21;
  failed.state = TrialState::Failed;
  busy.push_back(failed);
  Trial current;  // the trial being sampled may already be recorded, without an assignment
  current.number = 22;
  busy.push_back(current);
  CHECK(TpeSampler(o).sample(space, busy, 22) == plain);
  o.constant_liar = true;
  CHECK_NOTHROW(space.check(TpeSampler(o).sample(space, busy, 22)));
}

TEST_CASE("a search killed at 15 trials and resumed from its history equals an uninterrupted one") {
  const auto space = mixed_space();
  TpeOptions o;
  o.seed = 42;
  o.direction = Direction::Maximize;
  o.n_startup_trials = 5;
  const TpeSampler tpe(o);
  const std::vector<Assignment> enqueued = {space.parse("lr=0.001 momentum=0.9 batch=32 depth=0 optimizer=adam")};
  auto objective = [](const Assignment& a) { return -edge_seeking(a); };
  const auto full = optimize(space, tpe, 30, objective, enqueued);
  auto stored = optimize(space, tpe, 15, objective, enqueued);
  // "Kill" and resume with a fresh sampler object and the stored history.
  const auto resumed = optimize(space, TpeSampler(o), 30, objective, enqueued, stored);
  REQUIRE(full.size() == 30);
  REQUIRE(resumed.size() == 30);
  for (std::size_t i = 0; i < 30; ++i) {
    CHECK(resumed[i].number == full[i].number);
    CHECK(resumed[i].assignment == full[i].assignment);
    CHECK(resumed[i].value == full[i].value);
  }
  CHECK(full[0].assignment == enqueued[0]);  // the enqueued setting is trial 0
}

TEST_CASE("a failing objective marks the trial Failed and the search goes on") {
  int calls = 0;
  const auto h = optimize(one_d(), TpeSampler(), 20, [&](const Assignment& a) {
    if (++calls % 4 == 0) throw std::runtime_error("diverged");
    if (calls % 5 == 0) return std::nan("");
    return quadratic(a);
  });
  REQUIRE(h.size() == 20);
  CHECK(h[3].state == TrialState::Failed);
  CHECK(h[3].message == "diverged");
  CHECK(h[4].state == TrialState::Failed);
  CHECK(h[0].state == TrialState::Complete);
}

TEST_CASE("Optuna's gamma and weights") {
  CHECK(tpe_gamma(10) == 1);
  CHECK(tpe_gamma(11) == 2);
  CHECK(tpe_gamma(100) == 10);
  CHECK(tpe_gamma(1000) == 25);
  CHECK(tpe_weights(0).empty());
  CHECK(tpe_weights(24) == std::vector<double>(24, 1.0));
  const auto w = tpe_weights(30);  // np.linspace(1/30, 1, 5) then 25 ones
  REQUIRE(w.size() == 30);
  CHECK(w[0] == doctest::Approx(1.0 / 30));
  CHECK(w[1] == doctest::Approx(1.0 / 30 + 0.25 * (1 - 1.0 / 30)));
  CHECK(w[4] == doctest::Approx(1.0));
  CHECK(w[29] == 1.0);
  CHECK(tpe_weights(26)[0] == doctest::Approx(1.0 / 26));
}

TEST_CASE("search space validation says what is wrong") {
  CHECK_THROWS_WITH_AS(Dimension::uniform("x", 1, 1), doctest::Contains("low must be below high"), Error);
  CHECK_THROWS_WITH_AS(Dimension::uniform("x", 2, 1), doctest::Contains("'x'"), Error);
  CHECK_THROWS_WITH_AS(Dimension::log_uniform("lr", 0, 1), doctest::Contains("low must be > 0"), Error);
  CHECK_THROWS_WITH_AS(Dimension::log_uniform("lr", -1, 1), doctest::Contains("log scale"), Error);
  CHECK_THROWS_WITH_AS(Dimension::integer("n", 0, 8, true), doctest::Contains("low must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(Dimension::categorical("opt", {}), doctest::Contains("at least one choice"), Error);
  CHECK_THROWS_WITH_AS(Dimension::categorical("opt", {"a", "a"}), doctest::Contains("listed twice"), Error);
  CHECK_THROWS_WITH_AS(Dimension::uniform("x", 0, INFINITY), doctest::Contains("finite"), Error);
  CHECK_THROWS_WITH_AS(SearchSpace({Dimension::uniform("x", 0, 1), Dimension::uniform("x", 0, 2)}),
                       doctest::Contains("used twice"), Error);
  Dimension int_bounds;
  int_bounds.name = "k";
  int_bounds.kind = DimensionKind::Int;
  int_bounds.low = 0.5;
  int_bounds.high = 3;
  CHECK_THROWS_WITH_AS(SearchSpace({int_bounds}), doctest::Contains("bounds must be integers"), Error);
  const auto space = default_space();
  CHECK_THROWS_WITH_AS(space.check(Assignment{{1e-3}}), doctest::Contains("1 values"), Error);
  CHECK_THROWS_WITH_AS(space.check(Assignment{{1e-3, 0.5}}), doctest::Contains("outside"), Error);
  CHECK_THROWS_WITH_AS(space.index_of("momentum"), doctest::Contains("known: lr, weight_decay"), Error);
}

TEST_CASE("assignments render as name=value text and read back exactly") {
  const auto space = default_space();
  REQUIRE(space.size() == 2);
  CHECK(space[0].name == "lr");
  CHECK(space[1].name == "weight_decay");
  CHECK(space[1].kind == DimensionKind::LogUniform);
  CHECK(space[1].low == 1e-5);
  CHECK(space[1].high == 1e-1);
  CHECK(space.render(Assignment{{0.1, 5e-4}}) == "lr=0.1 weight_decay=0.0005");
  const auto mixed = mixed_space();
  const RandomSampler random(1);
  for (int n = 0; n < 50; ++n) {
    const auto a = random.sample(mixed, {}, n);
    CHECK(mixed.parse(mixed.render(a)) == a);
  }
  CHECK(mixed.render(mixed.parse("lr=0.01, momentum=0, batch=8, depth=-2, optimizer=lamb")) ==
        "lr=0.01 momentum=0 batch=8 depth=-2 optimizer=lamb");
  CHECK_THROWS_WITH_AS(mixed.parse("lr=0.01 momentum=0 batch=8 depth=-2 optimizer=rmsprop"),
                       doctest::Contains("expected one of sgd, adam, lamb"), Error);
  CHECK_THROWS_WITH_AS(mixed.parse("lr=0.01"), doctest::Contains("no value for 'momentum'"), Error);
  CHECK_THROWS_WITH_AS(mixed.parse("lr=0.01 momentum=0 batch=8.5 depth=-2 optimizer=sgd"),
                       doctest::Contains("not an integer"), Error);
}

}  // namespace test_tpe
