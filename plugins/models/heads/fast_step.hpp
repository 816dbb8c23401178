// The heads' training steps without autograd, on the CPU: the matrix products go to LibTorch's
// BLAS through at::addmm_out / at::mm_out into buffers kept from step to step, everything on
// the B x C logits (softmax, cross-entropy, its gradient, the bias gradients) and the
// element-wise backward of ReLU and dropout are plain loops over the buffers. A 64 x 384
// linear-head step is a handful of LibTorch calls instead of ~20, whose per-call overhead
// was most of the step (docs/models.md, "Training on embeddings").
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace quarry::heads {

/// Whether the CPU fast path applies: float32 inputs on the CPU, int64 labels.
bool cpu_fast_path(const torch::Tensor& x, const torch::Tensor& y);

/// Softmax cross-entropy on row-major logits (b x c) against labels y (b): writes
/// g = (softmax - onehot) / b into `grad` (b x c), the column sums of g into `bias_grad` (c),
/// and returns the mean loss (accumulated in double). `logits` and `grad` may not alias.
double softmax_xent_backward(const float* logits, const std::int64_t* y, std::int64_t b, std::int64_t c, float* grad,
                             float* bias_grad);

/// dz = dh where h > 0, else 0, times `scale`: the backward of h = scale-free ReLU followed by
/// inverted dropout whose kept entries are scaled by `scale` (1 without dropout); `h` is the
/// layer's output after dropout. Column sums of dz into `bias_grad` (rows x cols, row-major).
void relu_dropout_backward(const float* h, float* dh, std::int64_t rows, std::int64_t cols, float scale,
                           float* bias_grad);

/// Per-batch-size buffers of a head's step (a training sees at most two batch sizes).
class StepBuffers {
 public:
  /// The buffer `slot` for batch size b, b x cols, float32 CPU: allocated on first use.
  torch::Tensor& get(int slot, std::int64_t b, std::int64_t cols);

 private:
  static constexpr int kSlots = 4;
  struct Entry {
    std::int64_t b = -1;
    torch::Tensor t[kSlots];
  };
  Entry entries_[2];
  int next_ = 0;
};

/// p.grad() as a tensor to write into (allocated once, same shape as p).
torch::Tensor& grad_buffer(torch::Tensor& p);

}  // namespace quarry::heads
