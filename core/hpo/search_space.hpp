// The hyper-parameter search space: named dimensions, their bounds, and one
// point in the space (an Assignment). Torch-free, so the optimiser and its
// tests build and run without LibTorch.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace quarry::hpo {

enum class DimensionKind {
  LogUniform,   ///< real, sampled uniformly in log space on [low, high], low > 0
  Uniform,      ///< real on [low, high]
  Int,          ///< integer on [low, high] (both integers); `log` samples it in log space
  Categorical,  ///< one of `choices`; an Assignment holds the index
};

const char* to_string(DimensionKind kind);

struct Dimension {
  std::string name;
  DimensionKind kind = DimensionKind::Uniform;
  double low = 0.0;
  double high = 0.0;
  bool log = false;                  ///< Int only: sample in log space (needs low >= 1)
  std::vector<std::string> choices;  ///< Categorical only

  static Dimension log_uniform(std::string name, double low, double high);
  static Dimension uniform(std::string name, double low, double high);
  static Dimension integer(std::string name, long long low, long long high, bool log = false);
  static Dimension categorical(std::string name, std::vector<std::string> choices);

  /// True for LogUniform and for log-scaled Int.
  bool is_log() const { return kind == DimensionKind::LogUniform || (kind == DimensionKind::Int && log); }
  bool is_numeric() const { return kind != DimensionKind::Categorical; }
  /// Throws quarry::Error naming the dimension and what is wrong with it.
  void validate() const;
};

/// One point of a SearchSpace: values[i] belongs to dimension i. Numeric
/// dimensions hold the value itself (an Int holds an integral double), a
/// Categorical holds the index of the choice.
struct Assignment {
  std::vector<double> values;

  std::size_t choice(std::size_t i) const { return static_cast<std::size_t>(values.at(i)); }
  bool operator==(const Assignment& other) const { return values == other.values; }
  bool operator!=(const Assignment& other) const { return !(*this == other); }
};

class SearchSpace {
 public:
  SearchSpace() = default;
  /// Validates every dimension and that names are unique.
  explicit SearchSpace(std::vector<Dimension> dimensions);

  /// Appends a dimension (validated; its name must be new). Returns *this for chaining.
  SearchSpace& add(Dimension dimension);

  const std::vector<Dimension>& dimensions() const { return dims_; }
  std::size_t size() const { return dims_.size(); }
  bool empty() const { return dims_.empty(); }
  const Dimension& operator[](std::size_t i) const { return dims_.at(i); }
  /// Index of the dimension called `name`; throws quarry::Error listing the names otherwise.
  std::size_t index_of(const std::string& name) const;

  /// Throws quarry::Error when `a` does not fit: wrong size, out of bounds,
  /// a non-integral Int, a categorical index out of range.
  void check(const Assignment& a) const;
  /// "lr=0.001 weight_decay=0.0005": shortest text that reads back to the same
  /// double, integers without a fraction, categoricals as the choice's text.
  std::string render(const Assignment& a) const;
  /// Reads render()'s format back ("name=value" separated by spaces or commas,
  /// every dimension exactly once). Throws quarry::Error on anything else.
  Assignment parse(const std::string& text) const;

 private:
  std::vector<Dimension> dims_;
};

/// The protocol's space for Bayesian optimisation on a finished pool:
/// lr and weight_decay, both log-uniform on [1e-5, 1e-1].
SearchSpace default_space();

}  // namespace quarry::hpo
