// The report's statistics (core/report/significance.hpp) against scipy, computed here by
// Debian's /usr/bin/python3 (python3-scipy; scripts/setup.sh --ci installs it). Without
// scipy the comparisons are skipped with a message; the self-checks still run.
#include "testing.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/report/significance.hpp"
#include "core/util/process.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_significance {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::report;
using quarry::testing::TempDir;

namespace {

const char* kPython = "/usr/bin/python3";

bool have_scipy() {
  static const bool yes = [] {
    try {
      return run_program({kPython, "-c", "import scipy.stats"}, 120, true).status == 0;
    } catch (const Error&) {
      return false;
    }
  }();
  if (!yes) MESSAGE("skipped the scipy comparison: /usr/bin/python3 cannot import scipy (Debian: python3-scipy)");
  return yes;
}

/// Run `code` (numpy as np, scipy.stats as st, scipy.special as sp imported) and read the
/// numbers it prints, whitespace separated.
std::vector<double> python_numbers(const std::string& code) {
  TempDir dir;
  const auto script = dir.path() / "values.py", out = dir.path() / "values.txt";
  std::ofstream(script) << "import numpy as np\nimport scipy.stats as st\nimport scipy.special as sp\n" << code;
  const auto r = run_program({kPython, script.string()}, 300, false, ChildIo{out});
  REQUIRE_MESSAGE(r.status == 0, "python failed on:\n" << code);
  std::ifstream in(out);
  std::vector<double> v;
  for (std::string tok; in >> tok;) v.push_back(tok == "nan" ? std::nan("") : std::stod(tok));
  return v;
}

std::string py_list(const std::vector<double>& v) {
  std::string s = "[";
  for (double x : v) s += fmt::format("{:.17g},", x);
  return s + "]";
}

void close(double got, double want, double rel, double abs = 1e-300) {
  CHECK_MESSAGE(std::abs(got - want) <= std::max(abs, rel * std::abs(want)), "got " << fmt::format("{:.17g}", got)
                                                                                    << " want "
                                                                                    << fmt::format("{:.17g}", want));
}

}  // namespace

TEST_CASE("significance: Student's t CDF, quantile and the incomplete beta function against scipy") {
  const std::vector<double> ts = {-40, -5, -2.5, -1, -0.3, 0, 0.7, 1.96, 3, 10, 40};
  const std::vector<double> dfs = {1, 2, 3, 4.5, 9, 29, 100};
  const std::vector<double> ps = {0.001, 0.025, 0.1, 0.5, 0.9, 0.975, 0.995};
  // Self-checks: symmetry, the closed form for df = 1 (Cauchy), monotonicity.
  for (double t : ts) {
    close(student_t_cdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12, 1e-15);
    close(student_t_cdf(-t, 7) + student_t_cdf(t, 7), 1, 1e-13);
  }
  CHECK(student_t_cdf(2, 5) > student_t_cdf(1.9, 5));
  close(student_t_quantile(0.975, 1), std::tan(M_PI * 0.475), 1e-10);
  CHECK_THROWS_AS(student_t_quantile(1, 3), Error);
  CHECK_THROWS_AS(student_t_cdf(1, 0), Error);
  if (!have_scipy()) return;

  std::string code;
  for (double df : dfs)
    for (double t : ts) code += fmt::format("print(repr(st.t.cdf({:.17g}, {:.17g})))\n", t, df);
  for (double df : dfs)
    for (double p : ps) code += fmt::format("print(repr(st.t.ppf({:.17g}, {:.17g})))\n", p, df);
  const std::vector<std::tuple<double, double, double>> betas = {
      {0.5, 0.5, 0.3}, {2, 3, 0.4}, {10, 0.5, 0.95}, {0.5, 14.5, 0.01}, {50, 50, 0.5}, {3.5, 0.5, 0.999}};
  for (const auto& [a, b, x] : betas) code += fmt::format("print(repr(sp.betainc({:.17g}, {:.17g}, {:.17g})))\n", a, b, x);
  const auto want = python_numbers(code);
  REQUIRE(want.size() == dfs.size() * (ts.size() + ps.size()) + betas.size());
  std::size_t k = 0;
  for (double df : dfs)
    for (double t : ts) {
      INFO("cdf t = " << t << ", df = " << df);
      close(student_t_cdf(t, df), want[k++], 1e-10, 1e-15);
    }
  for (double df : dfs)
    for (double p : ps) {
      INFO("ppf p = " << p << ", df = " << df);
      // scipy's own ppf is good to a few 1e-9 (its values for p and 1 - p differ by that much);
      // the CDF at the quantile shows this one is exact to rounding.
      const double q = student_t_quantile(p, df);
      close(q, want[k++], 2e-8, 1e-12);
      close(student_t_cdf(q, df), p, 1e-13);
    }
  for (const auto& [a, b, x] : betas) {
    INFO("betainc " << a << ", " << b << ", " << x);
    close(incomplete_beta(a, b, x), want[k++], 1e-10, 1e-15);
  }
}

