#include "quarry/random.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <ATen/Context.h>
#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry {

namespace {

struct Scope {
  std::uint64_t seed = 0;
  std::map<std::pair<int, int>, at::Generator> generators;  ///< (device type, index) -> generator
};

thread_local Scope* current = nullptr;
thread_local bool monte_carlo = false;

}  // namespace

ModelRandomScope::ModelRandomScope(std::uint64_t seed) : previous_(current) {
  auto* s = new Scope;
  s->seed = seed;
  current = s;
}

ModelRandomScope::~ModelRandomScope() {
  // A scope lives on the stack of the thread that made it (it cannot be copied or moved), so
  // scopes end in reverse order and the current one is this one.
  delete current;
  current = static_cast<Scope*>(previous_);
}

at::Generator model_generator(const torch::Device& device) {
  at::Generator global = at::globalContext().defaultGenerator(device);  // a handle: shares its state
  if (!current) return global;
  const std::pair<int, int> key{static_cast<int>(device.type()), device.has_index() ? device.index() : 0};
  auto it = current->generators.find(key);
  if (it == current->generators.end()) {
    at::Generator g;
    {
      std::lock_guard<std::mutex> lock(global.mutex());
      g = global.clone();
    }
    g.set_current_seed(current->seed);
    it = current->generators.emplace(key, std::move(g)).first;
  }
  return it->second;
}

MonteCarloScope::MonteCarloScope() : previous_(monte_carlo) { monte_carlo = true; }
MonteCarloScope::~MonteCarloScope() { monte_carlo = previous_; }

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  if (p < 0 || p >= 1) throw Error("dropout: probability must be in [0, 1), got " + std::to_string(p));
  if (!(training || monte_carlo) || p == 0) return x;
  auto gen = model_generator(x.device());
  auto keep = torch::empty_like(x).bernoulli_(1.0 - p, gen);
  return x * keep.div_(1.0 - p);
}

}  // namespace quarry
