// The samplers: random search, and TPE with the Parzen estimator it is built from.
// Over 400 lines on purpose: TPE is one algorithm read top to bottom (platform-independent
// draws, truncated-Gaussian math, the estimator, then the sampler, in the order of Watanabe
// 2023's components); its internals are used nowhere else.
#include "core/hpo/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <random>

#include "quarry/error.hpp"

namespace quarry::hpo {

namespace {

constexpr double kPi = 3.14159265358979323846;
const double kLogSqrt2Pi = 0.5 * std::log(2.0 * kPi);

// ---------------------------------------------------------------------------
// Randomness that depends on nothing but (seed, trial number) and is the same
// on every standard library: mt19937_64's output is fixed by the standard, the
// distributions on top of it are not, so those are written out here.

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  Rng(std::uint64_t seed, int trial_number)
      : gen_(splitmix64(splitmix64(seed) ^ static_cast<std::uint64_t>(static_cast<std::int64_t>(trial_number)))) {}

  /// Uniform on [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }

  /// Standard normal by Box-Muller; the second variate of each pair is kept.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log(u1) is finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * kPi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * kPi * u2);
  }

  /// Index drawn with probability proportional to weights (which sum to ~1).
  std::size_t categorical(const std::vector<double>& weights) {
    const double u = uniform();
    double cum = 0.0;
    for (std::size_t i = 0; i + 1 < weights.size(); ++i) {
      cum += weights[i];
      if (u < cum) return i;
    }
    return weights.size() - 1;  // the last bin takes rounding leftovers, as Optuna's cum_probs[-1] = 1
  }

 private:
  std::mt19937_64 gen_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// ---------------------------------------------------------------------------
// Gaussian tail arithmetic in log space (the truncated kernels need the log of
// the mass of an interval, also far out in a tail for integer dimensions).

double ndtr(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double log_ndtr(double x) {
  if (x > 6) return -ndtr(-x);  // log(1 - e) ~ -e
  if (x > -20) return std::log(ndtr(x));
  // Asymptotic series of Phi(x) for x -> -inf: phi(x)/|x| * (1 - 1/x^2 + 3/x^4 - 15/x^6 ...).
  const double x2 = x * x;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i < 12; ++i) {
    term *= -(2.0 * i - 1.0) / x2;
    sum += term;
  }
  return -0.5 * x2 - std::log(-x) - kLogSqrt2Pi + std::log(sum);
}

/// log(Phi(b) - Phi(a)) for a < b, computed in whichever tail is accurate.
double log_gauss_mass(double a, double b) {
  if (b <= 0) {
    const double lb = log_ndtr(b), la = log_ndtr(a);
    return lb + std::log1p(-std::exp(la - lb));
  }
  if (a > 0) return log_gauss_mass(-b, -a);
  return std::log1p(-ndtr(a) - ndtr(-b));
}

double log_sum_exp(const std::vector<double>& v) {
  double m = -INFINITY;
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;  // all -inf (or an inf): nothing to normalise
  double s = 0.0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

// ---------------------------------------------------------------------------
// Parzen estimator: a mixture whose components are products over dimensions
// of a truncated Gaussian (numeric; log space for log dimensions) or a
// categorical distribution. One component per observation plus the prior.

struct DimensionKernels {
  const Dimension* dim = nullptr;
  // numeric: bounds in the transformed space, per-component mu, sigma, log mass inside the bounds
  double lo = 0, hi = 0;
  std::vector<double> mu, sigma, log_mass;
  // categorical: per-component log probability of each choice
  std::vector<std::vector<double>> log_probs, probs;

  double transform(double x) const { return dim->is_log() ? std::log(x) : x; }

  void build_numeric(const std::vector<double>& obs, const TpeOptions& o) {
    double low = dim->low, high = dim->high;
    if (dim->kind == DimensionKind::Int) {  // integers own [v - 0.5, v + 0.5] (Optuna's step handling)
      low -= 0.5;
      high += 0.5;
    }
    lo = transform(low);
    hi = transform(high);
    const std::size_t n = obs.size();
    mu.resize(n);
    for (std::size_t i = 0; i < n; ++i) mu[i] = transform(obs[i]);
    sigma.assign(n, 0.0);
    if (n > 0) {
      // Bandwidth: the larger gap to a sorted neighbour, the bounds counting as neighbours...
      std::vector<std::size_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return mu[a] < mu[b]; });
      std::vector<double> s(n + 2);
      s[0] = lo;
      for (std::size_t i = 0; i < n; ++i) s[i + 1] = mu[order[i]];
      s[n + 1] = hi;
      std::vector<double> sorted_sigma(n);
      for (std::size_t i = 0; i < n; ++i) sorted_sigma[i] = std::max(s[i + 1] - s[i], s[i + 2] - s[i + 1]);
      // ...except for the outermost kernels, which (consider_endpoints off) only look inwards.
      if (!o.consider_endpoints && n >= 2) {
        sorted_sigma[0] = s[2] - s[1];
        sorted_sigma[n - 1] = s[n] - s[n - 1];
      }
      // "Magic clip" (Bergstra et al.): no kernel narrower than the range / min(100, 1 + kernels).
      const double max_sigma = hi - lo;
      const double min_sigma = o.consider_magic_clip ? (hi - lo) / std::min(100.0, 1.0 + (n + 1.0)) : 1e-12;
      for (std::size_t i = 0; i < n; ++i) sigma[order[i]] = std::clamp(sorted_sigma[i], min_sigma, max_sigma);
    }
    // The prior: one wide kernel over the whole range.
    mu.push_back(0.5 * (lo + hi));
    sigma.push_back(hi - lo);
    log_mass.resize(mu.size());
    for (std::size_t k = 0; k < mu.size(); ++k) log_mass[k] = log_gauss_mass((lo - mu[k]) / sigma[k], (hi - mu[k]) / sigma[k]);
  }

