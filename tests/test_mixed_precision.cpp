// Mixed precision: dynamic loss scaling (GradScaler, plain tensor math, so tested on the
// CPU), the autocast dtype of train.mixed_precision + train.precision, and its parsing.
#include "testing.hpp"

#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/pipeline/pipeline.hpp"
#include "core/training/mixed_precision.hpp"
#include "core/training/torch_compat.hpp"
#include "quarry/error.hpp"
#include "support.hpp"

namespace test_mixed_precision {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::host;
using quarry::testing::synthetic_pipeline;
using quarry::testing::TempDir;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One float32 parameter with plain SGD (no momentum, no weight decay): p <- p - lr * grad.
struct OneParam {
  torch::Tensor p = torch::tensor({1.0f, 2.0f}).requires_grad_(true);
  torch::optim::SGD opt{std::vector<torch::Tensor>{p}, torch::optim::SGDOptions(0.5)};
  std::vector<torch::Tensor> params{p};

  void set_grad(std::vector<float> g) { p.mutable_grad() = torch::tensor(g); }
  std::vector<float> values() const {
    auto c = p.detach().contiguous();
    return {c[0].item<float>(), c[1].item<float>()};
  }
  std::vector<float> grad() const {
    auto c = p.grad().contiguous();
    return {c[0].item<float>(), c[1].item<float>()};
  }
};

}  // namespace

TEST_CASE("GradScaler: scale() multiplies the loss by 2^16; step() unscales exactly and steps") {
  GradScaler scaler(true);
  CHECK(scaler.enabled());
  CHECK(scaler.scale_value() == 65536.0);
  CHECK(scaler.skipped_steps() == 0);

  OneParam m;
  const auto c = torch::tensor({3.0f, -0.25f});
  const auto loss = (m.p * c).sum();  // 3 - 0.5 = 2.5, gradient c
  const auto scaled = scaler.scale(loss);
  CHECK((scaled.scalar_type() == torch::kFloat32));
  CHECK(scaled.item<double>() == 2.5 * 65536.0);
  CHECK(loss.item<double>() == 2.5);  // the loss itself is left alone
  scaled.backward();
  CHECK(m.grad() == std::vector<float>{3.0f * 65536.0f, -0.25f * 65536.0f});  // backward saw the scaled loss

  CHECK(scaler.step(m.opt, m.params));
  // A power-of-two scale unscales exactly: the gradient is the unscaled one, bit for bit.
  CHECK(m.grad() == std::vector<float>{3.0f, -0.25f});
  CHECK(m.values() == std::vector<float>{1.0f - 0.5f * 3.0f, 2.0f + 0.5f * 0.25f});
  CHECK(scaler.skipped_steps() == 0);
  CHECK(scaler.scale_value() == 65536.0);  // 1 finite step of the 2000 before growth

  // A float64 loss comes back as float32, scaled.
  CHECK((scaler.scale(torch::tensor(0.75, torch::kFloat64)).scalar_type() == torch::kFloat32));
  CHECK(scaler.scale(torch::tensor(0.75, torch::kFloat64)).item<double>() == 0.75 * 65536.0);
}

TEST_CASE("GradScaler: an inf or NaN gradient skips the step, halves the scale and is counted") {
  for (const double bad : {kInf, -kInf, kNaN}) {
    CAPTURE(bad);
    GradScaler scaler(true);
    OneParam m;
    m.set_grad({static_cast<float>(bad), 65536.0f});
    CHECK_FALSE(scaler.step(m.opt, m.params));
    CHECK(m.values() == std::vector<float>{1.0f, 2.0f});  // parameter unchanged
    CHECK(scaler.scale_value() == 32768.0);
    CHECK(scaler.skipped_steps() == 1);
    // The next finite step is taken, at the halved scale.
    m.set_grad({32768.0f, -65536.0f});
    CHECK(scaler.step(m.opt, m.params));
    CHECK(m.grad() == std::vector<float>{1.0f, -2.0f});
    CHECK(m.values() == std::vector<float>{0.5f, 3.0f});
    CHECK(scaler.skipped_steps() == 1);
    CHECK(scaler.scale_value() == 32768.0);
  }
  // A parameter without a gradient is ignored (neither inf nor finite).
  GradScaler scaler(true);
  OneParam m;
  auto no_grad = torch::zeros({3}).requires_grad_(true);
  m.set_grad({65536.0f, 65536.0f});
  CHECK(scaler.step(m.opt, {m.p, no_grad}));
  CHECK(m.values() == std::vector<float>{0.5f, 1.5f});
}

