// Selection kernels (quarry/selection.hpp) against brute-force references that build
// everything the kernels avoid: the full N x L distance matrix for Core-Set and the
// materialised N x (C*D) gradient embedding for BADGE.
#include "testing.hpp"

#include <chrono>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "quarry/error.hpp"
#include "quarry/selection.hpp"

namespace test_selection {  // one namespace per test file: they compile in unity batches

using namespace quarry;

namespace {

constexpr std::int64_t kBigBudget = std::int64_t{1} << 30;

torch::Tensor gaussian(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randn({rows, cols}, gen, torch::kFloat);
}
torch::Tensor softmax_probs(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  return torch::softmax(gaussian(rows, classes, seed) * 2, 1);
}

// Textbook greedy k-center in float64 with direct differences and a full N x L matrix.
std::vector<std::int64_t> kcenter_brute_force(const torch::Tensor& x32, const torch::Tensor& c32, std::int64_t k) {
  const auto x = x32.to(torch::kDouble);
  const auto n = x.size(0);
  torch::Tensor nearest;
  std::vector<std::int64_t> picked;
  if (c32.size(0) > 0) {
    const auto c = c32.to(torch::kDouble);
    nearest = std::get<0>((x.unsqueeze(1) - c.unsqueeze(0)).pow(2).sum(2).min(1));
  } else {
    picked.push_back(x.pow(2).sum(1).argmax().item<std::int64_t>());
    nearest = (x - x[picked[0]]).pow(2).sum(1);
    nearest[picked[0]] = -std::numeric_limits<double>::infinity();
  }
  while (static_cast<std::int64_t>(picked.size()) < std::min(k, n)) {
    const auto j = nearest.argmax().item<std::int64_t>();
    picked.push_back(j);
    nearest = torch::minimum(nearest, (x - x[j]).pow(2).sum(1));
    nearest[j] = -std::numeric_limits<double>::infinity();
  }
  return picked;
}

// Materialised gradient embedding, N x (C*D), float64.
torch::Tensor gradient_embedding_materialised(const torch::Tensor& p, const torch::Tensor& f) {
  const auto pd = p.to(torch::kDouble);
  auto a = -pd;
  const auto top = pd.argmax(1);
  for (std::int64_t i = 0; i < a.size(0); ++i) a[i][top[i]] += 1.0;
  return (a.unsqueeze(2) * f.to(torch::kDouble).unsqueeze(1)).reshape({p.size(0), -1});
}

// Plain k-means++ seeding over the materialised embedding, with the kernel's draw formula.
std::vector<std::int64_t> badge_brute_force(const torch::Tensor& p, const torch::Tensor& f, std::int64_t k,
                                            std::mt19937_64& rng) {
  const auto g = gradient_embedding_materialised(p, f);
  const auto n = g.size(0);
  std::vector<std::int64_t> picked{g.pow(2).sum(1).argmax().item<std::int64_t>()};
  std::vector<double> nearest(n, std::numeric_limits<double>::infinity());
  while (static_cast<std::int64_t>(picked.size()) < k) {
    const auto d = (g - g[picked.back()]).pow(2).sum(1).contiguous();
    for (std::int64_t i = 0; i < n; ++i) nearest[i] = std::min(nearest[i], d[i].item<double>());
    for (auto c : picked) nearest[c] = 0;
    double total = 0;
    for (double v : nearest) total += v;
    if (total > 0) {
      const double target = uniform01(rng) * total;
      double sum = 0;
      std::int64_t j = 0;
      while (j < n && (sum += nearest[j]) <= target) ++j;
      picked.push_back(j);
    } else {
      auto r = uniform_index(rng, n - static_cast<std::int64_t>(picked.size()));
      for (std::int64_t j = 0; j < n; ++j)
        if (nearest[j] == 0 && std::find(picked.begin(), picked.end(), j) == picked.end() && r-- == 0) {
          picked.push_back(j);
          break;
        }
    }
  }
  return picked;
}

bool distinct(const std::vector<std::int64_t>& v) { return std::set<std::int64_t>(v.begin(), v.end()).size() == v.size(); }

// Runs the kernels on the tensor-op path the GPU takes (QUARRY_SELECTION_TENSOR_OPS=1) for its
// lifetime when `on`, else on the CPU fast paths.
struct TensorOpsPath {
  explicit TensorOpsPath(bool on) {
    if (on) setenv("QUARRY_SELECTION_TENSOR_OPS", "1", 1);
    else unsetenv("QUARRY_SELECTION_TENSOR_OPS");
  }
  ~TensorOpsPath() { unsetenv("QUARRY_SELECTION_TENSOR_OPS"); }
  TensorOpsPath(const TensorOpsPath&) = delete;
  TensorOpsPath& operator=(const TensorOpsPath&) = delete;
};

}  // namespace

TEST_CASE("factorised gradient-embedding distances equal the materialised ones (relative 1e-4, float32)") {
  for (std::int64_t classes : {3, 10}) {
    const auto p = softmax_probs(200, classes, 1 + classes);
    const auto f = torch::relu(gaussian(200, 16, 2 + classes));
    const auto g = gradient_embedding_materialised(p, f);
    GradientEmbedding emb(p, f);
    CHECK(torch::allclose(emb.squared_norms().to(torch::kDouble), g.pow(2).sum(1), 1e-4, 1e-6));
    auto d = torch::empty({200});
    for (std::int64_t j : {0, 17, 199}) {
      emb.squared_distances_to(j, d);
      const auto expected = (g - g[j]).pow(2).sum(1);
      // Absolute slack relative to the largest squared norm: the formula cancels ||g_i||^2 + ||g_j||^2.
      const double scale = g.pow(2).sum(1).max().item<double>();
      CHECK(torch::allclose(d.to(torch::kDouble), expected, 1e-4, 1e-5 * scale));
    }
  }
}

TEST_CASE("BADGE picks what materialised k-means++ picks for the same seed, on both paths") {
  for (bool tensor_ops : {false, true}) {
    const TensorOpsPath path(tensor_ops);
    CAPTURE(tensor_ops);
    for (std::int64_t classes : {3, 10}) {
      for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u}) {
        const auto p = softmax_probs(300, classes, 10 * seed + classes);
        const auto f = torch::relu(gaussian(300, 16, 100 * seed + classes));
        std::mt19937_64 rng_a(seed), rng_b(seed);
        const auto fast = badge_kmeanspp(p, f, 25, rng_a, kBigBudget);
        const auto slow = badge_brute_force(p, f, 25, rng_b);
        CAPTURE(classes);
        CAPTURE(seed);
        CHECK(fast == slow);
        CHECK(distinct(fast));
      }
    }
  }
}

