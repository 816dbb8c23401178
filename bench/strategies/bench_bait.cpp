// BAIT benchmark: Quarry's kernel (quarry/fisher.hpp) on the .npy inputs that bait.py reads.
//
//   bench_bait gen DIR                          write the inputs (bench_data.hpp)
//   bench_bait gemm                             the matrix-product bound: {"sgemm_gflops", "dgemm_gflops"}
//   bench_bait time DIR N C K VARIANT [PREC]    one selection; VARIANT = ce | ce_top1 | bce | bce_top1,
//                                               PREC = float64 (default) | float32; prints one JSON line
// Run one `time` per process (peak memory is the process's high-water mark).
#include <cstdlib>
#include <iostream>

#include "bench_data.hpp"
#include "quarry/fisher.hpp"

namespace {

quarry::BaitOptions variant(const std::string& name, const std::string& precision) {
  quarry::BaitOptions o;
  if (name == "bce" || name == "bce_top1") o.likelihood = quarry::FisherLikelihood::BinaryCrossEntropy;
  else if (name != "ce" && name != "ce_top1") throw std::runtime_error("unknown variant " + name);
  o.top_classes = name.size() > 4 && name.substr(name.size() - 4) == "top1" ? 1 : 0;
  o.dtype = precision == "float32" ? torch::kFloat : torch::kDouble;
  return o;
}

// Floating-point operations of the kernel (multiply-adds x 2), as fisher.hpp counts its cost:
// the set-up's products (the Fishers' weighted D x D blocks and rank-one terms over the
// candidates and the labeled points twice, the Cholesky factor and inverse, F B and B (F B), each
// candidate's two quadratic forms) and the steps (five P x P by P x r products, the N x D by
// D x 2C'r product and the r x C' by C' x 2r ones).
double gflop(std::int64_t n, std::int64_t l, std::int64_t c, std::int64_t d, std::int64_t k, const quarry::BaitOptions& o) {
  const bool ce = o.likelihood == quarry::FisherLikelihood::CrossEntropy;
  const double width = ce ? c : 1, p = width * d;
  const double rank = ce ? (o.top_classes == 0 ? c : o.top_classes) : (o.top_classes == 1 ? 1 : 2);
  const double rank_one = ce ? (o.top_classes == 0 ? 1 : 2) : 0;
  const double setup = (n + 2.0 * l) * (width * d * d + rank_one * p * p) + p * p * p * (1.0 / 3 + 2.0 / 3 + 2) + 2.0 * n * p * p;
  const auto step = [&](double rows) { return 5 * p * p * rank + rows * (d * width * 2 * rank + rank * width * 2 * rank); };
  const double steps = 2.0 * k * step(n) + k * step(1.5 * k);
  return 2 * (setup + steps) / 1e9;
}

int time_case(const std::string& dir, std::int64_t n, std::int64_t c, std::int64_t k, const quarry::BaitOptions& o) {
  const auto cs = std::to_string(c);
  const auto f = bench::read_npy(dir + "/features_" + std::to_string(n) + ".npy");
  const auto p = bench::read_npy(dir + "/probs_" + std::to_string(n) + "_" + cs + ".npy");
  const auto lf = bench::read_npy(dir + "/labeled_features.npy");
  const auto lp = bench::read_npy(dir + "/labeled_probs_" + cs + ".npy");
  // Warm up as a DAL loop's process is warm when it selects: the same kernel on a small slice
  // (skipped when the full case will not fit anyway). bait.py does the same.
  if (quarry::bait_memory_bytes(n, lf.size(0), c, f.size(1), k, o) <= bench::kBudget)
    quarry::bait_select(p.narrow(0, 0, 500), f.narrow(0, 0, 500), lp.narrow(0, 0, 100), lf.narrow(0, 0, 100), 5, o,
                        bench::kBudget);
  char extra[96];
  std::snprintf(extra, sizeof extra, "\"gflop\": %.1f, \"double\": %s, ", gflop(n, lf.size(0), c, f.size(1), k, o),
                o.dtype == torch::kDouble ? "true" : "false");
  bench::time_and_print([&] { return quarry::bait_select(p, f, lp, lf, k, o, bench::kBudget); }, extra);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    torch::set_num_threads(2);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "gen" && argc == 3) return bench::generate(argv[2]), 0;
    if (mode == "gemm") {
      std::printf("{\"sgemm_gflops\": %.1f, \"dgemm_gflops\": %.1f}\n", bench::gemm_gflops(4096, torch::kFloat),
                  bench::gemm_gflops(4096, torch::kDouble));
      return 0;
    }
    if (mode == "time" && (argc == 7 || argc == 8))
      return time_case(argv[2], std::stoll(argv[3]), std::stoll(argv[4]), std::stoll(argv[5]),
                       variant(argv[6], argc == 8 ? argv[7] : "float64"));
    std::cerr << "usage: bench_bait gen DIR | gemm | time DIR N C K ce|ce_top1|bce|bce_top1 [float64|float32]\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_bait: " << e.what() << "\n";
    return 1;
  }
}
