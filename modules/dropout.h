// Locked (variational) dropout: one mask per sequence, shared by its steps.
#pragma once

#include <torch/torch.h>

namespace rnnlab {

/// Dropout of a time-major x (T, B, F) with one mask for all T steps
/// (Gal and Ghahramani 2016; AWD-LSTM's LockedDropout):
///   y = x * m / (1 - p),  m (1, B, F) ~ Bernoulli(1 - p).
/// Returns x itself when not training or p is 0.
inline torch::Tensor locked_dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0) return x;
  TORCH_CHECK(x.dim() == 3, "locked_dropout: x must be (T, B, F), got ", x.sizes());
  return x * torch::empty({1, x.size(1), x.size(2)}, x.options()).bernoulli_(1 - p).div_(1 - p);
}

/// Dropout at rate p in training: locked_dropout() with `locked`, else one
/// mask element per entry (torch::dropout). x itself when not training or p is 0.
inline torch::Tensor sequence_dropout(const torch::Tensor& x, double p, bool locked,
                                      bool training) {
  if (!training || p <= 0) return x;
  return locked ? locked_dropout(x, p, training) : torch::dropout(x, p, true);
}

}  // namespace rnnlab
