// Samplers for hyper-parameter optimisation: random search and TPE (the
// algorithm behind Optuna's default TPESampler), and a small sequential driver.
//
// Every sampler is a pure function of (its options and seed, the trial number,
// the history): it seeds a fresh generator from (seed, trial_number) on each
// call and draws with its own formulas, so an interrupted search that is
// resumed from its stored history suggests exactly what it would have, on any
// standard library.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/hpo/search_space.hpp"

namespace quarry::hpo {

enum class Direction { Minimize, Maximize };
enum class TrialState { Running, Complete, Failed, Pruned };

const char* to_string(TrialState state);

struct Trial {
  int number = 0;  ///< 0-based, unique within a search
  Assignment assignment;
  TrialState state = TrialState::Running;
  double value = std::numeric_limits<double>::quiet_NaN();  ///< the objective when Complete; the last rung's when Pruned
  std::int64_t step = 0;                                    ///< Pruned: the epochs of its last rung
  std::string message;                                      ///< why it failed, when Failed
};

/// True when `a` is strictly better than `b` in `direction`.
bool better(double a, double b, Direction direction);
/// Index into `history` of the best Complete trial (lowest number on ties), or -1 if none.
int best_trial(const std::vector<Trial>& history, Direction direction);

class Sampler {
 public:
  virtual ~Sampler() = default;
  /// The assignment for trial `trial_number`. `history` may hold trials in any
  /// order, including Running and Failed ones and the trial being sampled;
  /// the result depends only on the seed, `trial_number` and the history.
  virtual Assignment sample(const SearchSpace& space, const std::vector<Trial>& history, int trial_number) const = 0;
  virtual Direction direction() const = 0;
  virtual std::string name() const = 0;
};

class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(std::uint64_t seed = 0, Direction direction = Direction::Minimize)
      : seed_(seed), direction_(direction) {}
  Assignment sample(const SearchSpace& space, const std::vector<Trial>& history, int trial_number) const override;
  Direction direction() const override { return direction_; }
  std::string name() const override { return "random"; }

 private:
  std::uint64_t seed_;
  Direction direction_;
};

struct TpeOptions {
  std::uint64_t seed = 0;
  Direction direction = Direction::Minimize;
  int n_startup_trials = 10;  ///< random trials before TPE starts (Complete and Pruned trials counted)
  int n_ei_candidates = 24;   ///< candidates drawn from l(x); the best log l - log g wins
  /// One joint Parzen estimator over all dimensions instead of one per
  /// dimension. Optuna >= 5 turns this on by default for single-objective
  /// studies; Optuna 2-4 left it off.
  bool multivariate = true;
  /// Running trials (other than the one sampled) join the "bad" group, so
  /// parallel workers spread out (Optuna's constant liar, its default since 5.0).
  /// Off: Running trials are ignored and a suggestion depends on the finished
  /// history only.
  bool constant_liar = false;
  double prior_weight = 1.0;
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
};

/// Tree-structured Parzen Estimator (Pruned trials count as finished, as in Optuna: the good
/// group is filled with Complete trials by value first, then with Pruned ones, those that
/// reached more epochs first and by their last rung's value among equals): Bergstra et al. 2011, "Algorithms for
/// Hyper-Parameter Optimization"; with Optuna's choices as described in
/// Watanabe 2023, "Tree-Structured Parzen Estimator: Understanding Its
/// Algorithm Components and Their Roles for Better Empirical Performance".
class TpeSampler : public Sampler {
 public:
  explicit TpeSampler(TpeOptions options = {});
  Assignment sample(const SearchSpace& space, const std::vector<Trial>& history, int trial_number) const override;
  Direction direction() const override { return options_.direction; }
  std::string name() const override { return options_.multivariate ? "tpe-multivariate" : "tpe"; }
  const TpeOptions& options() const { return options_; }

 private:
  TpeOptions options_;
  RandomSampler startup_;
};

/// Optuna's default gamma: how many of n finished trials are "good": min(ceil(0.1 n), 25).
int tpe_gamma(int n);
/// Optuna's default weights for n trials ordered by number: 1 each below 25,
/// otherwise a linear ramp from 1/n to 1 over the n - 25 oldest, then 25 ones.
std::vector<double> tpe_weights(int n);

/// The assignment trial `trial_number` gets: `enqueued[trial_number]` when
/// there is one (fixed settings first, e.g. the one the DAL run used),
/// otherwise the sampler's suggestion.
Assignment suggest(const SearchSpace& space, const Sampler& sampler, const std::vector<Trial>& history,
                   int trial_number, const std::vector<Assignment>& enqueued = {});

using Objective = std::function<double(const Assignment&)>;

/// Sequential search for tests and benchmarks: runs trials history.size() ..
/// n_trials - 1 and returns the whole history (pass a stored history to resume).
/// An objective that throws or returns NaN gives a Failed trial.
std::vector<Trial> optimize(const SearchSpace& space, const Sampler& sampler, int n_trials, const Objective& objective,
                            const std::vector<Assignment>& enqueued = {}, std::vector<Trial> history = {});

}  // namespace quarry::hpo