TEST_CASE("Core-Set picks what the full-matrix greedy k-center picks, with any memory budget, on both paths") {
  for (bool tensor_ops : {false, true}) {
    const TensorOpsPath path(tensor_ops);
    CAPTURE(tensor_ops);
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      const auto x = gaussian(300, 16, seed);
      const auto labeled = gaussian(80, 16, seed + 50);
      const auto expected = kcenter_brute_force(x, labeled, 30);
      CAPTURE(seed);
      CHECK(kcenter_greedy(x, labeled, 30, kBigBudget) == expected);
      // 64 floats per block: hundreds of blocks for the bounds and every refresh.
      CHECK(kcenter_greedy(x, labeled, 30, 256) == expected);
      // Many labeled points (the staged initial bounds: probe rows, front rows) and a large k.
      const auto many = gaussian(500, 16, seed + 70);
      CHECK(kcenter_greedy(x, many, 120, 4096) == kcenter_brute_force(x, many, 120));
    }
  }
}

TEST_CASE("Core-Set is exact on clustered features, where the farthest candidates sit in few regions") {
  // 12 tight blobs: the staged initial bounds (probe rows, the exact top candidates' nearest
  // labeled rows) and the lazy refreshes all matter here.
  const auto blobs = gaussian(12, 16, 40) * 4;
  const auto member = [&](std::int64_t rows, std::uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    const auto which = at::randint(12, {rows}, gen, torch::kLong);
    return blobs.index_select(0, which) + gaussian(rows, 16, seed + 1) * 0.5;
  };
  // Seeds chosen so that every step's two farthest candidates differ by >= 4.9e-4 relative
  // (float64), ~30x what float32's ||x||^2 + ||c||^2 - 2 x.c can blur here: a float32 near-tie
  // would test rounding, not the algorithm.
  const auto x = member(1500, 49);
  const auto labeled = member(700, 149);
  const auto expected = kcenter_brute_force(x, labeled, 40);
  for (bool tensor_ops : {false, true}) {
    const TensorOpsPath path(tensor_ops);
    CAPTURE(tensor_ops);
      CHECK(kcenter_greedy(x, labeled, 40, kBigBudget) == expected);
      CHECK(kcenter_greedy(x, labeled, 40, 1000) == expected);
  }
}

