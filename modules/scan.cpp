// The fused recurrence (see modules/scan.h): forward into preallocated
// buffers, BPTT by hand, and dL/dW_hh as one matrix product after the loop.
//
// Notation: G gate rows (H, 3H or 4H), x~_t = xw_t (the input projection with
// its bias), h~_{t-1} = h_{t-1} * mask (the variational dropout mask, or 1),
// dX = dL/dX. "Step t-1" means the previous step taken, which for the reverse
// direction is t+1.
#include "modules/scan.h"

#include <atomic>

namespace rnnlab::detail {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<bool> g_fused_scan{true};

// The hand-written backward is not itself differentiable. Autograd runs a
// backward with grad mode on only for create_graph (double backward, e.g. a
// gradient penalty); say so instead of returning wrong second derivatives.
void check_first_order() {
  if (torch::GradMode::is_enabled()) {
    throw std::runtime_error(
        "rnnlab: the fused recurrence has no second derivative (backward with "
        "create_graph); call rnnlab::detail::set_fused_scan_enabled(false) first");
  }
}

// The order a direction takes its steps: t = 0..T-1, or T-1..0 when reversed.
struct StepOrder {
  int64_t T;
  bool reverse;
  int64_t operator()(int64_t s) const { return reverse ? T - 1 - s : s; }
  // The step taken before t (only for t that is not the first).
  int64_t previous(int64_t t) const { return reverse ? t + 1 : t - 1; }
};

// h~_{t-1} of every step, (T*B, H) in real time order: h0 for the first step,
// the neighbouring output otherwise, times the mask.
Tensor previous_states(const Tensor& out, const Tensor& h0, const Tensor& mask, bool reverse) {
  const int64_t T = out.size(0), B = out.size(1), H = out.size(2);
  Tensor h_prev = h0.unsqueeze(0);
  if (T > 1) {
    h_prev = reverse ? torch::cat({out.narrow(0, 1, T - 1), h_prev})
                     : torch::cat({h_prev, out.narrow(0, 0, T - 1)});
  }
  if (mask.defined()) h_prev = h_prev * mask;
  return h_prev.reshape({T * B, H});
}

// dW_hh = sum_t dgates_t^T h~_{t-1}: one (G, T*B) x (T*B, H) product.
Tensor recurrent_weight_grad(const Tensor& dgates, const Tensor& out, const Tensor& h0,
                             const Tensor& mask, bool reverse) {
  const int64_t G = dgates.size(2);
  return dgates.reshape({-1, G}).t().mm(previous_states(out, h0, mask, reverse));
}

// h~ = h * mask into `buffer`, or h itself without a mask.
const Tensor& masked(const Tensor& h, const Tensor& mask, Tensor& buffer) {
  if (!mask.defined()) return h;
  at::mul_out(buffer, h, mask);
  return buffer;
}

// A step's values of shape (B, N): kept for every step, (T, B, N), when
// backward will need them; otherwise (evaluation under torch::NoGradGuard, or
// no input that requires grad) one (B, N) buffer that every step overwrites,
// so that a no-grad forward holds only what it returns.
class StepBuffer {
 public:
  StepBuffer(bool keep, int64_t T, int64_t B, int64_t N, const torch::TensorOptions& options)
      : all_(torch::empty({keep ? T : 1, B, N}, options)), keep_(keep) {}
  Tensor operator[](int64_t t) const { return all_[keep_ ? t : 0]; }
  const Tensor& all() const { return all_; }

