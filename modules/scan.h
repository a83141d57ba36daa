// The fused recurrence: one direction of one RNN/LSTM/GRU layer as a single
// autograd node with a hand-written backward (BPTT).
//
// The step-by-step layer in rnn.cpp lets autograd record every step's matmul
// and gate arithmetic. Its backward then computes dL/dW_hh as T small products
// h_{t-1}^T dgates_t (inner dimension B) and adds T full-size weight gradients.
// The scan keeps each step's gate gradients instead and computes
//   dL/dW_hh = sum_t dgates_t^T h_{t-1} = dgates^T H_prev
// as one (G, T*B) x (T*B, H) product after the loop, the way cuDNN does; per
// step only dh_{t-1} = dgates_t W_hh remains. The forward writes into
// preallocated (T, B, .) buffers instead of stacking per-step tensors; when
// autograd will not record it (evaluation under torch::NoGradGuard), the
// per-step gate buffers are one step's, reused, and only the outputs are (T, B, .).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "modules/rnn.h"

namespace rnnlab::detail {

/// The layer-normalised LSTM's recurrent norms (Ba et al. 2016): the gain of
/// LN_hh(W_hh h) (G) and LN_c(c_t)'s gain and bias (H). Undefined: no norms.
struct LayerNormWeights {
  torch::Tensor hh, c_weight, c_bias;
};

/// Runs one direction of one layer, in time order or (`reverse`) from T-1 down to 0.
///  xw (T, B, G): W_ih x_t + b for every step, where b = b_ih + b_hh for RNN and
///     LSTM, b = b_ih for GRU (b_hn sits inside r * (W_hn h + b_hn)); with
///     layer norm LN_ih(W_ih x_t) + b;
///  h0 (B, H); c0 (B, H) for LSTM, else undefined;
///  w_hh (G, H); b_hh (G) for GRU with bias, else undefined;
///  rec_mask (B, H): variational dropout mask applied to h_{t-1}, or undefined;
///  ln: LSTM only, the layer-normalised cell's norms (a_t = xw_t + LN_hh(W_hh
///     h_{t-1}), h_t = o tanh(LN_c(c_t))), or none.
/// Returns {out (T, B, H): h_t of every step} and, for LSTM, also c_t of every
/// step (T, B, H) as the second element. Differentiable with respect to xw,
/// h0, c0, w_hh, b_hh and the norms' weights (first order only).
std::vector<torch::Tensor> fused_scan(CellKind kind, const torch::Tensor& xw,
                                      const torch::Tensor& h0, const torch::Tensor& c0,
                                      const torch::Tensor& w_hh, const torch::Tensor& b_hh,
                                      const torch::Tensor& rec_mask, bool reverse,
                                      const LayerNormWeights& ln = {});

/// Whether layers use fused_scan where they can (no layer_norm but the
/// LSTM's, no proj_size, no relu state held over padding). On by default; tests and benchmarks turn
/// it off to compare with the step-by-step autograd path.
bool fused_scan_enabled();
void set_fused_scan_enabled(bool on);

}  // namespace rnnlab::detail