TEST_CASE("on CUDA, Core-Set and BADGE pick what they pick on the CPU") {
  if (!torch::cuda::is_available()) {
    MESSAGE("no CUDA device: skipped (the tensor-op path it runs is tested on the CPU above)");
    return;
  }
  const torch::Device gpu(torch::kCUDA);
  const auto x = gaussian(3000, 32, 61);
  const auto labeled = gaussian(900, 32, 62);
  CHECK(kcenter_greedy(x.to(gpu), labeled.to(gpu), 50, kBigBudget) == kcenter_greedy(x, labeled, 50, kBigBudget));
  CHECK(kcenter_greedy(x.to(gpu), labeled.to(gpu), 50, 4096) == kcenter_greedy(x, labeled, 50, kBigBudget));
  const auto p = softmax_probs(2000, 10, 63);
  const auto f = torch::relu(gaussian(2000, 32, 64));
  std::mt19937_64 rng_gpu(7), rng_cpu(7);
  CHECK(badge_kmeanspp(p.to(gpu), f.to(gpu), 40, rng_gpu, kBigBudget) == badge_kmeanspp(p, f, 40, rng_cpu, kBigBudget));
}

TEST_CASE("Core-Set edge cases") {
  const auto x = gaussian(40, 8, 7);
  const auto labeled = gaussian(10, 8, 8);
  SUBCASE("k >= candidates takes all") {
    const auto all = kcenter_greedy(x, labeled, 40, kBigBudget);
    CHECK(all.size() == 40);
    CHECK(distinct(all));
    CHECK(kcenter_greedy(x, labeled, 100, kBigBudget).size() == 40);
  }
  SUBCASE("k = 1 is the farthest point") {
    CHECK(kcenter_greedy(x, labeled, 1, kBigBudget) == kcenter_brute_force(x, labeled, 1));
  }
  SUBCASE("no labeled data starts from the largest norm") {
    const auto picked = kcenter_greedy(x, torch::empty({0, 8}), 5, kBigBudget);
    CHECK(picked.front() == x.pow(2).sum(1).argmax().item<std::int64_t>());
    CHECK(picked == kcenter_brute_force(x, torch::empty({0, 8}), 5));
  }
  SUBCASE("duplicate points: each distinct point once before any copy") {
    const auto base = gaussian(4, 8, 9) * 10;
    const auto dup = base.repeat({5, 1});  // 20 rows, 4 distinct
    const auto picked = kcenter_greedy(dup, torch::empty({0, 8}), 6, kBigBudget);
    CHECK(picked.size() == 6);
    CHECK(distinct(picked));
    std::set<std::int64_t> first4;
    for (int i = 0; i < 4; ++i) first4.insert(picked[i] % 4);
    CHECK(first4.size() == 4);
  }
  SUBCASE("bad input is an error, not a crash") {
    CHECK_THROWS_AS(kcenter_greedy(x, gaussian(3, 5, 1), 2, kBigBudget), Error);
    CHECK_THROWS_AS(kcenter_greedy(x.to(torch::kDouble), labeled, 2, kBigBudget), Error);
  }
}