  void build_categorical(const std::vector<double>& obs, const TpeOptions& o) {
    const std::size_t c = dim->choices.size();
    const std::size_t n = obs.size();
    if (n == 0) {
      probs.assign(1, std::vector<double>(c, 1.0 / static_cast<double>(c)));
    } else {
      // Each observation's kernel: its own category plus prior_weight / kernels
      // spread over all; the last kernel (the prior) is uniform.
      const double base = o.prior_weight / static_cast<double>(n + 1);
      probs.assign(n + 1, std::vector<double>(c, base));
      for (std::size_t i = 0; i < n; ++i) probs[i][static_cast<std::size_t>(obs[i])] += 1.0;
      for (auto& row : probs) {
        double sum = 0.0;
        for (double p : row) sum += p;
        if (sum > 0)
          for (double& p : row) p /= sum;
      }
    }
    log_probs = probs;
    for (auto& row : log_probs)
      for (double& p : row) p = std::log(p);
  }

  std::size_t components() const { return dim->is_numeric() ? mu.size() : probs.size(); }

  /// A value drawn from component k, in the dimension's own units (ints rounded, bounds kept).
  double draw(std::size_t k, Rng& rng) const {
    if (!dim->is_numeric()) return static_cast<double>(rng.categorical(probs[k]));
    // Truncated normal by rejection. The kernel's centre is inside [lo, hi] and
    // its width at most hi - lo, so at least ~34% of draws are accepted.
    double t = 0.5 * (lo + hi);
    bool accepted = false;
    for (int tries = 0; tries < 10000 && !accepted; ++tries) {
      t = mu[k] + sigma[k] * rng.normal();
      accepted = t >= lo && t <= hi;
    }
    if (!accepted) t = lo + (hi - lo) * rng.uniform();  // unreachable in practice; keeps the result defined
    double x = dim->is_log() ? std::exp(t) : t;
    if (dim->kind == DimensionKind::Int) x = dim->low + std::nearbyint(x - dim->low);  // half to even, as np.round
    return std::clamp(x, dim->low, dim->high);
  }

  /// log density (numeric: in the transformed space; the Jacobian cancels in
  /// l/g) or log mass (integers, categoricals) of x under component k.
  double log_pdf(std::size_t k, double x) const {
    if (!dim->is_numeric()) return log_probs[k][static_cast<std::size_t>(x)];
    if (dim->kind == DimensionKind::Int) {
      const double left = transform(x - 0.5), right = transform(x + 0.5);
      return log_gauss_mass((left - mu[k]) / sigma[k], (right - mu[k]) / sigma[k]) - log_mass[k];
    }
    const double z = (transform(x) - mu[k]) / sigma[k];
    return -0.5 * z * z - kLogSqrt2Pi - std::log(sigma[k]) - log_mass[k];
  }
};

class ParzenEstimator {
 public:
  /// `dims`: indices into the space this estimator covers (all of them when
  /// multivariate, one otherwise); `observations`: the group's trials, by number.
  ParzenEstimator(const SearchSpace& space, const std::vector<std::size_t>& dims,
                  const std::vector<const Trial*>& observations, const TpeOptions& o)
      : dims_(dims) {
    const std::size_t n = observations.size();
    weights_ = tpe_weights(static_cast<int>(n));
    if (n == 0)
      weights_ = {1.0};
    else
      weights_.push_back(o.prior_weight);
    double sum = 0.0;
    for (double w : weights_) sum += w;
    for (double& w : weights_) w /= sum;
    log_weights_ = weights_;
    for (double& w : log_weights_) w = std::log(w);

    for (std::size_t d : dims) {
      DimensionKernels k;
      k.dim = &space[d];
      std::vector<double> obs(n);
      for (std::size_t i = 0; i < n; ++i) obs[i] = observations[i]->assignment.values[d];
      if (k.dim->is_numeric())
        k.build_numeric(obs, o);
      else
        k.build_categorical(obs, o);
      kernels_.push_back(std::move(k));
    }
  }

