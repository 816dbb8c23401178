#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include <torch/torch.h>

#include "quarry/dataset.hpp"
#include "quarry/model.hpp"
#include "quarry/error.hpp"
#include "quarry/plugin.hpp"
#include "quarry/strategy.hpp"

namespace quarry {

namespace {
void check_split(const Split& s, const char* name, std::int64_t num_classes, const std::string& who) {
  auto fail = [&](const std::string& what) { throw Error(who + ": " + name + " split: " + what); };
  if (!s.labels.defined()) fail("labels missing");
  if (s.features.defined() && s.images.defined()) fail("both images and features set; a split holds one of them");
  if (s.features.defined()) {
    if (s.features.scalar_type() != torch::kFloat32) fail("features must be float32");
    if (s.features.dim() != 2) fail("features must be N x D, got " + std::to_string(s.features.dim()) + " dims");
    if (s.features.size(1) < 1) fail("features have D = 0");
    if (s.features.numel() > 0 && !torch::isfinite(s.features).all().item<bool>())
      fail("features hold a NaN or infinite value");
  } else {
    if (!s.images.defined()) fail("images (or features) missing");
    if (s.images.scalar_type() != torch::kUInt8) fail("images must be uint8");
    if (s.images.dim() != 4) fail("images must be N x C x H x W, got " + std::to_string(s.images.dim()) + " dims");
  }
  const auto& inputs = s.features.defined() ? s.features : s.images;
  const char* what = s.features.defined() ? " feature vectors" : " images";
  if (s.labels.scalar_type() != torch::kInt64 || s.labels.dim() != 1) fail("labels must be a 1-D int64 tensor");
  if (inputs.size(0) != s.labels.size(0))
    fail(std::to_string(inputs.size(0)) + what + " but " + std::to_string(s.labels.size(0)) + " labels");
  if (s.labels.numel() > 0) {
    const auto lo = s.labels.min().item<std::int64_t>();
    const auto hi = s.labels.max().item<std::int64_t>();
    if (lo < 0 || hi >= num_classes)
      fail("label out of range: found " + std::to_string(lo < 0 ? lo : hi) + ", expected 0.." +
           std::to_string(num_classes - 1));
  }
}
}  // namespace

void validate_dataset(const DatasetData& d, const std::string& who) {
  const auto num_classes = static_cast<std::int64_t>(d.class_names.size());
  if (num_classes < 1) throw Error(who + ": no class names");
  check_split(d.train, "train", num_classes, who);
  check_split(d.test, "test", num_classes, who);
  if (d.train.size() == 0) throw Error(who + ": the train split is empty");
  if (d.train.has_features() != d.test.has_features())
    throw Error(who + ": the train split holds " + (d.train.has_features() ? "features" : "images") +
                " but the test split " + (d.test.has_features() ? "features" : "images"));
  if (d.train.has_features()) {
    if (d.test.features.size(1) != d.train.features.size(1))
      throw Error(who + ": train features have D = " + std::to_string(d.train.features.size(1)) +
                  " but test features D = " + std::to_string(d.test.features.size(1)));
    if (!d.mean.empty() || !d.std.empty())
      throw Error(who + ": mean and std are for images; leave them empty for features");
    return;
  }
  const auto c = d.train.images.size(1);
  if (d.test.images.size(1) != c || d.test.images.size(2) != d.train.images.size(2) ||
      d.test.images.size(3) != d.train.images.size(3))
    throw Error(who + ": train and test images differ in shape");
  if (static_cast<std::int64_t>(d.mean.size()) != c || static_cast<std::int64_t>(d.std.size()) != c)
    throw Error(who + ": mean and std need one value per channel (" + std::to_string(c) + ")");
  for (double s : d.std)
    if (!(s > 0)) throw Error(who + ": std must be positive");
}

torch::Tensor QueryContext::predict_samples(const std::vector<std::int64_t>&, std::int64_t) {
  throw Error("this query context gives no Monte-Carlo samples (it serves fixed predictions, no model)");
}

torch::Tensor QueryContext::classify(const torch::Tensor&) {
  throw Error("this query context has no classifier head (it serves fixed predictions, no model)");
}

torch::Tensor Model::classify(const torch::Tensor&) {
  throw Error("this model does not expose its classifier head (quarry::Model::classify)");
}

const std::vector<std::int64_t>& QueryContext::labeled_labels() const {
  throw Error("this query context gives no labels of the labeled pool");
}

std::vector<std::int64_t> top_k(const torch::Tensor& scores, const std::vector<std::int64_t>& candidates,
                                std::int64_t k) {
  if (scores.dim() != 1 || scores.size(0) != static_cast<std::int64_t>(candidates.size()))
    throw Error("top_k: expected one score per candidate (" + std::to_string(candidates.size()) + "), got shape " +
                c10::str(scores.sizes()));
  k = std::min<std::int64_t>(k, scores.size(0));
  // Stable order: sort by score descending, ties by position, so results do not depend on the sort kernel.
  auto s = scores.to(torch::kCPU, torch::kDouble).contiguous();
  // NaN would break the sort's ordering; a NaN score ranks last.
  s.masked_fill_(s.isnan(), -std::numeric_limits<double>::infinity());
  const double* p = s.data_ptr<double>();
  std::vector<std::int64_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [p](std::int64_t a, std::int64_t b) {
    return p[a] > p[b] || (p[a] == p[b] && a < b);
  });
  std::vector<std::int64_t> picked(k);
  for (std::int64_t i = 0; i < k; ++i) picked[i] = candidates[order[i]];
  return picked;
}

}  // namespace quarry
