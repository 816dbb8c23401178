// The linear and mlp heads' autograd-free training (plugins/models/heads/fast_step.*): their
// gradients against autograd, and whole trainings against autograd + torch::optim::SGD.
#include "testing.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/training/schedule.hpp"
#include "core/training/trainer.hpp"
#include "quarry/random.hpp"
#include "support.hpp"

namespace test_heads {  // one namespace per test file: they compile in unity batches

using namespace quarry;
using namespace quarry::testing;

namespace {
// loss_and_gradients() against autograd on forward(), both under the same dropout draws.
void check_gradients_against_autograd(Model& m, const torch::Tensor& x, const torch::Tensor& y) {
  m.train(true);
  torch::Tensor loss;
  {
    ModelRandomScope scope(17);
    loss = m.loss_and_gradients(x, y);
  }
  REQUIRE(loss.defined());
  std::vector<torch::Tensor> fast;
  for (auto& p : m.parameters()) fast.push_back(p.grad().clone());
  for (auto& p : m.parameters()) p.mutable_grad() = torch::Tensor();
  torch::Tensor ref;
  {
    ModelRandomScope scope(17);
    ref = torch::nn::functional::cross_entropy(m.forward(x).logits, y);
  }
  ref.backward();
  CHECK(loss.item<double>() == doctest::Approx(ref.item<double>()).epsilon(1e-6));
  std::size_t i = 0;
  for (auto& p : m.parameters()) {
    CHECK(torch::allclose(fast[i], p.grad(), 1e-5, 1e-6));
    CHECK(fast[i++].abs().sum().item<double>() > 0);
  }
}
}  // namespace

TEST_CASE("heads: the heads' autograd-free gradients are autograd's") {
  auto gen = at::detail::createCPUGenerator(5);
  const auto x = torch::randn({37, 6}, gen);
  const auto y = torch::randint(0, 4, {37}, gen, torch::kInt64);
  SUBCASE("linear") { check_gradients_against_autograd(*make_head("linear", 6, 4), x, y); }
  SUBCASE("mlp") { check_gradients_against_autograd(*make_head("mlp", 6, 4, {{"hidden", std::int64_t{8}}}), x, y); }
  SUBCASE("mlp with dropout") {
    auto mlp = make_head("mlp", 6, 4, {{"hidden", std::int64_t{8}}, {"dropout", 0.5}});
    check_gradients_against_autograd(*mlp, x, y);
  }
  SUBCASE("twice, a smaller batch in between: the kept buffers are per batch size") {
    auto m = make_head("mlp", 6, 4, {{"hidden", std::int64_t{8}}});
    m->train(true);
    m->loss_and_gradients(x.narrow(0, 0, 5), y.narrow(0, 0, 5));
    check_gradients_against_autograd(*m, x, y);
  }
  // In eval mode the heads decline; heads refuse images, vision models refuse features.
  auto mlp = make_head("mlp", 6, 4, {{"hidden", std::int64_t{8}}});
  mlp->train(false);
  CHECK_FALSE(mlp->loss_and_gradients(x, y).defined());
  CHECK(mlp->forward(x).features.sizes() == torch::IntArrayRef({37, 8}));
  CHECK_THROWS_WITH(host().make_model("linear", Params("linear"), ModelSpec{1, 28, 28, 10}),
                    doctest::Contains("takes feature vectors, but the dataset gives images of 1x28x28"));
  CHECK_THROWS_WITH(host().make_model("small_cnn", Params("small_cnn"), ModelSpec{0, 0, 0, 10, 384}),
                    doctest::Contains("takes images, but the dataset gives feature vectors of 384 values"));
}

TEST_CASE("heads: training through the fast path gives the weights of autograd + torch::optim::SGD") {
  auto gen = at::detail::createCPUGenerator(8);
  const DeviceSplit data{torch::randn({90, 6}, gen), torch::randint(0, 3, {90}, gen, torch::kInt64)};
  std::vector<std::int64_t> labeled;
  for (std::int64_t i = 0; i < 90; i += 2) labeled.push_back(i);
  struct Case {
    const char* head;
    bool nesterov;
    double momentum, weight_decay;
    const char* epoch_mode;
    double dropout;
  };
  for (const Case& c : {Case{"linear", false, 0.9, 5e-4, "sampled", 0}, Case{"linear", true, 0.9, 5e-4, "shuffled", 0},
                        Case{"linear", false, 0.0, 0.0, "shuffled", 0}, Case{"mlp", false, 0.9, 5e-3, "sampled", 0},
                        Case{"mlp", true, 0.9, 5e-4, "shuffled", 0.25}}) {
    CAPTURE(c.head);
    CAPTURE(c.nesterov);
    CAPTURE(c.momentum);
    CAPTURE(c.epoch_mode);
    CAPTURE(c.dropout);
    TrainConfig cfg;
    cfg.epochs = 7;
    cfg.batch_size = 8;  // 45 labels: shuffled epochs end with a batch of 5
    cfg.lr = 0.1;
    cfg.warmup_epochs = 2;
    cfg.nesterov = c.nesterov;
    cfg.momentum = c.momentum;
    cfg.weight_decay = c.weight_decay;
    cfg.epoch_mode = c.epoch_mode;
    const std::vector<std::pair<std::string, ParamValue>> params =
        std::string(c.head) == "mlp"
            ? std::vector<std::pair<std::string, ParamValue>>{{"hidden", std::int64_t{5}}, {"dropout", c.dropout}}
            : std::vector<std::pair<std::string, ParamValue>>{};
    auto fast = make_head(c.head, 6, 3, params);
    auto ref = make_head(c.head, 6, 3, params);
    const auto initial = snapshot_weights(*ref);
    train_model(*fast, cfg, data, {}, {}, labeled, 5);
    // The reference: the trainer's batches and schedule, autograd, the optimiser of every other model.
    auto g = at::detail::createCPUGenerator(5);
    ModelRandomScope scope(5);  // the dropout draws of train_model's seed
    auto idx = torch::tensor(labeled, torch::kInt64);
    auto x = data.images.index_select(0, idx), y = data.labels.index_select(0, idx);
    torch::optim::SGD opt(ref->parameters(), torch::optim::SGDOptions(cfg.lr)
                                                 .momentum(cfg.momentum)
                                                 .weight_decay(cfg.weight_decay)
                                                 .nesterov(cfg.nesterov));
    ref->train(true);
    for (std::int64_t e = 0; e < cfg.epochs; ++e) {
      for (auto& group : opt.param_groups())
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(warmup_cosine(cfg, e));
      for (auto& pos : epoch_batches(static_cast<std::int64_t>(labeled.size()), cfg, g)) {
        opt.zero_grad();
        torch::nn::functional::cross_entropy(ref->forward(x.index_select(0, pos)).logits, y.index_select(0, pos))
            .backward();
        opt.step();
      }
    }
    std::size_t i = 0;
    const auto fast_params = fast->named_parameters();
    for (const auto& p : ref->named_parameters()) {
      CAPTURE(p.key());
      CHECK(torch::allclose(fast_params[p.key()].detach(), p.value().detach(), 1e-4, 1e-5));
      CHECK_FALSE(torch::allclose(p.value().detach(), initial.at(i++), 1e-3, 1e-4));  // it trained
    }
  }
}

}  // namespace test_heads
