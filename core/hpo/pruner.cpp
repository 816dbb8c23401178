#include "core/hpo/pruner.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "quarry/error.hpp"

namespace quarry::hpo {

PrunerOptions pruner_options(const HpoConfig& hpo, std::int64_t max_epochs) {
  PrunerOptions o;
  o.kind = hpo.pruner;
  o.max_epochs = max_epochs;
  o.min_epochs = hpo.min_epochs;
  o.reduction_factor = hpo.reduction_factor;
  o.brackets = hpo.brackets;
  return o;
}

Pruner::Pruner(const PrunerOptions& options) : options_(options) {
  const auto& o = options_;
  if (o.kind != "none" && o.kind != "asha" && o.kind != "hyperband")
    throw Error("hpo.pruner: unknown pruner '" + o.kind + "' (none | asha | hyperband)");
  if (o.max_epochs < 1) throw Error(fmt::format("hpo.pruner: trials of {} epochs", o.max_epochs));
  if (!active()) {
    ladders_ = {{o.max_epochs}};
    weights_ = {1};
    return;
  }
  const auto eta = o.reduction_factor;
  if (eta < 2) throw Error(fmt::format("hpo.reduction_factor must be >= 2, got {}", eta));
  min_ = o.min_epochs > 0 ? o.min_epochs : std::max<std::int64_t>(1, o.max_epochs / (eta * eta * eta));
  if (min_ >= o.max_epochs)
    throw Error(fmt::format("hpo.min_epochs: the first rung ({} epochs) must be below the trials' {} epochs", min_,
                            o.max_epochs));
  // Bracket s: rungs min * eta^s, min * eta^(s+1), ... while eta times the rung still fits in
  // max_epochs (a rung of 189 of 200 epochs would cost nearly a full training), then
  // max_epochs. Bracket 0 always has its first rung; bracket s > 0 exists when it fits.
  std::vector<std::vector<std::int64_t>> all;
  for (std::int64_t start = min_; all.empty() || start * eta <= o.max_epochs; start *= eta) {
    std::vector<std::int64_t> ladder{start};
    for (std::int64_t r = start * eta; r * eta <= o.max_epochs; r *= eta) ladder.push_back(r);
    ladder.push_back(o.max_epochs);
    all.push_back(std::move(ladder));
  }
  int n = o.kind == "asha" ? 1 : static_cast<int>(all.size());
  if (o.kind == "hyperband" && o.brackets > 0) {
    if (o.brackets > static_cast<std::int64_t>(all.size()))
      throw Error(fmt::format("hpo.brackets: {} brackets do not fit between {} and {} epochs at reduction factor {} "
                              "(at most {})",
                              o.brackets, min_, o.max_epochs, eta, all.size()));
    n = static_cast<int>(o.brackets);
  }
  ladders_.assign(all.begin(), all.begin() + n);
  // Li et al.'s configurations per bracket, s = n - 1 - b: ceil(n * eta^s / (s + 1)).
  for (int b = 0; b < n; ++b) {
    const int s = n - 1 - b;
    weights_.push_back(static_cast<std::int64_t>(std::ceil(n * std::pow(static_cast<double>(eta), s) / (s + 1))));
  }
}

int Pruner::bracket_of(int trial_number) const {
  if (ladders_.size() == 1 || trial_number < 0) return 0;
  std::int64_t total = 0;
  for (auto w : weights_) total += w;
  std::vector<std::int64_t> current(weights_.size(), 0);
  int pick = 0;
  for (int t = 0; t <= trial_number; ++t) {
    pick = 0;
    for (std::size_t b = 0; b < weights_.size(); ++b) {
      current[b] += weights_[b];
      if (current[b] > current[static_cast<std::size_t>(pick)]) pick = static_cast<int>(b);
    }
    current[static_cast<std::size_t>(pick)] -= total;
  }
  return pick;
}

const std::vector<std::int64_t>& Pruner::rungs(int bracket) const {
  return ladders_.at(static_cast<std::size_t>(bracket));
}

bool Pruner::promotes(int number, std::int64_t epoch, double value, const std::vector<TrialRungs>& history) const {
  if (!active()) return true;
  if (std::isnan(value)) return false;
  const int bracket = bracket_of(number);
  std::vector<double> competing{value};
  for (const auto& t : history) {
    if (t.number == number || bracket_of(t.number) != bracket) continue;
    for (const auto& r : t.rungs)
      if (r.epoch == epoch && !std::isnan(r.value)) competing.push_back(r.value);
  }
  // Optuna's _is_trial_promotable_to_next_rung (maximising): the best floor(n / eta) go on,
  // and while a rung has fewer than eta values only its leader does.
  const auto keep = std::max<std::size_t>(1, competing.size() / static_cast<std::size_t>(options_.reduction_factor));
  std::sort(competing.begin(), competing.end(), std::greater<double>());
  return value >= competing[keep - 1];
}

std::string render_rungs(const std::vector<Rung>& rungs) {
  std::string s;
  for (const auto& r : rungs) s += fmt::format("{}{}:{:.1f}", s.empty() ? "" : " ", r.epoch, 100 * r.value);
  return s;
}

std::string rungs_json(const std::vector<Rung>& rungs) {
  if (rungs.empty()) return "";
  nlohmann::json j = nlohmann::json::array();
  // A NaN (a diverged rung is never stored, but a non-finite accuracy could be) is null in JSON.
  for (const auto& r : rungs)
    j.push_back({r.epoch, std::isfinite(r.value) ? nlohmann::json(r.value) : nlohmann::json(nullptr)});
  return j.dump();
}

std::vector<Rung> rungs_from_json(const std::string& text) {
  std::vector<Rung> out;
  if (text.empty()) return out;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.is_null()) return out;
    if (!j.is_array()) throw Error("not an array");
    for (const auto& r : j) {
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer()) throw Error("expected [epochs, value]");
      out.push_back({r[0].get<std::int64_t>(),
                     r[1].is_number() ? r[1].get<double>() : std::numeric_limits<double>::quiet_NaN()});
    }
  } catch (const std::exception& e) {
    throw Error("stored rungs '" + text + "': " + e.what());
  }
  return out;
}

}  // namespace quarry::hpo
