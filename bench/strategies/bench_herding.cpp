// Herding benchmark: Quarry's kernel (quarry/herding.hpp) for max_herding and
// uncertainty_herding on the .npy inputs that herding.py reads (written by `bench_bait gen`).
//
//   bench_herding time DIR N C K max|uncertainty     one selection; prints one JSON line
// max: gamma = 1 (lengthscale 1). uncertainty: margin weights 1 - (p1 - p2), gamma = 1 / the
// smallest squared distance between two labeled points (the plugins' defaults).
#include <iostream>

#include "bench_data.hpp"
#include "quarry/herding.hpp"

namespace {

std::vector<std::int64_t> select(const torch::Tensor& f, const torch::Tensor& lf, const torch::Tensor& p,
                                 std::int64_t k, bool uncertainty) {
  if (!uncertainty) return quarry::kernel_herding(f, lf, torch::Tensor(), 1.0, k, bench::kBudget);
  const auto top2 = std::get<0>(p.topk(2, 1));
  const auto margin = 1 - (top2.select(1, 0) - top2.select(1, 1));
  const double gamma = quarry::herding_gamma_from_labeled(lf, bench::kBudget);
  return quarry::kernel_herding(f, lf, margin, gamma, k, bench::kBudget);
}

int time_case(const std::string& dir, std::int64_t n, std::int64_t c, std::int64_t k, bool uncertainty) {
  const auto f = bench::read_npy(dir + "/features_" + std::to_string(n) + ".npy");
  const auto p = bench::read_npy(dir + "/probs_" + std::to_string(n) + "_" + std::to_string(c) + ".npy");
  const auto lf = bench::read_npy(dir + "/labeled_features.npy");
  select(f.narrow(0, 0, 1000), lf.narrow(0, 0, 200), p.narrow(0, 0, 1000), 10, uncertainty);  // warm-up, as herding.py
  // The first pass: every candidate against every candidate and labeled point (multiply-adds x 2);
  // the lazy re-evaluations come on top.
  char extra[64];
  std::snprintf(extra, sizeof extra, "\"gflop\": %.1f, ", 2.0 * n * (n + lf.size(0)) * f.size(1) / 1e9);
  bench::time_and_print([&] { return select(f, lf, p, k, uncertainty); }, extra);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    torch::set_num_threads(2);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "time" && argc == 7) {
      const std::string which = argv[6];
      if (which != "max" && which != "uncertainty") throw std::runtime_error("unknown strategy " + which);
      return time_case(argv[2], std::stoll(argv[3]), std::stoll(argv[4]), std::stoll(argv[5]), which == "uncertainty");
    }
    std::cerr << "usage: bench_herding time DIR N C K max|uncertainty\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_herding: " << e.what() << "\n";
    return 1;
  }
}