  /// A point drawn from the mixture: the values of this estimator's dimensions.
  std::vector<double> draw(Rng& rng) const {
    const std::size_t k = rng.categorical(weights_);
    std::vector<double> x(kernels_.size());
    for (std::size_t j = 0; j < kernels_.size(); ++j) x[j] = kernels_[j].draw(k, rng);
    return x;
  }

  double log_pdf(const std::vector<double>& x) const {
    std::vector<double> per_component(weights_.size());
    for (std::size_t k = 0; k < weights_.size(); ++k) {
      double lp = log_weights_[k];
      for (std::size_t j = 0; j < kernels_.size(); ++j) lp += kernels_[j].log_pdf(k, x[j]);
      per_component[k] = lp;
    }
    return log_sum_exp(per_component);
  }

 private:
  std::vector<std::size_t> dims_;
  std::vector<double> weights_, log_weights_;
  std::vector<DimensionKernels> kernels_;
};

double draw_uniform(const Dimension& d, Rng& rng) {
  if (d.kind == DimensionKind::Categorical)
    return std::min(std::floor(rng.uniform() * static_cast<double>(d.choices.size())),
                    static_cast<double>(d.choices.size() - 1));
  double low = d.low, high = d.high;
  if (d.kind == DimensionKind::Int) {  // every integer gets an equal share, as Optuna's transform does
    low -= 0.5;
    high += 0.5;
  }
  const bool log = d.is_log();
  if (log) {
    low = std::log(low);
    high = std::log(high);
  }
  double x = low + (high - low) * rng.uniform();
  if (log) x = std::exp(x);
  if (d.kind == DimensionKind::Int) x = d.low + std::nearbyint(x - d.low);
  return std::clamp(x, d.low, d.high);  // exp(log(high)) may land an ulp outside
}

void check_history_fits(const SearchSpace& space, const Trial& t) {
  try {
    space.check(t.assignment);
  } catch (const Error& e) {
    throw Error("trial " + std::to_string(t.number) + " in the history does not fit the search space: " + e.what());
  }
}

}  // namespace

const char* to_string(TrialState state) {
  switch (state) {
    case TrialState::Running: return "running";
    case TrialState::Complete: return "complete";
    case TrialState::Failed: return "failed";
    case TrialState::Pruned: return "pruned";
  }
  return "?";
}

bool better(double a, double b, Direction direction) { return direction == Direction::Minimize ? a < b : a > b; }

int best_trial(const std::vector<Trial>& history, Direction direction) {
  int best = -1;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& t = history[i];
    if (t.state != TrialState::Complete || std::isnan(t.value)) continue;
    if (best < 0 || better(t.value, history[best].value, direction) ||
        (t.value == history[best].value && t.number < history[best].number))
      best = static_cast<int>(i);
  }
  return best;
}

int tpe_gamma(int n) { return std::min((n + 9) / 10, 25); }

std::vector<double> tpe_weights(int n) {
  if (n <= 0) return {};
  if (n < 25) return std::vector<double>(n, 1.0);
  // np.linspace(1/n, 1, n - 25) followed by 25 ones: the oldest trials count less.
  std::vector<double> w;
  const int ramp = n - 25;
  for (int i = 0; i < ramp; ++i)
    w.push_back(ramp == 1 ? 1.0 / n : 1.0 / n + (1.0 - 1.0 / n) * static_cast<double>(i) / (ramp - 1));
  w.insert(w.end(), 25, 1.0);
  return w;
}

Assignment RandomSampler::sample(const SearchSpace& space, const std::vector<Trial>&, int trial_number) const {
  Rng rng(seed_, trial_number);
  Assignment a;
  for (const auto& d : space.dimensions()) a.values.push_back(draw_uniform(d, rng));
  return a;
}

TpeSampler::TpeSampler(TpeOptions options) : options_(options), startup_(options.seed, options.direction) {
  if (options_.n_startup_trials < 0)
    throw Error("TPE: n_startup_trials must be >= 0, got " + std::to_string(options_.n_startup_trials));
  if (options_.n_ei_candidates < 1)
    throw Error("TPE: n_ei_candidates must be >= 1, got " + std::to_string(options_.n_ei_candidates));
  if (!(options_.prior_weight > 0) || !std::isfinite(options_.prior_weight))
    throw Error("TPE: prior_weight must be a positive number");
}

