// Helpers shared by the SDK's clustering sources (clustering.cpp: k-means, k-NN, diverse
// subsets; radius_graph.cpp: the delta-ball graph): input checks and budgeted block sizes.
// Internal to the SDK library: not installed, not part of the plugin API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "quarry/error.hpp"

namespace quarry::sdk_detail {

inline void check_rows(const torch::Tensor& t, const char* who) {
  if (!t.defined() || t.dim() != 2)
    throw Error(std::string(who) + ": rows must be a 2-D tensor" +
                (t.defined() ? ", got shape " + c10::str(t.sizes()) : std::string(", got an undefined tensor")));
  if (t.scalar_type() != torch::kFloat)
    throw Error(std::string(who) + ": rows must be float32, got " + std::string(c10::toString(t.scalar_type())));
}

inline void check_budget(std::int64_t budget, const char* who) {
  if (budget <= 0) throw Error(std::string(who) + ": memory budget must be positive");
}

// Row and column counts of distance blocks whose temporaries (about `copies` float matrices of
// rows x cols) stay under `budget` bytes; whole rows of columns when they fit.
struct ClusterBlocks {
  std::int64_t rows, cols;
  ClusterBlocks(std::int64_t num_rows, std::int64_t num_cols, std::int64_t budget, std::int64_t copies) {
    const auto cells = std::max<std::int64_t>(1, budget / (4 * copies));
    cols = std::clamp<std::int64_t>(cells, 1, std::max<std::int64_t>(num_cols, 1));
    rows = std::clamp<std::int64_t>(cells / cols, 1, std::max<std::int64_t>(num_rows, 1));
  }
};

inline torch::Tensor sq_norms(const torch::Tensor& x) { return (x * x).sum(1); }

}  // namespace quarry::sdk_detail