TEST_CASE("significance: the paired t-test and the t interval against scipy") {
  // Three seeds each, as a report has them, and a longer sample.
  const std::vector<std::pair<std::vector<double>, std::vector<double>>> samples = {
      {{0.61, 0.62, 0.63}, {0.55, 0.55, 0.55}},
      {{0.52, 0.48, 0.51}, {0.50, 0.50, 0.50}},
      {{0.40, 0.45}, {0.30, 0.34}},
      {{0.9, 0.7, 0.8, 0.85, 0.77, 0.81, 0.79, 0.93}, {0.8, 0.75, 0.79, 0.8, 0.7, 0.82, 0.72, 0.88}}};
  for (const auto& [a, b] : samples) {
    const auto t = paired_t_test(a, b);
    CHECK(t.valid);
    CHECK(t.n == a.size());
  }
  // Constant differences: scipy answers nan; here a difference that is always the same is
  // certain (p = 0) and no difference is none (p = 1).
  CHECK(paired_t_test({0.5, 0.6, 0.7}, {0.5, 0.6, 0.7}).p == 1);
  CHECK(paired_t_test({0.6, 0.7, 0.8}, {0.5, 0.6, 0.7}).p == 0);
  CHECK_FALSE(paired_t_test({0.6}, {0.5}).valid);
  CHECK_FALSE(paired_t_test({0.6}, {0.5}).significant(0.05));
  CHECK_THROWS_AS(paired_t_test({0.6, 0.7}, {0.5}), Error);
  const auto ci1 = t_interval({0.7});
  CHECK(ci1.lo == 0.7);
  CHECK(ci1.hi == 0.7);
  if (!have_scipy()) return;
  std::string code;
  for (const auto& [a, b] : samples) {
    code += fmt::format("r = st.ttest_rel({}, {})\nprint(repr(float(r.statistic)), repr(float(r.pvalue)))\n",
                        py_list(a), py_list(b));
    code += fmt::format("x = np.array({})\nlo, hi = st.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=st.sem(x))\n"
                        "print(repr(lo), repr(hi))\n",
                        py_list(a));
  }
  const auto want = python_numbers(code);
  REQUIRE(want.size() == 4 * samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& [a, b] = samples[i];
    const auto t = paired_t_test(a, b);
    close(t.t, want[4 * i], 1e-9);
    close(t.p, want[4 * i + 1], 1e-9);
    const auto ci = t_interval(a);
    close(ci.lo, want[4 * i + 2], 1e-10);
    close(ci.hi, want[4 * i + 3], 1e-10);
  }
  CHECK(paired_t_test(samples[0].first, samples[0].second).significant(0.05));   // p ~ 0.003
  CHECK_FALSE(paired_t_test(samples[1].first, samples[1].second).significant(0.05));
}

TEST_CASE("significance: the bootstrap interval is seeded, stable, and agrees with scipy's percentile bootstrap") {
  const std::vector<double> v = {0.613, 0.641, 0.587, 0.662, 0.629, 0.594, 0.703, 0.618, 0.602, 0.655};
  const auto a = bootstrap_mean_interval(v);
  const auto b = bootstrap_mean_interval(v);
  CHECK(a.lo == b.lo);  // the same bits: the report is byte-stable
  CHECK(a.hi == b.hi);
  const auto other = bootstrap_mean_interval(v, 0.95, kBootstrapResamples, kBootstrapSeed + 1);
  CHECK((other.lo != a.lo || other.hi != a.hi));
  CHECK(std::abs(other.lo - a.lo) < 0.005);
  double mean = 0;
  for (double x : v) mean += x / static_cast<double>(v.size());
  CHECK(a.lo < mean);
  CHECK(a.hi > mean);
  CHECK(bootstrap_mean_interval({0.5}).lo == 0.5);
  CHECK(bootstrap_mean_interval({0.5}).hi == 0.5);
  // Three seeds: each extreme resample (all three draws the same value) has probability
  // 1/27 > 2.5%, so the 95% interval is the seeds' range: with so few the bootstrap says no more.
  const auto three = bootstrap_mean_interval({0.5, 0.6, 0.9});
  CHECK(three.lo == 0.5);
  CHECK(three.hi == 0.9);
  const auto same = bootstrap_mean_interval({0.4, 0.4, 0.4});
  CHECK(same.lo == doctest::Approx(0.4));
  CHECK(same.hi == doctest::Approx(0.4));
  if (!have_scipy()) return;
  // scipy draws with its own generator: the intervals agree within Monte Carlo error
  // (the endpoints' standard error here is about 0.0005 for 10,000 resamples).
  const auto want = python_numbers(fmt::format(
      "r = st.bootstrap(({},), np.mean, confidence_level=0.95, n_resamples=100000, method='percentile', "
      "random_state=np.random.default_rng(1))\nprint(repr(r.confidence_interval.low), "
      "repr(r.confidence_interval.high))\n",
      py_list(v)));
  REQUIRE(want.size() == 2);
  CHECK(std::abs(a.lo - want[0]) < 0.002);
  CHECK(std::abs(a.hi - want[1]) < 0.002);
}

}  // namespace test_significance