 private:
  Tensor all_;
  bool keep_;
};

// dh_t = dL/dh_t from the layer's output at t plus what step t+1 sent back.
void total_grad(Tensor& dh, const Tensor& dh_next, const Tensor& grad_out, int64_t t) {
  if (grad_out.defined()) {
    at::add_out(dh, dh_next, grad_out[t]);
  } else {
    dh.copy_(dh_next);
  }
}

// dh_{t-1} = (dpre_t W_hh) * mask, into dh_next.
void recurrent_grad(Tensor& dh_next, const Tensor& dpre_t, const Tensor& w_hh, const Tensor& mask) {
  at::mm_out(dh_next, dpre_t, w_hh);
  if (mask.defined()) dh_next.mul_(mask);
}

// One LSTM step's forward after its pre-activations a_t (B, 4H), in place:
//   i, f = sigmoid(.), g = tanh(.), o = sigmoid(.)    (a_t becomes (i, f, g, o))
//   c_t = f * c_{t-1} + i * g                         (into c_t, (B, H))
// Returns o, a view of a_t.
Tensor lstm_gates_and_cell(Tensor& a, const Tensor& c_prev, Tensor& c_t) {
  const int64_t H = c_t.size(1);
  a.narrow(1, 0, 2 * H).sigmoid_();
  a.narrow(1, 2 * H, H).tanh_();
  a.narrow(1, 3 * H, H).sigmoid_();
  const Tensor i = a.narrow(1, 0, H), f = a.narrow(1, H, H), g = a.narrow(1, 2 * H, H);
  at::mul_out(c_t, f, c_prev);
  c_t.addcmul_(i, g);
  return a.narrow(1, 3 * H, H);
}

// One LSTM step's gate gradients, shared by the plain and the layer-normalised
// scan. a (B, 4H): the activated gates (i, f, g, o); h_t = o * tanh_out;
// dc = dL/dc_t in full. Writes d (B, 4H) = dL/d(pre-activations) and
// dc_next = dL/dc_{t-1} = dc_t f.
void lstm_gate_grads(Tensor& d, const Tensor& a, const Tensor& dh, const Tensor& tanh_out,
                     const Tensor& dc, const Tensor& c_prev, Tensor& dc_next) {
  const int64_t H = dh.size(1);
  const Tensor i = a.narrow(1, 0, H), f = a.narrow(1, H, H), g = a.narrow(1, 2 * H, H),
               o = a.narrow(1, 3 * H, H);
  // do = dh_t tanh_out; c_t = f c_{t-1} + i g:  di = dc_t g, df = dc_t c_{t-1}, dg = dc_t i
  Tensor d_i = d.narrow(1, 0, H), d_f = d.narrow(1, H, H), d_g = d.narrow(1, 2 * H, H),
         d_o = d.narrow(1, 3 * H, H), d_if = d.narrow(1, 0, 2 * H);
  at::mul_out(d_o, dh, tanh_out);
  at::mul_out(d_i, dc, g);
  at::mul_out(d_f, dc, c_prev);
  at::mul_out(d_g, dc, i);
  // through the activations: sigmoid' = s (1 - s), tanh' = 1 - g^2
  at::sigmoid_backward_out(d_if, d_if, a.narrow(1, 0, 2 * H));
  at::tanh_backward_out(d_g, d_g, g);
  at::sigmoid_backward_out(d_o, d_o, o);
  // dc_{t-1} = dc_t f
  at::mul_out(dc_next, dc, f);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ RNN ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

class RNNScan : public torch::autograd::Function<RNNScan> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& xw, const Tensor& h0,
                               const Tensor& w_hh, const c10::optional<Tensor>& mask_opt, bool relu,
                               bool reverse) {
    const Tensor mask = mask_opt.value_or(Tensor());
    const int64_t T = xw.size(0);
    const StepOrder order{T, reverse};
    // out_t starts as x~_t and becomes h_t in place
    Tensor out = xw.clone(at::MemoryFormat::Contiguous);
    const Tensor w_hh_t = w_hh.t();
    Tensor hr = mask.defined() ? torch::empty_like(h0) : Tensor();
    Tensor h = h0;
    for (int64_t s = 0; s < T; ++s) {
      Tensor h_t = out[order(s)];
      // h_t = act(x~_t + W_hh h~_{t-1})
      h_t.addmm_(masked(h, mask, hr), w_hh_t);
      if (relu) {
        h_t.relu_();
      } else {
        h_t.tanh_();
      }
      h = h_t;
    }
    ctx->set_materialize_grads(false);
    ctx->saved_data["relu"] = relu;
    ctx->saved_data["reverse"] = reverse;
    ctx->save_for_backward({out, h0, w_hh, mask});
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_first_order();
    const auto saved = ctx->get_saved_variables();
    const Tensor &out = saved[0], &h0 = saved[1], &w_hh = saved[2], &mask = saved[3];
    const bool relu = ctx->saved_data["relu"].toBool();
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const Tensor& grad_out = grads[0];
    const int64_t T = out.size(0);
    const StepOrder order{T, reverse};
    Tensor dpre = torch::empty_like(out);  // dL/d(pre-activation) of every step
    Tensor dh = torch::empty_like(h0), dh_next = torch::zeros_like(h0);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = order(s);
      total_grad(dh, dh_next, grad_out, t);
      // d pre_t = dh_t * act'(pre_t): tanh' = 1 - h_t^2, relu' = [h_t > 0]
      Tensor dpre_t = dpre[t];
      if (relu) {
        at::threshold_backward_out(dpre_t, dh, out[t], 0);
      } else {
        at::tanh_backward_out(dpre_t, dh, out[t]);
      }
      recurrent_grad(dh_next, dpre_t, w_hh, mask);
    }
    return {dpre,     dh_next,  recurrent_weight_grad(dpre, out, h0, mask, reverse),
            Tensor(), Tensor(), Tensor()};
  }
};

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ LSTM ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