Assignment TpeSampler::sample(const SearchSpace& space, const std::vector<Trial>& history, int trial_number) const {
  if (space.empty()) throw Error("TPE: the search space has no dimensions");
  // Finished trials, and (constant liar) the others still running; ordered by number.
  std::vector<const Trial*> finished, running;
  for (const auto& t : history) {
    if (t.number == trial_number) continue;
    if ((t.state == TrialState::Complete && !std::isnan(t.value)) || t.state == TrialState::Pruned) {
      check_history_fits(space, t);
      finished.push_back(&t);
    } else if (t.state == TrialState::Running && options_.constant_liar && !t.assignment.values.empty()) {
      check_history_fits(space, t);
      running.push_back(&t);
    }
  }
  if (static_cast<int>(finished.size()) < options_.n_startup_trials)
    return startup_.sample(space, history, trial_number);

  auto by_number = [](const Trial* a, const Trial* b) { return a->number < b->number; };
  std::stable_sort(finished.begin(), finished.end(), by_number);

  // Split: the gamma(n) best are "good" (l), the rest "bad" (g); ties keep trial order.
  std::vector<const Trial*> ranked = finished;
  const Direction dir = options_.direction;
  // Complete trials by value, then Pruned ones: more epochs first, then by value (a NaN last),
  // as Optuna's _split_trials with its _get_pruned_trial_score.
  auto rank_key = [](const Trial* t) { return t->state == TrialState::Complete ? 0 : 1; };
  std::stable_sort(ranked.begin(), ranked.end(), [dir, &rank_key](const Trial* a, const Trial* b) {
    if (rank_key(a) != rank_key(b)) return rank_key(a) < rank_key(b);
    if (a->state == TrialState::Pruned && a->step != b->step) return a->step > b->step;
    if (std::isnan(a->value) || std::isnan(b->value)) return !std::isnan(a->value) && std::isnan(b->value);
    return better(a->value, b->value, dir);
  });
  const std::size_t n_below = std::min<std::size_t>(tpe_gamma(static_cast<int>(finished.size())), ranked.size());
  std::vector<const Trial*> below(ranked.begin(), ranked.begin() + n_below);
  std::vector<const Trial*> above(ranked.begin() + n_below, ranked.end());
  above.insert(above.end(), running.begin(), running.end());
  std::stable_sort(below.begin(), below.end(), by_number);
  std::stable_sort(above.begin(), above.end(), by_number);

  Rng rng(options_.seed, trial_number);
  Assignment result;
  result.values.assign(space.size(), 0.0);
  // Draw candidates from l, keep the one with the largest log l(x) - log g(x).
  auto choose = [&](const std::vector<std::size_t>& dims) {
    const ParzenEstimator good(space, dims, below, options_);
    const ParzenEstimator bad(space, dims, above, options_);
    std::vector<double> best;
    double best_score = -INFINITY;
    for (int c = 0; c < options_.n_ei_candidates; ++c) {
      auto x = good.draw(rng);
      const double score = good.log_pdf(x) - bad.log_pdf(x);
      if (best.empty() || score > best_score) {  // first maximum wins, as np.argmax
        best = std::move(x);
        best_score = score;
      }
    }
    for (std::size_t j = 0; j < dims.size(); ++j) result.values[dims[j]] = best[j];
  };
  if (options_.multivariate) {
    std::vector<std::size_t> all(space.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    choose(all);
  } else {
    for (std::size_t i = 0; i < space.size(); ++i) choose({i});
  }
  return result;
}

Assignment suggest(const SearchSpace& space, const Sampler& sampler, const std::vector<Trial>& history,
                   int trial_number, const std::vector<Assignment>& enqueued) {
  if (trial_number >= 0 && static_cast<std::size_t>(trial_number) < enqueued.size()) {
    const auto& fixed = enqueued[static_cast<std::size_t>(trial_number)];
    try {
      space.check(fixed);
    } catch (const Error& e) {
      throw Error("enqueued trial " + std::to_string(trial_number) + ": " + e.what());
    }
    return fixed;
  }
  return sampler.sample(space, history, trial_number);
}

std::vector<Trial> optimize(const SearchSpace& space, const Sampler& sampler, int n_trials, const Objective& objective,
                            const std::vector<Assignment>& enqueued, std::vector<Trial> history) {
  int next = 0;
  for (const auto& t : history) next = std::max(next, t.number + 1);
  while (static_cast<int>(history.size()) < n_trials) {
    Trial t;
    t.number = next++;
    t.assignment = suggest(space, sampler, history, t.number, enqueued);
    try {
      t.value = objective(t.assignment);
      if (std::isnan(t.value)) {
        t.state = TrialState::Failed;
        t.message = "the objective returned NaN";
      } else {
        t.state = TrialState::Complete;
      }
    } catch (const std::exception& e) {
      t.state = TrialState::Failed;
      t.value = std::numeric_limits<double>::quiet_NaN();
      t.message = e.what();
    }
    history.push_back(std::move(t));
  }
  return history;
}

}  // namespace quarry::hpo
