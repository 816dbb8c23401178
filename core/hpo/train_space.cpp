#include "core/hpo/train_space.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "quarry/error.hpp"

namespace quarry {

using hpo::Assignment;
using hpo::Dimension;
using hpo::SearchSpace;

namespace {

bool is_bool_key(const std::string& k) { return k == "nesterov" || k == "augment"; }
bool is_int_key(const std::string& k) { return k == "epochs" || k == "batch_size" || k == "warmup_epochs"; }

double numeric_field(const TrainConfig& c, const std::string& k) {
  if (k == "lr") return c.lr;
  if (k == "weight_decay") return c.weight_decay;
  if (k == "momentum") return c.momentum;
  if (k == "epochs") return static_cast<double>(c.epochs);
  if (k == "batch_size") return static_cast<double>(c.batch_size);
  if (k == "warmup_epochs") return static_cast<double>(c.warmup_epochs);
  throw Error("hpo.space." + k + ": not a numeric [train] key");
}

void set_numeric(TrainConfig& c, const std::string& k, double v) {
  if (k == "lr") c.lr = v;
  else if (k == "weight_decay") c.weight_decay = v;
  else if (k == "momentum") c.momentum = v;
  else if (k == "epochs") c.epochs = std::llround(v);
  else if (k == "batch_size") c.batch_size = std::llround(v);
  else if (k == "warmup_epochs") c.warmup_epochs = std::llround(v);
  else throw Error("hpo.space." + k + ": not a numeric [train] key");
}

std::string text_field(const TrainConfig& c, const std::string& k) {
  if (k == "nesterov") return c.nesterov ? "true" : "false";
  if (k == "augment") return c.augment ? "true" : "false";
  if (k == "epoch_mode") return c.epoch_mode;
  return fmt::format("{:g}", numeric_field(c, k));
}

/// A categorical choice's text set into [train]; throws naming the key on bad text.
void set_text(TrainConfig& c, const std::string& k, const std::string& v) {
  if (is_bool_key(k)) {
    if (v != "true" && v != "false") throw Error("hpo.space." + k + ": choice '" + v + "' is not \"true\" or \"false\"");
    (k == "nesterov" ? c.nesterov : c.augment) = v == "true";
  } else if (k == "epoch_mode") {
    if (v != "sampled" && v != "shuffled")
      throw Error("hpo.space.epoch_mode: choice '" + v + "' is not \"sampled\" or \"shuffled\"");
    c.epoch_mode = v;
  } else {
    std::size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || v.empty()) throw Error("hpo.space." + k + ": choice '" + v + "' is not a number");
    set_numeric(c, k, x);
  }
}

}  // namespace

SearchSpace search_space_of(const HpoConfig& hpo) {
  if (hpo.space.empty()) return hpo::default_space();
  SearchSpace space;
  for (const auto& d : hpo.space) {
    const std::string key = "hpo.space." + d.name;
    if ((is_bool_key(d.name) || d.name == "epoch_mode") && d.type != "categorical")
      throw Error(key + ": a " + (d.name == "epoch_mode" ? "text" : "true/false") +
                  " key needs type = \"categorical\" with choices");
    if (d.type == "log_uniform") space.add(Dimension::log_uniform(d.name, d.low, d.high));
    else if (d.type == "uniform") space.add(Dimension::uniform(d.name, d.low, d.high));
    else if (d.type == "int") space.add(Dimension::integer(d.name, std::llround(d.low), std::llround(d.high), d.log));
    else if (d.type == "categorical") space.add(Dimension::categorical(d.name, d.choices));
    else throw Error(key + ": unknown type '" + d.type + "' (log_uniform | uniform | int | categorical)");
    if (d.type == "categorical") {  // every choice must be a value the key can take
      TrainConfig probe;
      for (const auto& c : d.choices) set_text(probe, d.name, c);
    }
  }
  return space;
}

TrainConfig apply_assignment(const SearchSpace& space, const Assignment& a, TrainConfig base) {
  space.check(a);
  for (std::size_t i = 0; i < space.size(); ++i) {
    const auto& d = space[i];
    if (d.kind == hpo::DimensionKind::Categorical) set_text(base, d.name, d.choices.at(a.choice(i)));
    else set_numeric(base, d.name, a.values[i]);
  }
  return base;
}

std::optional<Assignment> assignment_of(const SearchSpace& space, const TrainConfig& cfg) {
  Assignment a;
  for (const auto& d : space.dimensions()) {
    if (d.kind == hpo::DimensionKind::Categorical) {
      const auto text = text_field(cfg, d.name);
      std::optional<std::size_t> found;
      for (std::size_t c = 0; c < d.choices.size() && !found; ++c) {
        TrainConfig probe = cfg;
        set_text(probe, d.name, d.choices[c]);
        if (text_field(probe, d.name) == text) found = c;
      }
      if (!found) return std::nullopt;
      a.values.push_back(static_cast<double>(*found));
    } else {
      double v = std::clamp(numeric_field(cfg, d.name), d.low, d.high);
      if (d.kind == hpo::DimensionKind::Int) v = std::round(v);
      a.values.push_back(v);
    }
  }
  return a;
}

std::string params_json(const SearchSpace& space, const Assignment& a) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t i = 0; i < space.size(); ++i) {
    const auto& d = space[i];
    if (d.kind == hpo::DimensionKind::Categorical) j[d.name] = d.choices.at(a.choice(i));
    else if (d.kind == hpo::DimensionKind::Int) j[d.name] = static_cast<long long>(std::llround(a.values[i]));
    else j[d.name] = a.values[i];  // nlohmann writes the shortest text that reads back to the same double
  }
  return j.dump();
}

TrainConfig apply_params_json(const std::string& text, TrainConfig base) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error("stored parameters " + text + " are not JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw Error("stored parameters " + text + " are not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (v.is_string()) set_text(base, k, v.get<std::string>());
    else if (v.is_number()) set_numeric(base, k, v.get<double>());
    else throw Error("stored parameters " + text + ": '" + k + "' is neither a number nor a choice");
  }
  return base;
}

Assignment assignment_from_json(const SearchSpace& space, const std::string& text) {
  Assignment a;
  try {
    const auto j = nlohmann::json::parse(text);
    for (const auto& d : space.dimensions()) {
      if (!j.contains(d.name)) throw Error("no value for '" + d.name + "'");
      const auto& v = j.at(d.name);
      if (d.kind == hpo::DimensionKind::Categorical) {
        const auto s = v.is_string() ? v.get<std::string>() : v.dump();
        const auto it = std::find(d.choices.begin(), d.choices.end(), s);
        if (it == d.choices.end()) throw Error("'" + s + "' is not a choice of '" + d.name + "'");
        a.values.push_back(static_cast<double>(it - d.choices.begin()));
      } else {
        a.values.push_back(v.get<double>());
      }
    }
    space.check(a);
  } catch (const std::exception& e) {
    throw Error("stored trial parameters " + text + " do not fit the search space (" + e.what() +
                "); a search resumes only with the [hpo] space it started with");
  }
  return a;
}

}  // namespace quarry