class LSTMScan : public torch::autograd::Function<LSTMScan> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& xw, const Tensor& h0,
                               const Tensor& c0, const Tensor& w_hh,
                               const c10::optional<Tensor>& mask_opt, bool reverse, bool keep) {
    const Tensor mask = mask_opt.value_or(Tensor());
    const int64_t T = xw.size(0), B = xw.size(1), G = xw.size(2), H = h0.size(1);
    const StepOrder order{T, reverse};
    // gates_t: the pre-activations, then (i, f, g, o) in place
    StepBuffer gates(keep, T, B, G, h0.options()), tanh_c(keep, T, B, H, h0.options());
    Tensor out = torch::empty({T, B, H}, h0.options());
    Tensor c_all = torch::empty_like(out);
    const Tensor w_hh_t = w_hh.t();
    Tensor hr = mask.defined() ? torch::empty_like(h0) : Tensor();
    Tensor h = h0, c = c0;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = order(s);
      Tensor a = gates[t];
      // (i, f, g, o) pre-activations = x~_t + W_hh h~_{t-1}
      at::addmm_out(a, xw[t], masked(h, mask, hr), w_hh_t);
      // (i, f, g, o) = activations of a_t;  c_t = f * c_{t-1} + i * g
      Tensor c_t = c_all[t];
      const Tensor o = lstm_gates_and_cell(a, c, c_t);
      // h_t = o * tanh(c_t)
      Tensor tc = tanh_c[t], h_t = out[t];
      at::tanh_out(tc, c_t);
      at::mul_out(h_t, o, tc);
      h = h_t;
      c = c_t;
    }
    ctx->set_materialize_grads(false);
    ctx->saved_data["reverse"] = reverse;
    if (keep) ctx->save_for_backward({gates.all(), tanh_c.all(), c_all, out, h0, c0, w_hh, mask});
    return {out, c_all};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_first_order();
    const auto saved = ctx->get_saved_variables();
    const Tensor &gates = saved[0], &tanh_c = saved[1], &c_all = saved[2], &out = saved[3],
                 &h0 = saved[4], &c0 = saved[5], &w_hh = saved[6], &mask = saved[7];
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const Tensor &grad_out = grads[0], &grad_c = grads[1];
    const int64_t T = out.size(0), H = h0.size(1);
    const StepOrder order{T, reverse};
    Tensor dgates = torch::empty_like(gates);
    Tensor dh = torch::empty_like(h0), dh_next = torch::zeros_like(h0);
    Tensor dc = torch::empty_like(c0), dc_next = torch::zeros_like(c0);
    Tensor tmp = torch::empty_like(h0);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = order(s);
      const Tensor a = gates[t], tc = tanh_c[t], o = a.narrow(1, 3 * H, H);
      const Tensor c_prev = s == 0 ? c0 : c_all[order.previous(t)];
      total_grad(dh, dh_next, grad_out, t);
      // h_t = o * tanh(c_t):  dc_t = dc_t(from t+1 and the output) + dh_t * o * (1 - tanh^2 c_t)
      at::mul_out(tmp, dh, o);
      at::tanh_backward_out(dc, tmp, tc);
      dc.add_(dc_next);
      if (grad_c.defined()) dc.add_(grad_c[t]);
      Tensor d = dgates[t];
      lstm_gate_grads(d, a, dh, tc, dc, c_prev, dc_next);
      // dh_{t-1} = (dgates_t W_hh) * mask
      recurrent_grad(dh_next, d, w_hh, mask);
    }
    return {dgates,   dh_next,  dc_next, recurrent_weight_grad(dgates, out, h0, mask, reverse),
            Tensor(), Tensor(), Tensor()};
  }
};

