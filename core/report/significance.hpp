// Significance over seeds: Student's t distribution, the paired two-sided t-test, the t
// interval of a mean, and a seeded percentile bootstrap interval of a mean.
//
// With a handful of seeds a strategy can beat random by chance alone (Lüth et al. 2023;
// Werner et al. 2024): the report marks a difference only when these tests say so.
// Torch-free; tests/test_significance.cpp compares every function with scipy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quarry::report {

/// The bootstrap's default seed: the same data give the same interval, so a report is
/// byte-stable when it is written again.
inline constexpr std::uint64_t kBootstrapSeed = 20231;
inline constexpr std::size_t kBootstrapResamples = 10000;

/// Regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1].
double incomplete_beta(double a, double b, double x);

/// P(T <= t) for Student's t with `df` > 0 degrees of freedom.
double student_t_cdf(double t, double df);
/// The t with P(T <= t) = p, p in (0, 1).
double student_t_quantile(double p, double df);

/// A paired two-sided t-test of mean(a - b) = 0.
struct TTest {
  std::size_t n = 0;     ///< pairs; < 2: no test (p = 1, valid = false)
  double mean_diff = 0;  ///< mean of a - b
  double t = 0;          ///< ±inf when every difference is the same non-zero value
  double p = 1;          ///< two-sided
  bool valid = false;
  bool significant(double alpha) const { return valid && p < alpha; }
};
/// `a` and `b` pair up by position (the same seed). Differences that are all equal (sample
/// std below 1e-12, rounding) give p = 1 when they are 0 and p = 0 otherwise (scipy: nan).
TTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b);

struct Interval {
  double lo = 0, hi = 0;
};

/// mean ± t_{(1+level)/2, n-1} · s / sqrt(n), s the sample std. n < 2: [mean, mean].
Interval t_interval(const std::vector<double>& values, double level = 0.95);

/// Percentile bootstrap interval of the mean: `resamples` resamples with replacement drawn
/// with std::mt19937_64(seed) (its sequence is fixed by the C++ standard), quantiles of the
/// resampled means interpolated linearly. One value: [v, v]; no value: [0, 0].
Interval bootstrap_mean_interval(const std::vector<double>& values, double level = 0.95,
                                 std::size_t resamples = kBootstrapResamples, std::uint64_t seed = kBootstrapSeed);

}  // namespace quarry::report
