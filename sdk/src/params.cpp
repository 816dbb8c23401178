#include "quarry/params.hpp"

#include <cmath>
#include <sstream>

#include "quarry/component_kind.hpp"
#include "quarry/param_check.hpp"

namespace quarry {

// Here rather than in sdk.cpp: this file is torch-free, and the pipeline fuzzer links it.
const char* to_string(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::Dataset: return "dataset";
    case ComponentKind::Model: return "model";
    case ComponentKind::Strategy: return "strategy";
  }
  return "?";
}

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "boolean";
    case ParamType::Int: return "integer";
    case ParamType::Float: return "float";
    case ParamType::String: return "string";
    case ParamType::IntList: return "array of integers";
    case ParamType::FloatList: return "array of floats";
    case ParamType::StringList: return "array of strings";
  }
  return "?";
}

ParamType type_of(const ParamValue& value) {
  switch (value.index()) {
    case 0: return ParamType::Bool;
    case 1: return ParamType::Int;
    case 2: return ParamType::Float;
    case 3: return ParamType::String;
    case 4: return ParamType::IntList;
    case 5: return ParamType::FloatList;
    default: return ParamType::StringList;
  }
}

std::string to_string(const ParamValue& value) {
  std::ostringstream os;
  os.precision(10);
  std::visit(
      [&os](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          os << (v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::string>) {
          os << '"' << v << '"';
        } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>) {
          os << v;
        } else {
          os << '[';
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) os << ", ";
            if constexpr (std::is_same_v<typename T::value_type, std::string>) os << '"' << v[i] << '"';
            else os << v[i];
          }
          os << ']';
        }
      },
      value);
  return os.str();
}

namespace {
ParamSpec make(std::string name, ParamType type, std::optional<ParamValue> def, std::string help) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(def);
  s.help = std::move(help);
  return s;
}
}  // namespace

ParamSpec param_bool(std::string name, bool def, std::string help) {
  return make(std::move(name), ParamType::Bool, ParamValue{def}, std::move(help));
}
ParamSpec param_int(std::string name, std::int64_t def, std::string help, std::optional<double> min,
                    std::optional<double> max) {
  auto s = make(std::move(name), ParamType::Int, ParamValue{def}, std::move(help));
  s.min = min;
  s.max = max;
  return s;
}
ParamSpec param_float(std::string name, double def, std::string help, std::optional<double> min,
                      std::optional<double> max) {
  auto s = make(std::move(name), ParamType::Float, ParamValue{def}, std::move(help));
  s.min = min;
  s.max = max;
  return s;
}
ParamSpec param_string(std::string name, std::string def, std::string help, std::vector<std::string> choices) {
  auto s = make(std::move(name), ParamType::String, ParamValue{std::move(def)}, std::move(help));
  s.choices = std::move(choices);
  return s;
}
ParamSpec param_required(std::string name, ParamType type, std::string help) {
  return make(std::move(name), type, std::nullopt, std::move(help));
}

std::optional<ParamValue> coerce(const ParamSpec& spec, const ParamValue& value) {
  const ParamType got = type_of(value);
  if (got == spec.type) return value;
  // An integer is a valid float; an integer list a valid float list. Nothing else converts.
  if (spec.type == ParamType::Float && got == ParamType::Int)
    return ParamValue{static_cast<double>(std::get<std::int64_t>(value))};
  if (spec.type == ParamType::FloatList && got == ParamType::IntList) {
    const auto& v = std::get<std::vector<std::int64_t>>(value);
    return ParamValue{std::vector<double>(v.begin(), v.end())};
  }
  // An empty array parses as whatever list type is wanted.
  auto empty = [&]() {
    return std::visit(
        [](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<std::int64_t>> || std::is_same_v<T, std::vector<double>> ||
                        std::is_same_v<T, std::vector<std::string>>)
            return v.empty();
          else
            return false;
        },
        value);
  };
  if (empty()) {
    if (spec.type == ParamType::IntList) return ParamValue{std::vector<std::int64_t>{}};
    if (spec.type == ParamType::FloatList) return ParamValue{std::vector<double>{}};
    if (spec.type == ParamType::StringList) return ParamValue{std::vector<std::string>{}};
  }
  return std::nullopt;
}

std::optional<std::string> check_value(const ParamSpec& spec, const ParamValue& value) {
  auto in_range = [&](double x) -> std::optional<std::string> {
    if (!std::isfinite(x)) return "expected a finite number, got " + std::to_string(x);
    std::ostringstream os;
    os.precision(10);
    if (spec.min && x < *spec.min) {
      os << "expected a value >= " << *spec.min << ", got " << x;
      return os.str();
    }
    if (spec.max && x > *spec.max) {
      os << "expected a value <= " << *spec.max << ", got " << x;
      return os.str();
    }
    return std::nullopt;
  };
  if (type_of(value) != spec.type)
    return std::string("expected ") + to_string(spec.type) + ", got " + to_string(type_of(value));
  switch (spec.type) {
    case ParamType::Int: return in_range(static_cast<double>(std::get<std::int64_t>(value)));
    case ParamType::Float: return in_range(std::get<double>(value));
    case ParamType::IntList:
      for (auto x : std::get<std::vector<std::int64_t>>(value))
        if (auto e = in_range(static_cast<double>(x))) return e;
      return std::nullopt;
    case ParamType::FloatList:
      for (auto x : std::get<std::vector<double>>(value))
        if (auto e = in_range(x)) return e;
      return std::nullopt;
    case ParamType::String: {
      if (spec.choices.empty()) return std::nullopt;
      const auto& s = std::get<std::string>(value);
      for (const auto& c : spec.choices)
        if (c == s) return std::nullopt;
      std::string msg = "expected one of";
      for (const auto& c : spec.choices) msg += " \"" + c + "\"";
      return msg + ", got \"" + s + "\"";
    }
    default: return std::nullopt;
  }
}

double Params::get_float(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end())
    if (auto* i = std::get_if<std::int64_t>(&it->second)) return static_cast<double>(*i);
  return get<double>(name);
}

void Params::apply_specs(const std::vector<ParamSpec>& specs) {
  for (auto& [key, value] : values_) {
    const ParamSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == key) spec = &s;
    if (!spec) throw Error(owner_ + ": unknown parameter '" + key + "'" + known_keys_hint(specs));
    auto coerced = coerce(*spec, value);
    if (!coerced)
      throw Error(owner_ + ": parameter '" + key + "': expected " + to_string(spec->type) + ", got " +
                  to_string(type_of(value)));
    if (auto problem = check_value(*spec, *coerced)) throw Error(owner_ + ": parameter '" + key + "': " + *problem);
    value = std::move(*coerced);
  }
  for (const auto& s : specs) {
    if (values_.count(s.name)) continue;
    if (!s.default_value) throw Error(owner_ + ": missing required parameter '" + s.name + "'");
    values_[s.name] = *s.default_value;
  }
}

std::string known_keys_hint(const std::vector<ParamSpec>& specs) {
  if (specs.empty()) return " (this component takes no parameters)";
  std::string hint = " (known:";
  for (const auto& s : specs) hint += " " + s.name;
  return hint + ")";
}

}  // namespace quarry
