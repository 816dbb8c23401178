#include "core/data/augment.hpp"

#include <torch/torch.h>

namespace quarry {

torch::Tensor augment(const torch::Tensor& batch, std::int64_t padding, bool flip, at::Generator& gen) {
  const auto b = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3);
  const auto dev = batch.device();
  auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  auto oy = torch::randint(0, 2 * padding + 1, {b}, gen, cpu_long);
  auto ox = torch::randint(0, 2 * padding + 1, {b}, gen, cpu_long);
  auto ar_h = torch::arange(h, cpu_long), ar_w = torch::arange(w, cpu_long);
  auto rows = oy.view({b, 1}) + ar_h.view({1, h});
  torch::Tensor cols;
  if (flip) {
    auto flipped = torch::randint(0, 2, {b}, gen, cpu_long).view({b, 1});
    // A flipped image reads its crop's columns right to left.
    cols = ox.view({b, 1}) + torch::where(flipped.to(torch::kBool), (w - 1) - ar_w.view({1, w}), ar_w.view({1, w}));
  } else {
    cols = ox.view({b, 1}) + ar_w.view({1, w});
  }
  auto padded = padding > 0 ? torch::constant_pad_nd(batch, {padding, padding, padding, padding}, 0) : batch;
  const auto pw = w + 2 * padding;
  auto r = rows.to(dev).view({b, 1, h, 1}).expand({b, c, h, pw});
  auto out = padded.gather(2, r);
  auto cidx = cols.to(dev).view({b, 1, 1, w}).expand({b, c, h, w});
  return out.gather(3, cidx);
}

}  // namespace quarry
