// Quarry's TPE and random search on standard test functions. Prints one
// tab-separated line per (method, function, seed):
//   method  function  seed  best_value  mean_ms_per_suggestion
// bench/tpe/run.sh joins this with optuna_ref.py's lines and summarises.
// The functions must stay identical to optuna_ref.py's.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/hpo/sampler.hpp"
#include "core/hpo/search_space.hpp"

using namespace quarry::hpo;

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Problem {
  std::string name;
  SearchSpace space;
  Objective f;  // minimised
};

// Branin-Hoo on [-5, 10] x [0, 15]; global minimum 0.397887.
double branin(double x1, double x2) {
  const double b = 5.1 / (4 * kPi * kPi), c = 5 / kPi, t = 1 / (8 * kPi);
  const double a = x2 - b * x1 * x1 + c * x1 - 6;
  return a * a + 10 * (1 - t) * std::cos(x1) + 10;
}

// Hartmann-6 on [0, 1]^6; global minimum -3.32237.
double hartmann6(const std::vector<double>& x) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                 {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                 {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                 {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double s = 0;
  for (int i = 0; i < 4; ++i) {
    double e = 0;
    for (int j = 0; j < 6; ++j) e += A[i][j] * (x[j] - P[i][j]) * (x[j] - P[i][j]);
    s += alpha[i] * std::exp(-e);
  }
  return -s;
}

// A curved valley in (log10 lr, log10 wd), lr and wd log-uniform on
// [1e-5, 1e-1]: minimum 0 at lr = 1e-2, wd = 10^-3.3; along the valley wd
// falls as lr rises, bending like the effective-learning-rate ridge.
double lr_wd_valley(double lr, double wd) {
  const double s = std::log10(lr) + 2, t = std::log10(wd) + 3.3;
  const double r = t + 0.8 * s - 0.25 * s * s;
  return 0.3 * s * s + 4 * r * r;
}

// Mixed: an integer on a log scale, a categorical, a real. Minimum 0 at
// batch = 16, optimizer = "b", y = 0.3.
double mixed(double batch, std::size_t optimizer, double y) {
  static const double offset[4] = {0.6, 0.0, 0.3, 0.9};
  const double l = std::log2(batch) - 4;
  return offset[optimizer] + 0.1 * l * l + (y - 0.3) * (y - 0.3);
}

// Adds up the time spent suggesting (the objective's time is not counted).
class TimedSampler : public Sampler {
 public:
  explicit TimedSampler(const Sampler& inner) : inner_(inner) {}
  Assignment sample(const SearchSpace& space, const std::vector<Trial>& history, int trial_number) const override {
    const auto t0 = std::chrono::steady_clock::now();
    auto a = inner_.sample(space, history, trial_number);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return a;
  }
  Direction direction() const override { return inner_.direction(); }
  std::string name() const override { return inner_.name(); }
  mutable double seconds = 0;

 private:
  const Sampler& inner_;
};

std::vector<Problem> problems() {
  std::vector<Problem> p;
  p.push_back({"branin", SearchSpace({Dimension::uniform("x1", -5, 10), Dimension::uniform("x2", 0, 15)}),
               [](const Assignment& a) { return branin(a.values[0], a.values[1]); }});
  SearchSpace h6;
  for (int i = 0; i < 6; ++i) h6.add(Dimension::uniform("x" + std::to_string(i), 0, 1));
  p.push_back({"hartmann6", h6, [](const Assignment& a) { return hartmann6(a.values); }});
  p.push_back({"lr_wd_valley", default_space(),
               [](const Assignment& a) { return lr_wd_valley(a.values[0], a.values[1]); }});
  p.push_back({"mixed",
               SearchSpace({Dimension::integer("batch", 1, 64, true), Dimension::categorical("optimizer", {"a", "b", "c", "d"}),
                            Dimension::uniform("y", 0, 1)}),
               [](const Assignment& a) { return mixed(a.values[0], a.choice(1), a.values[2]); }});
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 30, trials = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seeds")) seeds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--trials")) trials = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_tpe [--seeds N] [--trials N]\n");
      return 2;
    }
  }
  for (const auto& problem : problems()) {
    for (const char* method : {"quarry-tpe", "quarry-tpe-univariate", "quarry-random"}) {
      for (int seed = 0; seed < seeds; ++seed) {
        TpeOptions o;
        o.seed = static_cast<std::uint64_t>(seed);
        o.multivariate = std::strcmp(method, "quarry-tpe-univariate") != 0;
        const TpeSampler tpe(o);
        const RandomSampler random(static_cast<std::uint64_t>(seed));
        const Sampler& sampler = std::strcmp(method, "quarry-random") == 0 ? static_cast<const Sampler&>(random) : tpe;
        const TimedSampler timed(sampler);
        const auto history = optimize(problem.space, timed, trials, problem.f);
        const double best = history[static_cast<std::size_t>(best_trial(history, Direction::Minimize))].value;
        std::printf("%s\t%s\t%d\t%.10g\t%.6f\n", method, problem.name.c_str(), seed, best, 1000 * timed.seconds / trials);
      }
    }
  }
  return 0;
}