// ~~~~~~~~~~~~~~~~~~~~~~~~~ layer-normalised LSTM ~~~~~~~~~~~~~~~~~~~~~~~~~

// torch::layer_norm's default epsilon, which the step-by-step path uses.
constexpr double kLayerNormEps = 1e-5;

// Ba, Kiros and Hinton (2016), as the step-by-step path computes it:
//   z_t = W_hh h~_{t-1}                          (B, G)
//   (i, f, g, o) pre-activations a_t = x~_t + LN_hh(z_t)
//   c_t = f c_{t-1} + i g;  m_t = LN_c(c_t);  h_t = o tanh(m_t)
// where x~_t = LN_ih(W_ih x_t) + b comes in as xw, LN_hh(z) = (z - mean z) /
// sqrt(var z + eps) * ln_hh over each row (no bias: b is in x~), and LN_c has
// a gain and a bias. The norms run through ATen's native_layer_norm, whose
// per-row mean and 1/std are kept for its backward; the gains' and LN_c's
// bias gradients are summed over all steps in one call after the loop.
class LNLSTMScan : public torch::autograd::Function<LNLSTMScan> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& xw, const Tensor& h0,
                               const Tensor& c0, const Tensor& w_hh, const Tensor& ln_hh,
                               const Tensor& ln_c_weight, const Tensor& ln_c_bias,
                               const c10::optional<Tensor>& mask_opt, bool reverse, bool keep) {
    const Tensor mask = mask_opt.value_or(Tensor());
    const int64_t T = xw.size(0), B = xw.size(1), G = xw.size(2), H = h0.size(1);
    const StepOrder order{T, reverse};
    const auto opt = h0.options();
    // gates_t: x~_t + LN_hh(z_t), then (i, f, g, o) in place
    StepBuffer gates(keep, T, B, G, opt), z_all(keep, T, B, G, opt), tanh_m(keep, T, B, H, opt);
    Tensor out = torch::empty({T, B, H}, opt);
    Tensor c_all = torch::empty_like(out);
    // each row's mean and 1/std of z_t (hh) and of c_t (c)
    StepBuffer mean_hh(keep, T, B, 1, opt), rstd_hh(keep, T, B, 1, opt);
    StepBuffer mean_c(keep, T, B, 1, opt), rstd_c(keep, T, B, 1, opt);
    const Tensor w_hh_t = w_hh.t();
    Tensor hr = mask.defined() ? torch::empty_like(h0) : Tensor();
    Tensor h = h0, c = c0;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = order(s);
      // a_t = x~_t + LN_hh(W_hh h~_{t-1})
      Tensor z = z_all[t];
      at::mm_out(z, masked(h, mask, hr), w_hh_t);
      auto [zn, mz, rz] = at::native_layer_norm(z, {G}, ln_hh, c10::nullopt, kLayerNormEps);
      mean_hh[t].copy_(mz.view({B, 1}));
      rstd_hh[t].copy_(rz.view({B, 1}));
      Tensor a = gates[t];
      at::add_out(a, xw[t], zn);
      // (i, f, g, o) = activations of a_t;  c_t = f * c_{t-1} + i * g
      Tensor c_t = c_all[t];
      const Tensor o = lstm_gates_and_cell(a, c, c_t);
      // h_t = o * tanh(LN_c(c_t))
      auto [m, mc, rc] = at::native_layer_norm(c_t, {H}, ln_c_weight, ln_c_bias, kLayerNormEps);
      mean_c[t].copy_(mc.view({B, 1}));
      rstd_c[t].copy_(rc.view({B, 1}));
      Tensor tm = tanh_m[t], h_t = out[t];
      at::tanh_out(tm, m);
      at::mul_out(h_t, o, tm);
      h = h_t;
      c = c_t;
    }
    ctx->set_materialize_grads(false);
    ctx->saved_data["reverse"] = reverse;
    if (keep) {
      ctx->save_for_backward({gates.all(), z_all.all(), tanh_m.all(), c_all, out, mean_hh.all(),
                              rstd_hh.all(), mean_c.all(), rstd_c.all(), h0, c0, w_hh, ln_hh,
                              ln_c_weight, ln_c_bias, mask});
    }
    return {out, c_all};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_first_order();
    const auto saved = ctx->get_saved_variables();
    const Tensor &gates = saved[0], &z_all = saved[1], &tanh_m = saved[2], &c_all = saved[3],
                 &out = saved[4], &mean_hh = saved[5], &rstd_hh = saved[6], &mean_c = saved[7],
                 &rstd_c = saved[8], &h0 = saved[9], &c0 = saved[10], &w_hh = saved[11],
                 &ln_hh = saved[12], &ln_c_weight = saved[13], &ln_c_bias = saved[14],
                 &mask = saved[15];
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const Tensor &grad_out = grads[0], &grad_c = grads[1];
    const int64_t T = out.size(0), B = out.size(1), G = gates.size(2), H = h0.size(1);
    const StepOrder order{T, reverse};
    // dL/da_t (= dL/dx~_t), dL/dz_t and dL/dm_t of every step
    Tensor dgates = torch::empty_like(gates), dz_all = torch::empty_like(z_all);
    Tensor dm_all = torch::empty_like(out);
    Tensor dh = torch::empty_like(h0), dh_next = torch::zeros_like(h0);
    Tensor dc = torch::empty_like(c0), dc_next = torch::zeros_like(c0);
    Tensor tmp = torch::empty_like(h0);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = order(s);
      const Tensor a = gates[t], tm = tanh_m[t], o = a.narrow(1, 3 * H, H);
      const Tensor c_prev = s == 0 ? c0 : c_all[order.previous(t)];
      total_grad(dh, dh_next, grad_out, t);
      // h_t = o * tanh(m_t):  dm_t = dh_t * o * (1 - tanh^2 m_t)
      Tensor dm = dm_all[t];
      at::mul_out(tmp, dh, o);
      at::tanh_backward_out(dm, tmp, tm);
      // m_t = LN_c(c_t):  dc_t = LN_c's input gradient + what t+1 and the output send
      Tensor dcn = std::get<0>(at::native_layer_norm_backward(
          dm, c_all[t], {H}, mean_c[t], rstd_c[t], ln_c_weight, ln_c_bias, {true, false, false}));
      at::add_out(dc, dcn, dc_next);
      if (grad_c.defined()) dc.add_(grad_c[t]);
      Tensor d = dgates[t];
      lstm_gate_grads(d, a, dh, tm, dc, c_prev, dc_next);
      // a_t = x~_t + LN_hh(z_t):  dz_t = LN_hh's input gradient of da_t
      Tensor dz = dz_all[t];
      dz.copy_(std::get<0>(at::native_layer_norm_backward(
          d, z_all[t], {G}, mean_hh[t], rstd_hh[t], ln_hh, c10::nullopt, {true, false, false})));
      // dh_{t-1} = (dz_t W_hh) * mask
      recurrent_grad(dh_next, dz, w_hh, mask);
    }
    // the norms' gains (and LN_c's bias) over every step at once: rows (t, b)
    auto rows = [&](const Tensor& x) { return x.reshape({T * B, x.size(2)}); };
    Tensor d_ln_hh = std::get<1>(
        at::native_layer_norm_backward(rows(dgates), rows(z_all), {G}, rows(mean_hh), rows(rstd_hh),
                                       ln_hh, c10::nullopt, {false, true, false}));
    auto dc_norm =
        at::native_layer_norm_backward(rows(dm_all), rows(c_all), {H}, rows(mean_c), rows(rstd_c),
                                       ln_c_weight, ln_c_bias, {false, true, true});
    return {dgates,
            dh_next,
            dc_next,
            recurrent_weight_grad(dz_all, out, h0, mask, reverse),
            d_ln_hh,
            std::get<1>(dc_norm),
            std::get<2>(dc_norm),
            Tensor(),
            Tensor(),
            Tensor()};
  }
};

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ GRU ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