TEST_CASE("BADGE edge cases") {
  const auto p = softmax_probs(30, 4, 11);
  const auto f = torch::relu(gaussian(30, 8, 12));
  std::mt19937_64 rng(3);
  SUBCASE("k >= N takes all") { CHECK(badge_kmeanspp(p, f, 50, rng, kBigBudget).size() == 30); }
  SUBCASE("k = 1 is the largest-norm embedding") {
    const auto picked = badge_kmeanspp(p, f, 1, rng, kBigBudget);
    REQUIRE(picked.size() == 1);
    CHECK(picked[0] == gradient_embedding_materialised(p, f).pow(2).sum(1).argmax().item<std::int64_t>());
  }
  SUBCASE("a single class: every embedding is 0, draws are uniform and distinct") {
    const auto one = torch::ones({30, 1});
    const auto picked = badge_kmeanspp(one, f, 10, rng, kBigBudget);
    CHECK(picked.size() == 10);
    CHECK(distinct(picked));
    CHECK(picked[0] == 0);  // all norms 0: the first position
    std::mt19937_64 rng_b(3);
    CHECK(picked == badge_brute_force(one, f, 10, rng_b));
  }
  SUBCASE("confident one-hot predictions: all distances 0") {
    const auto onehot = torch::one_hot(torch::arange(30) % 4, 4).to(torch::kFloat);
    const auto picked = badge_kmeanspp(onehot, f, 12, rng, kBigBudget);
    CHECK(picked.size() == 12);
    CHECK(distinct(picked));
  }
  SUBCASE("duplicate points are drawn at most once while others remain") {
    const auto pd = p.narrow(0, 0, 5).repeat({6, 1});
    const auto fd = f.narrow(0, 0, 5).repeat({6, 1});
    const auto picked = badge_kmeanspp(pd, fd, 5, rng, kBigBudget);
    std::set<std::int64_t> groups;
    for (auto i : picked) groups.insert(i % 5);
    CHECK(groups.size() == 5);
  }
  SUBCASE("the memory budget is enforced with both numbers in the message") {
    CHECK_THROWS_WITH_AS(badge_kmeanspp(p, f, 3, rng, 100), doctest::Contains("the budget is 100"), Error);
  }
}

TEST_CASE("uniform draws use a fixed formula") {
  std::mt19937_64 a(42), b(42);
  const auto raw = b();
  CHECK(uniform01(a) == static_cast<double>(raw >> 11) * 0x1.0p-53);
  std::mt19937_64 c(1);
  for (int i = 0; i < 1000; ++i) {
    const auto v = uniform_index(c, 7);
    REQUIRE(v >= 0);
    REQUIRE(v < 7);
  }
}

TEST_CASE("stream draws are SplitMix64's outputs, each drawn on its own") {
  for (const std::uint64_t key : {std::uint64_t{0}, std::uint64_t{12345}, ~std::uint64_t{0}}) {
    std::uint64_t state = key;  // SplitMix64 as Steele, Lea & Flood give it, step by step
    for (std::uint64_t i = 0; i < 1000; ++i) {
      state += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      REQUIRE(stream_uniform01(key, i) == static_cast<double>(z >> 11) * 0x1.0p-53);
    }
  }
  // Uniform on [0, 1): the mean and the share below 0.75 of 100,000 draws (sd 0.0009 and 0.0014).
  double sum = 0;
  int below = 0;
  for (std::uint64_t i = 0; i < 100000; ++i) {
    const double u = stream_uniform01(7, i);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum += u;
    below += u < 0.75;
  }
  CHECK(sum / 100000 == doctest::Approx(0.5).epsilon(0.01));
  CHECK(below / 100000.0 == doctest::Approx(0.75).epsilon(0.01));
}

TEST_CASE("at::parallel_for in code built against the SDK runs on several threads") {
  // The SDK's kernels, the core and the plugins loop with at::parallel_for, a header template
  // that runs the whole range on the calling thread unless its caller is built with OpenMP
  // (Quarry::sdk gives -fopenmp to whatever links it, these tests included).
  const auto before = at::get_num_threads();
  at::set_num_threads(2);
  std::mutex m;
  std::set<std::thread::id> threads;
  at::parallel_for(0, 2, 1, [&](std::int64_t, std::int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::lock_guard<std::mutex> lock(m);
    threads.insert(std::this_thread::get_id());
  });
  at::set_num_threads(before);
  CHECK(threads.size() == 2);
}

}  // namespace test_selection