TEST_CASE("GradScaler: the scale doubles after growth_interval finite steps in a row; an inf resets the count") {
  GradScaler::Options o;
  o.init_scale = 8.0;
  o.growth_interval = 3;
  GradScaler scaler(true, o);
  OneParam m;
  // F = a finite step, I = an inf gradient. Worked by hand (interval 3, x2 growth, x0.5 backoff):
  //   F  F  F   I  F  F  I  F  F  F  F  F  F
  //   8  8  16  8  8  8  4  4  4  8  8  8  16
  // The I after two Fs resets the count: without the reset the F after it would grow to 8.
  const std::string events = "FFFIFFIFFFFFF";
  const std::vector<double> expected{8, 8, 16, 8, 8, 8, 4, 4, 4, 8, 8, 8, 16};
  std::vector<double> scales;
  int taken = 0;
  for (const char ev : events) {
    const auto s = static_cast<float>(scaler.scale_value());
    if (ev == 'F') m.set_grad({s, 0.0f});  // unscales to exactly 1
    else m.set_grad({static_cast<float>(kInf), 0.0f});
    const bool stepped = scaler.step(m.opt, m.params);
    CHECK(stepped == (ev == 'F'));
    taken += stepped ? 1 : 0;
    scales.push_back(scaler.scale_value());
  }
  CHECK(scales == expected);
  CHECK(scaler.skipped_steps() == 2);
  CHECK(taken == 11);
  CHECK(m.values() == std::vector<float>{1.0f - 11 * 0.5f, 2.0f});  // each finite step moved p by 0.5 x 1

  // update() alone follows the same rule.
  GradScaler u(true, o);
  u.update(false);
  u.update(false);
  CHECK(u.scale_value() == 8.0);
  u.update(false);
  CHECK(u.scale_value() == 16.0);
  u.update(true);
  CHECK(u.scale_value() == 8.0);
  CHECK(u.skipped_steps() == 0);  // only step() counts skipped steps
}

TEST_CASE("GradScaler disabled: scale() returns the loss unchanged and step() always steps") {
  GradScaler scaler(false);
  CHECK_FALSE(scaler.enabled());
  OneParam m;
  const auto loss = (m.p * torch::tensor({3.0f, -0.25f})).sum();
  const auto same = scaler.scale(loss);
  CHECK(same.is_same(loss));
  const auto d = torch::tensor(0.125, torch::kFloat64);
  CHECK((scaler.scale(d).scalar_type() == torch::kFloat64));  // not even cast

  m.set_grad({3.0f, -0.25f});
  CHECK(scaler.step(m.opt, m.params));
  CHECK(m.grad() == std::vector<float>{3.0f, -0.25f});  // not unscaled
  CHECK(m.values() == std::vector<float>{-0.5f, 2.125f});
  // Even an inf gradient is stepped with (the caller sees the divergence in the loss).
  m.set_grad({static_cast<float>(kInf), 0.0f});
  CHECK(scaler.step(m.opt, m.params));
  CHECK(m.values()[0] == -std::numeric_limits<float>::infinity());
  CHECK(m.values()[1] == 2.125f);
  CHECK(scaler.skipped_steps() == 0);
  CHECK(scaler.scale_value() == 65536.0);
  scaler.update(true);
  CHECK(scaler.scale_value() == 65536.0);
}

