#include "heads/fast_step.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

namespace quarry::heads {

bool cpu_fast_path(const torch::Tensor& x, const torch::Tensor& y) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 2 && y.scalar_type() == torch::kInt64;
}

double softmax_xent_backward(const float* logits, const std::int64_t* y, std::int64_t b, std::int64_t c, float* grad,
                             float* bias_grad) {
  std::fill(bias_grad, bias_grad + c, 0.0f);
  const float inv_b = 1.0f / static_cast<float>(b);
  double loss = 0;
  for (std::int64_t i = 0; i < b; ++i) {
    const float* l = logits + i * c;
    float* g = grad + i * c;
    float m = l[0];
    for (std::int64_t k = 1; k < c; ++k) m = std::max(m, l[k]);
    float sum = 0;
    for (std::int64_t k = 0; k < c; ++k) {
      g[k] = std::exp(l[k] - m);
      sum += g[k];
    }
    const auto label = y[i];
    // -log softmax(l)_y = log(sum) - (l_y - m)
    loss += static_cast<double>(std::log(sum)) - static_cast<double>(l[label] - m);
    const float inv_sum = 1.0f / sum;
    for (std::int64_t k = 0; k < c; ++k) {
      g[k] = (g[k] * inv_sum - (k == label ? 1.0f : 0.0f)) * inv_b;
      bias_grad[k] += g[k];
    }
  }
  return loss / static_cast<double>(b);
}

void relu_dropout_backward(const float* h, float* dh, std::int64_t rows, std::int64_t cols, float scale,
                           float* bias_grad) {
  std::fill(bias_grad, bias_grad + cols, 0.0f);
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* hr = h + i * cols;
    float* dr = dh + i * cols;
    for (std::int64_t j = 0; j < cols; ++j) {
      dr[j] = hr[j] > 0.0f ? dr[j] * scale : 0.0f;
      bias_grad[j] += dr[j];
    }
  }
}

torch::Tensor& StepBuffers::get(int slot, std::int64_t b, std::int64_t cols) {
  Entry* e = nullptr;
  for (auto& entry : entries_)
    if (entry.b == b) e = &entry;
  if (!e) {
    e = &entries_[next_];
    next_ ^= 1;
    *e = Entry{};
    e->b = b;
  }
  auto& t = e->t[slot];
  if (!t.defined() || t.size(1) != cols) t = torch::empty({b, cols}, torch::kFloat32);
  return t;
}

torch::Tensor& grad_buffer(torch::Tensor& p) {
  auto& g = p.mutable_grad();
  if (!g.defined() || g.sizes() != p.sizes() || !g.is_contiguous() || g.device() != p.device())
    g = torch::zeros_like(p, torch::MemoryFormat::Contiguous);
  return g;
}

}  // namespace quarry::heads
