// Student's t (through the regularised incomplete beta function, evaluated by its continued
// fraction with the modified Lentz method), the paired t-test, and the seeded bootstrap.
#include "core/report/significance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "quarry/error.hpp"

namespace quarry::report {

namespace {

/// The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)).
double beta_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300, eps = 1e-16;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::abs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    // Even step.
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    // Odd step.
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double step = d * c;
    h *= step;
    if (std::abs(step - 1) < eps) break;
  }
  return h;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

double sample_std(const std::vector<double>& v, double mean) {
  if (v.size() < 2) return 0;
  double sq = 0;
  for (double x : v) sq += (x - mean) * (x - mean);
  return std::sqrt(sq / static_cast<double>(v.size() - 1));
}

}  // namespace

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0)) throw Error("incomplete_beta: a and b must be > 0");
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front =
      std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw Error("student_t_cdf: degrees of freedom must be > 0");
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));  // P(T > |t|)
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw Error("student_t_quantile: p must be in (0, 1)");
  if (p == 0.5) return 0;
  // Bisection on the CDF: monotone, and 200 halvings of any bracket reach double precision.
  double lo = -1, hi = 1;
  while (student_t_cdf(lo, df) > p) lo *= 2;
  while (student_t_cdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-15 * std::max(1.0, std::abs(hi)); ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

TTest paired_t_test(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw Error("paired_t_test: the two samples must pair up (same length)");
  TTest r;
  r.n = a.size();
  if (r.n < 2) return r;
  std::vector<double> d(r.n);
  for (std::size_t i = 0; i < r.n; ++i) d[i] = a[i] - b[i];
  r.mean_diff = mean_of(d);
  const double s = sample_std(d, r.mean_diff);
  r.valid = true;
  if (s < 1e-12) {
    const bool zero = std::abs(r.mean_diff) < 1e-12;
    r.t = zero ? 0 : std::copysign(std::numeric_limits<double>::infinity(), r.mean_diff);
    r.p = zero ? 1 : 0;
    return r;
  }
  const double df = static_cast<double>(r.n - 1);
  r.t = r.mean_diff / (s / std::sqrt(static_cast<double>(r.n)));
  r.p = incomplete_beta(df / 2, 0.5, df / (df + r.t * r.t));
  return r;
}

Interval t_interval(const std::vector<double>& values, double level) {
  const double m = mean_of(values);
  if (values.size() < 2) return {m, m};
  const double df = static_cast<double>(values.size() - 1);
  const double half = student_t_quantile(0.5 + level / 2, df) * sample_std(values, m) /
                      std::sqrt(static_cast<double>(values.size()));
  return {m - half, m + half};
}

Interval bootstrap_mean_interval(const std::vector<double>& values, double level, std::size_t resamples,
                                 std::uint64_t seed) {
  if (values.empty()) return {};
  if (values.size() == 1) return {values[0], values[0]};
  if (resamples < 2) throw Error("bootstrap_mean_interval: needs at least 2 resamples");
  std::mt19937_64 rng(seed);
  const std::uint64_t n = values.size();
  std::vector<double> means(resamples);
  for (auto& m : means) {
    double s = 0;
    for (std::uint64_t i = 0; i < n; ++i) s += values[rng() % n];  // modulo bias ~n / 2^64: none that shows
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  auto quantile = [&](double q) {  // linear interpolation between order statistics (numpy's default)
    const double pos = q * static_cast<double>(resamples - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const double f = pos - static_cast<double>(i);
    return i + 1 < resamples ? means[i] + f * (means[i + 1] - means[i]) : means[i];
  };
  return {quantile((1 - level) / 2), quantile((1 + level) / 2)};
}

}  // namespace quarry::report
