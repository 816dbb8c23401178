#include "core/hpo/search_space.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include "quarry/error.hpp"

namespace quarry::hpo {

namespace {

std::string number(double v) {
  // Shortest %g text that parses back to the same double, so a rendered
  // assignment can be stored as text and read back bit for bit.
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string where(const std::string& name) { return "search space dimension '" + name + "'"; }

}  // namespace

const char* to_string(DimensionKind kind) {
  switch (kind) {
    case DimensionKind::LogUniform: return "log-uniform";
    case DimensionKind::Uniform: return "uniform";
    case DimensionKind::Int: return "int";
    case DimensionKind::Categorical: return "categorical";
  }
  return "?";
}

Dimension Dimension::log_uniform(std::string name, double low, double high) {
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::LogUniform;
  d.low = low;
  d.high = high;
  d.validate();
  return d;
}

Dimension Dimension::uniform(std::string name, double low, double high) {
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::Uniform;
  d.low = low;
  d.high = high;
  d.validate();
  return d;
}

Dimension Dimension::integer(std::string name, long long low, long long high, bool log) {
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::Int;
  d.low = static_cast<double>(low);
  d.high = static_cast<double>(high);
  d.log = log;
  d.validate();
  return d;
}

Dimension Dimension::categorical(std::string name, std::vector<std::string> choices) {
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::Categorical;
  d.choices = std::move(choices);
  d.validate();
  return d;
}

void Dimension::validate() const {
  if (name.empty()) throw Error("search space: a dimension has an empty name");
  if (name.find_first_of(" =,\t\n") != std::string::npos)
    throw Error(where(name) + ": the name may not contain spaces, '=' or ','");
  if (kind == DimensionKind::Categorical) {
    if (choices.empty()) throw Error(where(name) + ": categorical needs at least one choice, got none");
    std::set<std::string> seen;
    for (const auto& c : choices)
      if (!seen.insert(c).second) throw Error(where(name) + ": choice '" + c + "' is listed twice");
    return;
  }
  if (!std::isfinite(low) || !std::isfinite(high))
    throw Error(where(name) + ": bounds must be finite numbers, got [" + number(low) + ", " + number(high) + "]");
  if (!(low < high))
    throw Error(where(name) + " (" + to_string(kind) + "): low must be below high, got low=" + number(low) +
                " high=" + number(high));
  if (kind == DimensionKind::LogUniform && low <= 0)
    throw Error(where(name) + " (log-uniform): low must be > 0 for a log scale, got low=" + number(low));
  if (kind == DimensionKind::Int) {
    if (low != std::floor(low) || high != std::floor(high))
      throw Error(where(name) + " (int): bounds must be integers, got [" + number(low) + ", " + number(high) + "]");
    // The estimator works on [low - 0.5, high + 0.5] in log space (as Optuna does).
    if (log && low < 1)
      throw Error(where(name) + " (int, log): low must be >= 1 for a log scale, got low=" + number(low));
  }
  if (log && kind != DimensionKind::Int)
    throw Error(where(name) + ": 'log' applies to int dimensions only; use log-uniform for reals");
}

SearchSpace::SearchSpace(std::vector<Dimension> dimensions) {
  for (auto& d : dimensions) add(std::move(d));
}

SearchSpace& SearchSpace::add(Dimension dimension) {
  dimension.validate();
  for (const auto& d : dims_)
    if (d.name == dimension.name) throw Error(where(dimension.name) + ": the name is used twice");
  dims_.push_back(std::move(dimension));
  return *this;
}

std::size_t SearchSpace::index_of(const std::string& name) const {
  std::string known;
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i].name == name) return i;
    known += (i ? ", " : "") + dims_[i].name;
  }
  throw Error("search space: no dimension '" + name + "' (known: " + (known.empty() ? "none" : known) + ")");
}

void SearchSpace::check(const Assignment& a) const {
  if (a.values.size() != dims_.size())
    throw Error("assignment has " + std::to_string(a.values.size()) + " values, the search space has " +
                std::to_string(dims_.size()) + " dimensions");
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    const auto& d = dims_[i];
    const double v = a.values[i];
    if (d.kind == DimensionKind::Categorical) {
      if (!(v >= 0 && v < static_cast<double>(d.choices.size()) && v == std::floor(v)))
        throw Error(where(d.name) + ": choice index " + number(v) + " is not in [0, " +
                    std::to_string(d.choices.size()) + ")");
      continue;
    }
    if (!(v >= d.low && v <= d.high))
      throw Error(where(d.name) + ": value " + number(v) + " is outside [" + number(d.low) + ", " + number(d.high) +
                  "]");
    if (d.kind == DimensionKind::Int && v != std::floor(v))
      throw Error(where(d.name) + ": value " + number(v) + " is not an integer");
  }
}

std::string SearchSpace::render(const Assignment& a) const {
  check(a);
  std::string out;
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (i) out += ' ';
    out += dims_[i].name + '=';
    out += dims_[i].kind == DimensionKind::Categorical ? dims_[i].choices[a.choice(i)] : number(a.values[i]);
  }
  return out;
}

Assignment SearchSpace::parse(const std::string& text) const {
  Assignment a;
  a.values.assign(dims_.size(), 0.0);
  std::vector<bool> seen(dims_.size(), false);
  std::string spaced = text;
  for (auto& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::string item;
  while (in >> item) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      throw Error("assignment '" + text + "': expected name=value, got '" + item + "'");
    const auto i = index_of(item.substr(0, eq));
    const auto value = item.substr(eq + 1);
    if (seen[i]) throw Error("assignment '" + text + "': '" + dims_[i].name + "' is given twice");
    seen[i] = true;
    const auto& d = dims_[i];
    if (d.kind == DimensionKind::Categorical) {
      std::size_t k = 0;
      while (k < d.choices.size() && d.choices[k] != value) ++k;
      if (k == d.choices.size()) {
        std::string known;
        for (const auto& c : d.choices) known += (known.empty() ? "" : ", ") + c;
        throw Error(where(d.name) + ": unknown choice '" + value + "' (expected one of " + known + ")");
      }
      a.values[i] = static_cast<double>(k);
    } else {
      char* end = nullptr;
      a.values[i] = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0')
        throw Error(where(d.name) + ": '" + value + "' is not a number");
    }
  }
  for (std::size_t i = 0; i < dims_.size(); ++i)
    if (!seen[i]) throw Error("assignment '" + text + "': no value for '" + dims_[i].name + "'");
  check(a);
  return a;
}

SearchSpace default_space() {
  return SearchSpace({Dimension::log_uniform("lr", 1e-5, 1e-1), Dimension::log_uniform("weight_decay", 1e-5, 1e-1)});
}

}  // namespace quarry::hpo