class GRUScan : public torch::autograd::Function<GRUScan> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& xw, const Tensor& h0,
                               const Tensor& w_hh, const c10::optional<Tensor>& b_hh_opt,
                               const c10::optional<Tensor>& mask_opt, bool reverse, bool keep) {
    const Tensor b_hh = b_hh_opt.value_or(Tensor()), mask = mask_opt.value_or(Tensor());
    const int64_t T = xw.size(0), B = xw.size(1), H = h0.size(1);
    const StepOrder order{T, reverse};
    // act_t = (r, z, n) and hw_t = W_hh h~_{t-1} + b_hh
    StepBuffer act(keep, T, B, 3 * H, h0.options()), hw(keep, T, B, 3 * H, h0.options());
    Tensor out = torch::empty({T, B, H}, h0.options());
    const Tensor w_hh_t = w_hh.t();
    Tensor hr = mask.defined() ? torch::empty_like(h0) : Tensor();
    Tensor h = h0;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = order(s);
      Tensor a = act[t], hw_t = hw[t], h_t = out[t];
      const Tensor x_t = xw[t];
      // hw_t = W_hh h~_{t-1} + b_hh
      if (b_hh.defined()) {
        at::addmm_out(hw_t, b_hh, masked(h, mask, hr), w_hh_t);
      } else {
        at::mm_out(hw_t, masked(h, mask, hr), w_hh_t);
      }
      // r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})
      Tensor rz = a.narrow(1, 0, 2 * H);
      at::add_out(rz, x_t.narrow(1, 0, 2 * H), hw_t.narrow(1, 0, 2 * H));
      rz.sigmoid_();
      const Tensor r = a.narrow(1, 0, H), z = a.narrow(1, H, H);
      // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      Tensor n = a.narrow(1, 2 * H, H);
      at::mul_out(n, r, hw_t.narrow(1, 2 * H, H));
      n.add_(x_t.narrow(1, 2 * H, H));
      n.tanh_();
      // h_t = (1 - z) * n + z * h_{t-1} = n + z * (h_{t-1} - n)
      at::sub_out(h_t, h, n);
      h_t.mul_(z);
      h_t.add_(n);
      h = h_t;
    }
    ctx->set_materialize_grads(false);
    ctx->saved_data["reverse"] = reverse;
    if (keep) ctx->save_for_backward({act.all(), hw.all(), out, h0, w_hh, b_hh, mask});
    return {out};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    check_first_order();
    const auto saved = ctx->get_saved_variables();
    const Tensor &act = saved[0], &hw = saved[1], &out = saved[2], &h0 = saved[3], &w_hh = saved[4],
                 &b_hh = saved[5], &mask = saved[6];
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const Tensor& grad_out = grads[0];
    const int64_t T = out.size(0), H = h0.size(1);
    const StepOrder order{T, reverse};
    // dxw_t and dhw_t share the r and z columns; only n differs (dhw_n = dxw_n * r)
    Tensor dxw = torch::empty_like(act), dhw = torch::empty_like(act);
    Tensor dh = torch::empty_like(h0), dh_next = torch::zeros_like(h0);
    Tensor dh_z = torch::empty_like(h0), dn = torch::empty_like(h0);
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t t = order(s);
      const Tensor a = act[t];
      const Tensor r = a.narrow(1, 0, H), z = a.narrow(1, H, H), n = a.narrow(1, 2 * H, H);
      const Tensor hw_n = hw[t].narrow(1, 2 * H, H);
      const Tensor h_prev = s == 0 ? h0 : out[order.previous(t)];
      total_grad(dh, dh_next, grad_out, t);
      Tensor dx = dxw[t], dr = dhw[t];
      Tensor d_r = dr.narrow(1, 0, H), d_z = dr.narrow(1, H, H), d_hn = dr.narrow(1, 2 * H, H);
      Tensor d_xn = dx.narrow(1, 2 * H, H);
      // h_t = n + z (h_{t-1} - n):  dz = dh_t (h_{t-1} - n), dn = dh_t (1 - z), and dh_t z to
      // h_{t-1}
      at::sub_out(d_z, h_prev, n);
      d_z.mul_(dh);
      at::mul_out(dh_z, dh, z);
      at::sub_out(dn, dh, dh_z);
      // n = tanh(a_n), a_n = x~_n + r hw_n:  da_n = dn (1 - n^2) = dxw_n;  dhw_n = da_n r;  dr =
      // da_n hw_n
      at::tanh_backward_out(d_xn, dn, n);
      at::mul_out(d_hn, d_xn, r);
      at::mul_out(d_r, d_xn, hw_n);
      // r, z = sigmoid(.):  d(pre) = d s (1 - s)
      Tensor d_rz = dr.narrow(1, 0, 2 * H);
      at::sigmoid_backward_out(d_rz, d_rz, a.narrow(1, 0, 2 * H));
      // dh_{t-1} = dh_t z + (dhw_t W_hh) * mask
      recurrent_grad(dh_next, dr, w_hh, mask);
      dh_next.add_(dh_z);
    }
    dxw.narrow(2, 0, 2 * H).copy_(dhw.narrow(2, 0, 2 * H));
    Tensor d_b_hh = b_hh.defined() ? dhw.sum(torch::IntArrayRef{0, 1}) : Tensor();
    return {dxw,      dh_next, recurrent_weight_grad(dhw, out, h0, mask, reverse), d_b_hh, Tensor(),
            Tensor(), Tensor()};
  }
};