TEST_CASE("autocast_dtype: mixed_precision off is float32; bfloat16 and float16; anything else is an error") {
  CHECK((autocast_dtype(false, "bfloat16") == at::kFloat));
  CHECK((autocast_dtype(false, "float16") == at::kFloat));
  CHECK((autocast_dtype(false, "anything") == at::kFloat));
  CHECK((autocast_dtype(true, "bfloat16") == at::kBFloat16));
  CHECK((autocast_dtype(true, "float16") == at::kHalf));
  CHECK_THROWS_WITH_AS(autocast_dtype(true, "float32"), doctest::Contains("train.precision"), Error);
  CHECK_THROWS_AS(autocast_dtype(true, ""), Error);
  CHECK_THROWS_AS(autocast_dtype(true, "BFloat16"), Error);
  TrainConfig cfg;
  CHECK((autocast_dtype(cfg) == at::kFloat));  // off by default
  cfg.mixed_precision = true;
  CHECK((autocast_dtype(cfg) == at::kBFloat16));  // bfloat16 by default
}

namespace {
bool cuda_autocast_on() {
#ifdef QUARRY_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}
at::ScalarType cuda_autocast_dtype() {
#ifdef QUARRY_AUTOCAST_PER_DEVICE
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
}
}  // namespace

TEST_CASE("AutocastScope: CUDA autocast to the dtype for the scope's life, only for a half type on CUDA") {
  // The flag is thread-local state, so this runs without a GPU.
  REQUIRE_FALSE(cuda_autocast_on());
  {
    AutocastScope ac(at::kHalf, torch::Device(torch::kCPU));
    CHECK_FALSE(cuda_autocast_on());  // the CPU trains in float32
  }
  {
    AutocastScope ac(at::kFloat, torch::Device(torch::kCUDA));
    CHECK_FALSE(cuda_autocast_on());  // float32 = off
  }
  {
    AutocastScope ac(at::kBFloat16, torch::Device(torch::kCUDA));
    CHECK(cuda_autocast_on());
    CHECK((cuda_autocast_dtype() == at::kBFloat16));
  }
  CHECK_FALSE(cuda_autocast_on());
  {
    AutocastScope ac(at::kHalf, torch::Device(torch::kCUDA));
    CHECK(cuda_autocast_on());
    CHECK((cuda_autocast_dtype() == at::kHalf));
  }
  CHECK_FALSE(cuda_autocast_on());  // (and the dtype is left at LibTorch's default, float16)
}

TEST_CASE("train.precision: bfloat16 by default; float32 is rejected at parse naming the key and its position") {
  TempDir dir;
  const auto base = synthetic_pipeline(dir.str());
  const auto p = parse_pipeline(base, "t.toml", {}, &host());
  CHECK(p.train.precision == "bfloat16");
  CHECK_FALSE(p.train.mixed_precision);
  CHECK(parse_pipeline(base, "t.toml", {"train.precision=float16"}, &host()).train.precision == "float16");

  std::string text = base;
  const std::string head = "[train]\n";
  const auto at = text.find(head);
  REQUIRE(at != std::string::npos);
  text.insert(at + head.size(), "precision = \"float32\"\n");
  // [train] is line 20 of synthetic_pipeline's text; the value starts at column 13.
  REQUIRE(text.substr(0, at).find("[model]") != std::string::npos);
  CHECK_THROWS_WITH_AS(parse_pipeline(text, "t.toml", {}, &host()),
                       doctest::Contains("t.toml:21:13: key 'train.precision'"), Error);
  CHECK_THROWS_WITH_AS(parse_pipeline(base, "t.toml", {"train.precision=float32"}, &host()),
                       doctest::Contains("train.precision"), Error);
}

}  // namespace test_mixed_precision
