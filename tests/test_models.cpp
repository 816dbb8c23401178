// The vision_models plugin, created through the real host as a run would.
#include "testing.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <string>

#include <torch/torch.h>

#include "core/host/plugin_host.hpp"
#include "quarry/error.hpp"
#include "paths.hpp"

namespace test_models {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using quarry::testing::plugin_dir;

namespace {

struct QuietLogger : Logger {
  void debug(const std::string&) override {}
  void info(const std::string&) override {}
  void warn(const std::string&) override {}
};

const PluginHost& host() {
  static QuietLogger log;
  static PluginHost h = [] {
    PluginHost loaded(log);
    loaded.load_directory(plugin_dir());
    return loaded;
  }();
  return h;
}

Params params_of(const std::string& model, const std::map<std::string, ParamValue>& values = {}) {
  Params p("model '" + model + "'");
  for (const auto& [k, v] : values) p.set(k, v);
  return p;
}

std::shared_ptr<Model> make(const std::string& name, const ModelSpec& spec,
                            const std::map<std::string, ParamValue>& values = {}) {
  return host().make_model(name, params_of(name, values), spec);
}

std::int64_t parameter_count(const Model& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

const ModelSpec kFashion{1, 28, 28, 10};
const ModelSpec kCifar10{3, 32, 32, 10};
const ModelSpec kCifar100{3, 32, 32, 100};

const char* const kModels[] = {"resnet18", "wide_resnet", "vgg11_bn", "small_cnn"};

}  // namespace

TEST_CASE("every vision model is registered by the plugin") {
  for (const auto* name : kModels) {
    INFO(name);
    const auto* c = host().find(ComponentKind::Model, name);
    REQUIRE(c != nullptr);
    CHECK(c->plugin == "vision_models");
  }
}

TEST_CASE("logits and features have the documented shapes for 1x28x28 and 3x32x32 inputs") {
  torch::NoGradGuard no_grad;
  const std::map<std::string, std::int64_t> feature_dims{
      {"resnet18", 512}, {"wide_resnet", 128}, {"vgg11_bn", 512}, {"small_cnn", 128}};
  for (const auto* name : kModels) {
    for (const auto& spec : {kFashion, kCifar10, ModelSpec{3, 8, 8, 7}}) {
      auto model = make(name, spec);
      model->eval();
      CHECK(model->feature_dim() == feature_dims.at(name));
      for (const std::int64_t batch : {1, 5}) {
        INFO(name << " input " << spec.in_channels << "x" << spec.height << "x" << spec.width << " batch " << batch);
        const auto out = model->forward(torch::randn({batch, spec.in_channels, spec.height, spec.width}));
        CHECK(out.logits.sizes() == torch::IntArrayRef({batch, spec.num_classes}));
        CHECK(out.features.sizes() == torch::IntArrayRef({batch, model->feature_dim()}));
        CHECK(torch::isfinite(out.logits).all().item<bool>());
      }
    }
  }
}

TEST_CASE("training mode runs forward and backward on a batch") {
  for (const auto* name : kModels) {
    INFO(name);
    auto model = make(name, kFashion);
    model->train();
    const auto out = model->forward(torch::randn({4, 1, 28, 28}));
    torch::nn::functional::cross_entropy(out.logits, torch::tensor({0, 1, 2, 3})).backward();
    for (const auto& p : model->parameters()) CHECK(p.grad().defined());
  }
}

TEST_CASE("parameter counts match the architectures as published") {
  // ResNet-18, CIFAR variant: the reference protocol's count.
  CHECK(parameter_count(*make("resnet18", kCifar10)) == 11'173'962);
  CHECK(parameter_count(*make("resnet18", kFashion)) == 11'172'810);  // stem 1 x 64 x 3 x 3
  CHECK(parameter_count(*make("resnet18", kCifar100)) == 11'220'132);
  CHECK(parameter_count(*make("resnet18", kCifar10, {{"width", std::int64_t{32}}})) == 2'797'610);
  // WRN-28-2 (Zagoruyko & Komodakis 2016, convs without bias): 1.47M as in the paper.
  CHECK(parameter_count(*make("wide_resnet", kCifar10)) == 1'467'610);
  CHECK(parameter_count(*make("wide_resnet", kCifar10, {{"depth", std::int64_t{16}}, {"widen", std::int64_t{1}}})) ==
        175'066);
  // VGG-11-BN with conv biases (as torchvision), GAP and Linear(512, 10).
  CHECK(parameter_count(*make("vgg11_bn", kCifar10)) == 9'231'114);
  CHECK(parameter_count(*make("vgg11_bn", kFashion)) == 9'229'962);
  CHECK(parameter_count(*make("small_cnn", kCifar10)) == 29'098);
  CHECK(parameter_count(*make("small_cnn", kFashion)) == 28'522);
}

TEST_CASE("width, widen, feature_dim and in_channels change what they should") {
  torch::NoGradGuard no_grad;
  auto narrow = make("resnet18", kCifar10, {{"width", std::int64_t{16}}});
  CHECK(narrow->feature_dim() == 128);
  CHECK(narrow->named_parameters()["stem.weight"].sizes() == torch::IntArrayRef({16, 3, 3, 3}));
  CHECK(narrow->named_parameters()["layer4.1.conv2.weight"].sizes() == torch::IntArrayRef({128, 128, 3, 3}));

  // in_channels overrides the data's channel count; 0 (the default) takes it from the data.
  auto gray = make("resnet18", kCifar10, {{"in_channels", std::int64_t{1}}});
  CHECK(gray->named_parameters()["stem.weight"].sizes() == torch::IntArrayRef({64, 1, 3, 3}));
  gray->eval();
  CHECK(gray->forward(torch::randn({2, 1, 32, 32})).logits.sizes() == torch::IntArrayRef({2, 10}));
  for (const auto* name : kModels) {
    INFO(name);
    auto m = make(name, kCifar10, {{"in_channels", std::int64_t{5}}});
    m->eval();
    CHECK(m->forward(torch::randn({2, 5, 16, 16})).logits.sizes() == torch::IntArrayRef({2, 10}));
  }

  auto wide = make("wide_resnet", kCifar10, {{"widen", std::int64_t{4}}, {"depth", std::int64_t{16}}});
  CHECK(wide->feature_dim() == 256);
  auto small = make("small_cnn", kFashion, {{"width", std::int64_t{8}}, {"feature_dim", std::int64_t{20}}});
  CHECK(small->feature_dim() == 20);
  CHECK(small->named_parameters()["conv2.weight"].sizes() == torch::IntArrayRef({16, 8, 3, 3}));
  small->eval();
  CHECK(small->forward(torch::randn({3, 1, 28, 28})).features.sizes() == torch::IntArrayRef({3, 20}));
}

TEST_CASE("dropout is active only in training mode") {
  auto m = make("wide_resnet", kCifar10, {{"depth", std::int64_t{10}}, {"widen", std::int64_t{1}}, {"dropout", 0.5}});
  const auto x = torch::randn({2, 3, 16, 16});
  m->eval();
  CHECK(torch::equal(m->forward(x).logits, m->forward(x).logits));
  m->train();  // BN in training mode is deterministic too, so any difference is dropout's
  CHECK(!torch::equal(m->forward(x).logits, m->forward(x).logits));
}

TEST_CASE("the same seed gives identical initial weights, another seed different ones") {
  for (const auto* name : kModels) {
    INFO(name);
    torch::manual_seed(7);
    auto a = make(name, kCifar10);
    torch::manual_seed(7);
    auto b = make(name, kCifar10);
    torch::manual_seed(8);
    auto c = make(name, kCifar10);
    const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
    REQUIRE(pa.size() == pb.size());
    bool all_equal = true, any_differs = false;
    for (std::size_t i = 0; i < pa.size(); ++i) {
      all_equal = all_equal && torch::equal(pa[i], pb[i]);
      any_differs = any_differs || !torch::equal(pa[i], pc[i]);
    }
    CHECK(all_equal);
    CHECK(any_differs);
  }
}

TEST_CASE("PyTorch's default initialisation is kept") {
  // BatchNorm starts at weight 1, bias 0; convs are kaiming_uniform(a = sqrt(5)),
  // i.e. bounded by 1 / sqrt(fan_in).
  auto m = make("resnet18", kCifar10);
  auto named = m->named_parameters();
  CHECK(torch::equal(named["stem_bn.weight"], torch::ones({64})));
  CHECK(torch::equal(named["stem_bn.bias"], torch::zeros({64})));
  const double bound = 1.0 / std::sqrt(3.0 * 9.0);
  CHECK(named["stem.weight"].abs().max().item<double>() <= bound);
  CHECK(named["stem.weight"].abs().max().item<double>() > 0.9 * bound);
}

TEST_CASE("bad parameters are errors naming the parameter") {
  // Through the host: the ParamSpec ranges catch them first.
  CHECK_THROWS_WITH_AS(make("resnet18", kCifar10, {{"width", std::int64_t{0}}}), doctest::Contains("'width'"), Error);
  CHECK_THROWS_WITH_AS(make("small_cnn", kCifar10, {{"feature_dim", std::int64_t{-1}}}),
                       doctest::Contains("'feature_dim'"), Error);
  CHECK_THROWS_WITH_AS(make("vgg11_bn", kCifar10, {{"in_channels", std::int64_t{-2}}}),
                       doctest::Contains("'in_channels'"), Error);
  CHECK_THROWS_WITH_AS(make("wide_resnet", kCifar10, {{"dropout", 1.5}}), doctest::Contains("'dropout'"), Error);
  // A depth in range that is not 6n + 4 only the model can reject.
  CHECK_THROWS_WITH_AS(make("wide_resnet", kCifar10, {{"depth", std::int64_t{27}}}),
                       doctest::Contains("parameter 'depth' must be 6n + 4"), Error);

  // Called directly, without the host's checks, the constructors still name the key.
  auto direct = [](const std::string& name, const std::map<std::string, ParamValue>& values) {
    const auto& c = host().get(ComponentKind::Model, name);
    auto p = params_of(name);
    for (const auto& s : c.info.params) p.set(s.name, *s.default_value);
    for (const auto& [k, v] : values) p.set(k, v);
    return c.info.make_model(p, kCifar10);
  };
  CHECK_THROWS_WITH_AS(direct("resnet18", {{"width", std::int64_t{0}}}), doctest::Contains("parameter 'width'"), Error);
  CHECK_THROWS_WITH_AS(direct("small_cnn", {{"width", std::int64_t{-4}}}), doctest::Contains("parameter 'width'"), Error);
  CHECK_THROWS_WITH_AS(direct("wide_resnet", {{"widen", std::int64_t{0}}}), doctest::Contains("parameter 'widen'"), Error);
  CHECK_THROWS_WITH_AS(direct("wide_resnet", {{"depth", std::int64_t{4}}}), doctest::Contains("parameter 'depth'"), Error);
  CHECK_THROWS_WITH_AS(direct("wide_resnet", {{"dropout", 1.0}}), doctest::Contains("parameter 'dropout'"), Error);
  CHECK_THROWS_WITH_AS(direct("vgg11_bn", {{"in_channels", std::int64_t{-1}}}),
                       doctest::Contains("parameter 'in_channels'"), Error);
  CHECK_THROWS_WITH_AS(host().make_model("small_cnn", params_of("small_cnn"), ModelSpec{0, 28, 28, 10}),
                       doctest::Contains("'in_channels'"), Error);
}

TEST_CASE("models run on CUDA when it is available") {
  if (!torch::cuda::is_available()) {
    MESSAGE("CUDA not available; skipped");
    return;
  }
  for (const auto* name : kModels) {
    INFO(name);
    auto m = make(name, kCifar10);
    m->to(torch::kCUDA);
    m->train();
    auto out = m->forward(torch::randn({4, 3, 32, 32}, torch::kCUDA));
    CHECK(out.logits.device().is_cuda());
    CHECK(out.features.device().is_cuda());
    out.logits.sum().backward();
    m->eval();
    torch::NoGradGuard no_grad;
    CHECK(m->forward(torch::randn({1, 3, 28, 28}, torch::kCUDA)).logits.sizes() == torch::IntArrayRef({1, 10}));
  }
}

TEST_CASE("small_cnn trains an epoch of 1,000 28x28 images quickly on 2 threads") {
  const auto threads = torch::get_num_threads();
  torch::set_num_threads(2);
  torch::manual_seed(0);
  auto m = make("small_cnn", kFashion);
  torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const auto images = torch::randn({1000, 1, 28, 28});
  const auto labels = torch::randint(0, 10, {1000});
  m->train();
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < 1000; i += 32) {
    const auto end = std::min<std::int64_t>(i + 32, 1000);
    opt.zero_grad();
    torch::nn::functional::cross_entropy(m->forward(images.slice(0, i, end)).logits, labels.slice(0, i, end)).backward();
    opt.step();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("small_cnn: one training epoch of 1,000 28x28 images, batch 32, 2 threads: " << seconds << " s");
  // The target is well under a second on 2 idle cores. A shared, overloaded machine cannot time
  // it reliably, so a miss is reported, not failed.
  WARN(seconds < 1.0);

  // Forward timings at batch 32 on CPU, for the documentation.
  m->eval();
  torch::NoGradGuard no_grad;
  for (const auto* name : {"small_cnn", "resnet18"}) {
    auto model = make(name, kCifar10);
    model->eval();
    const auto x = torch::randn({32, 3, 32, 32});
    model->forward(x);  // warm-up
    const int reps = std::string(name) == "resnet18" ? 3 : 20;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) model->forward(x);
    const double ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    MESSAGE(std::string(name) << ": eval forward, batch 32 of 3x32x32, 2 threads: " << ms << " ms");
  }
  torch::set_num_threads(threads);
}

}  // namespace test_models