// Undefined tensors enter autograd Functions as empty optionals.
c10::optional<Tensor> optional(const Tensor& t) {
  return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt;
}

// Whether autograd records the scan, so that its backward will need every
// step's buffers (what Function::apply decides for the node).
bool records_grad(std::initializer_list<Tensor> inputs) {
  if (!torch::GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

}  // namespace

std::vector<Tensor> fused_scan(CellKind kind, const Tensor& xw, const Tensor& h0, const Tensor& c0,
                               const Tensor& w_hh, const Tensor& b_hh, const Tensor& rec_mask,
                               bool reverse, const LayerNormWeights& ln) {
  const bool keep = records_grad({xw, h0, c0, w_hh, b_hh, ln.hh, ln.c_weight, ln.c_bias});
  switch (kind) {
    case CellKind::kLSTM:
      if (ln.hh.defined()) {
        return LNLSTMScan::apply(xw, h0, c0, w_hh, ln.hh, ln.c_weight, ln.c_bias,
                                 optional(rec_mask), reverse, keep);
      }
      return LSTMScan::apply(xw, h0, c0, w_hh, optional(rec_mask), reverse, keep);
    case CellKind::kGRU:
      return GRUScan::apply(xw, h0, w_hh, optional(b_hh), optional(rec_mask), reverse, keep);
    case CellKind::kRNNTanh:
    case CellKind::kRNNReLU:
      break;
  }
  return RNNScan::apply(xw, h0, w_hh, optional(rec_mask), kind == CellKind::kRNNReLU, reverse);
}

bool fused_scan_enabled() {
  return g_fused_scan.load();
}

void set_fused_scan_enabled(bool on) {
  g_fused_scan.store(on);
}

}  // namespace rnnlab::detail
