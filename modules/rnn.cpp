// Hand-written recurrent cells and layers; see modules/rnn.h.
//
// Speed: a layer projects the inputs of all steps in one addmm; the recurrence
// then runs as one fused autograd node (modules/scan.h: preallocated buffers,
// BPTT by hand, dL/dW_hh in one product; the layer-normalised LSTM too)
// wherever no GRU or RNN layer_norm, proj_size or held relu state needs the
// general step-by-step path below, which `unbind`s
// the projection along time once (NOTES fact 3: a per-step select costs a
// full-size zero gradient per step) and `stack`s the outputs once.
// Padded batches need no per-step masking: the forward direction runs through
// the padding and h_n is read back at each sequence's last step; the reverse
// direction runs over each sequence reversed within its own length. Only the
// relu RNN, whose state is unbounded, holds its state over padded steps with a
// per-step torch::where. Measured (LSTM, forward+backward, random lengths in
// [T/2, T]): +4% at B=32 T=35 H=128 and +0% at B=64 T=100 H=512 over no lengths;
// a torch::where mask per step on h and c cost +10% and +2%.
#include "modules/rnn.h"
#include "modules/dropout.h"
#include "modules/scan.h"

#include "core/torch_error.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace rnnlab {

namespace rnn_utils = torch::nn::utils::rnn;
using torch::Tensor;

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ option values ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace {

bool is_relu(const Nonlinearity& nl) {
  return c10::get_if<torch::enumtype::kReLU>(&nl) != nullptr;
}

// "lstm, gru or rnn"
std::string choice_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

// The index of `name` in `names`; std::invalid_argument naming the choices otherwise.
size_t index_of(const std::vector<std::string>& names, const std::string& name, const char* what) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return i;
  throw std::invalid_argument("unknown " + std::string(what) + " '" + name + "' (expected " +
                              choice_list(names) + ")");
}

}  // namespace

template <>
const std::vector<std::string>& names_of<CellType>() {
  static const std::vector<std::string> names = {"lstm", "gru", "rnn"};
  return names;
}
template <>
const std::vector<std::string>& names_of<Implementation>() {
  static const std::vector<std::string> names = {"custom", "builtin"};
  return names;
}
template <>
const std::vector<std::string>& names_of<Nonlinearity>() {
  static const std::vector<std::string> names = {"tanh", "relu"};
  return names;
}

template <>
const std::vector<std::string>& names_of<HiddenInit>() {
  static const std::vector<std::string> names = {"default", "identity", "orthogonal"};
  return names;
}
template <>
const std::vector<std::string>& names_of<ForgetBiasInit>() {
  static const std::vector<std::string> names = {"default", "one", "chrono"};
  return names;
}

std::string to_string(CellType type) {
  return names_of<CellType>().at(static_cast<size_t>(type));
}
std::string to_string(Implementation impl) {
  return names_of<Implementation>().at(static_cast<size_t>(impl));
}
std::string to_string(const Nonlinearity& nonlinearity) {
  return names_of<Nonlinearity>().at(is_relu(nonlinearity) ? 1 : 0);
}
std::string to_string(HiddenInit init) {
  return names_of<HiddenInit>().at(static_cast<size_t>(init));
}
std::string to_string(ForgetBiasInit init) {
  return names_of<ForgetBiasInit>().at(static_cast<size_t>(init));
}
std::ostream& operator<<(std::ostream& stream, CellType type) {
  return stream << to_string(type);
}
std::ostream& operator<<(std::ostream& stream, Implementation impl) {
  return stream << to_string(impl);
}

template <>
CellType from_string<CellType>(const std::string& name) {
  return static_cast<CellType>(index_of(names_of<CellType>(), name, "cell type"));
}
template <>
Implementation from_string<Implementation>(const std::string& name) {
  return static_cast<Implementation>(index_of(names_of<Implementation>(), name, "impl"));
}
template <>
Nonlinearity from_string<Nonlinearity>(const std::string& name) {
  if (index_of(names_of<Nonlinearity>(), name, "nonlinearity") == 1) return torch::kReLU;
  return torch::kTanh;
}
template <>
HiddenInit from_string<HiddenInit>(const std::string& name) {
  return static_cast<HiddenInit>(index_of(names_of<HiddenInit>(), name, "hidden_init"));
}
template <>
ForgetBiasInit from_string<ForgetBiasInit>(const std::string& name) {
  return static_cast<ForgetBiasInit>(index_of(names_of<ForgetBiasInit>(), name, "forget_bias"));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ option checks ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

void RecurrentOptions::validate(const std::string& who, const Namer& name) const {
  auto n = [&](const char* option) { return name ? name(option) : std::string(option); };
  auto fail = [&](const char* option, const std::string& reason) {
    throw RecurrentOptionError(who + ": " + n(option) + ": " + reason, option, reason);
  };
  auto got = [](auto value) {
    std::ostringstream s;
    s << value;
    return ", got " + s.str();
  };
  const bool builtin = impl_ == Implementation::kBuiltin;
  // sizes
  if (input_size_ <= 0) fail("input_size", "must be positive" + got(input_size_));
  if (hidden_size_ <= 0) fail("hidden_size", "must be positive" + got(hidden_size_));
  if (num_layers_ <= 0) fail("num_layers", "must be positive" + got(num_layers_));
  // what only one cell type has
  if (proj_size_ < 0) fail("proj_size", "must be >= 0 (0: no projection)" + got(proj_size_));
  if (proj_size_ > 0 && type_ != CellType::kLSTM)
    fail("proj_size", "only an lstm has a projection; " + n("type") + " is " + to_string(type_));
  if (proj_size_ >= hidden_size_)
    fail("proj_size",
         "must be smaller than " + n("hidden_size") + " (" + std::to_string(hidden_size_) + ")");
  if (is_relu(nonlinearity_) && type_ != CellType::kRNN)
    fail("nonlinearity", "only the vanilla rnn has a choice of non-linearity; " + n("type") +
                             " is " + to_string(type_));
  // what only rnnlab's modules have
  if (builtin && layer_norm_)
    fail("layer_norm", "torch::nn has no layer-normalised cells; set " + n("impl") + ": custom");
  if (!(recurrent_dropout_ >= 0 && recurrent_dropout_ < 1))
    fail("recurrent_dropout", "must lie in [0, 1)" + got(recurrent_dropout_));
  if (builtin && recurrent_dropout_ > 0)
    fail("recurrent_dropout", "torch::nn has no recurrent dropout; set " + n("impl") + ": custom");
  if (!(weight_drop_ >= 0 && weight_drop_ < 1))
    fail("weight_drop", "must lie in [0, 1)" + got(weight_drop_));
  if (builtin && weight_drop_ > 0)
    fail("weight_drop",
         "torch::nn's fused layers cannot drop weights of W_hh; set " + n("impl") + ": custom");
  if (builtin && locked_dropout_)
    fail("locked_dropout",
         "torch::nn draws a new dropout mask at every step; set " + n("impl") + ": custom");
  if (locked_dropout_ && dropout_ == 0)
    fail("locked_dropout", "locks the masks of " + n("dropout") + ", which is 0");
  // dropout between layers
  if (!(dropout_ >= 0 && dropout_ < 1)) fail("dropout", "must lie in [0, 1)" + got(dropout_));
  if (dropout_ > 0 && num_layers_ == 1)
    fail("dropout",
         "dropout between stacked layers needs " + n("num_layers") + " >= 2 (it would do nothing)");
  // initialisation
  if (hidden_init_ == HiddenInit::kIdentity && type_ != CellType::kRNN)
    fail("hidden_init", "identity is for the vanilla rnn (IRNN); " + n("type") + " is " +
                            to_string(type_) + " (orthogonal suits any cell)");
  if (forget_bias_ != ForgetBiasInit::kDefault && type_ != CellType::kLSTM)
    fail("forget_bias", "only an lstm has a forget gate; " + n("type") + " is " + to_string(type_));
  if (forget_bias_ != ForgetBiasInit::kDefault && !bias_)
    fail("forget_bias", "sets a bias, and " + n("bias") + " is false");
  if (forget_bias_ == ForgetBiasInit::kChrono && chrono_max_ < 2)
    fail("chrono_max",
         "chrono initialisation needs T_max >= 2 (the longest dependency, e.g. the "
         "sequence length)" +
             got(chrono_max_));
  if (chrono_max_ != 0 && forget_bias_ != ForgetBiasInit::kChrono)
    fail("chrono_max", "is T_max of chrono initialisation, and " + n("forget_bias") + " is " +
                           to_string(forget_bias_));
}

int64_t RecurrentOptions::output_size() const {
  return (proj_size_ > 0 ? proj_size_ : hidden_size_) * (bidirectional_ ? 2 : 1);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~ option conversions ~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace detail {

namespace {
// Copy the options of RNNLAB_STACK_ARGS, RNNLAB_RNN_ARGS or RNNLAB_LSTM_ARGS
// from `from` into `to`.
#define RNNLAB_COPY_ARG(type, name, default_) to.name(from.name());
template <class To, class From>
To copy_stack_args(const From& from, To to) {
  RNNLAB_STACK_ARGS(RNNLAB_COPY_ARG)
  return to;
}
template <class To, class From>
To copy_rnn_args(const From& from, To to) {
  RNNLAB_RNN_ARGS(RNNLAB_COPY_ARG)
  return to;
}
template <class To, class From>
To copy_lstm_args(const From& from, To to) {
  RNNLAB_LSTM_ARGS(RNNLAB_COPY_ARG)
  return to;
}
#undef RNNLAB_COPY_ARG
}  // namespace

CellKind cell_kind(const RecurrentOptions& options) {
  switch (options.type()) {
    case CellType::kLSTM:
      return CellKind::kLSTM;
    case CellType::kGRU:
      return CellKind::kGRU;
    case CellType::kRNN:
      break;
  }
  return is_relu(options.nonlinearity()) ? CellKind::kRNNReLU : CellKind::kRNNTanh;
}

RecurrentOptions to_recurrent(const RNNOptions& o) {
  return copy_rnn_args(
      o, copy_stack_args(o, RecurrentOptions(CellType::kRNN, o.input_size(), o.hidden_size())));
}
RecurrentOptions to_recurrent(const LSTMOptions& o) {
  return copy_lstm_args(
      o, copy_stack_args(o, RecurrentOptions(CellType::kLSTM, o.input_size(), o.hidden_size())));
}
RecurrentOptions to_recurrent(const GRUOptions& o) {
  return copy_stack_args(o, RecurrentOptions(CellType::kGRU, o.input_size(), o.hidden_size()));
}

template <>
RNNOptions layer_options<RNNOptions>(const RecurrentOptions& o) {
  return copy_rnn_args(o, copy_stack_args(o, RNNOptions(o.input_size(), o.hidden_size())));
}
template <>
LSTMOptions layer_options<LSTMOptions>(const RecurrentOptions& o) {
  return copy_lstm_args(o, copy_stack_args(o, LSTMOptions(o.input_size(), o.hidden_size())));
}
template <>
GRUOptions layer_options<GRUOptions>(const RecurrentOptions& o) {
  return copy_stack_args(o, GRUOptions(o.input_size(), o.hidden_size()));
}

}  // namespace detail

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ checks ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace detail {

void check(bool ok, const std::string& who, const std::string& message) {
  if (!ok) throw std::invalid_argument(who + ": " + message);
}

void check_input(const std::string& who, const Tensor& input, int64_t input_size,
                 bool batch_first) {
  check(input.defined(), who, "input is undefined");
  const std::string layout =
      std::string(batch_first ? "(B, T, " : "(T, B, ") + std::to_string(input_size) + ")";
  check(input.dim() == 3, who,
        "expected a 3-dim input " + layout + ", got shape " + shape_str(input.sizes()));
  check(input.size(2) == input_size, who,
        "expected input " + layout + " with input_size " + std::to_string(input_size) +
            ", got shape " + shape_str(input.sizes()));
  check(input.size(0) > 0 && input.size(1) > 0, who,
        "empty input of shape " + shape_str(input.sizes()));
}

void check_state(const std::string& who, const std::string& name, const Tensor& state,
                 torch::IntArrayRef expected) {
  check(state.defined(), who, name + " is undefined");
  check(state.sizes() == expected, who,
        "expected " + name + " of shape " + shape_str(expected) + ", got " +
            shape_str(state.sizes()));
}

void check_like(const std::string& who, const Tensor& input, const Tensor& weight) {
  check(input.scalar_type() == weight.scalar_type() && input.device() == weight.device(), who,
        "input is " + std::string(c10::toString(input.scalar_type())) + " on " +
            input.device().str() + " but the parameters are " +
            std::string(c10::toString(weight.scalar_type())) + " on " + weight.device().str());
}

Tensor check_lengths(const std::string& who, const Tensor& lengths, int64_t B, int64_t T) {
  check(lengths.dim() == 1 && lengths.size(0) == B, who,
        "expected lengths of shape [" + std::to_string(B) + "] (one per sequence), got " +
            shape_str(lengths.sizes()));
  check(!lengths.is_floating_point() && !lengths.is_complex() &&
            lengths.scalar_type() != torch::kBool,
        who, "lengths must be an integer tensor");
  Tensor lens = lengths.to(torch::kCPU, torch::kInt64);
  const int64_t lo = lens.min().item<int64_t>(), hi = lens.max().item<int64_t>();
  check(lo >= 1 && hi <= T, who,
        "lengths must lie in [1, T=" + std::to_string(T) + "], got min " + std::to_string(lo) +
            " and max " + std::to_string(hi));
  return lens;
}

}  // namespace detail

// ~~~~~~~~~~~~~~~~~~~~~~~~~~ gate arithmetic ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace {

// The LSTM step after its matmuls, shared by LSTMCell and the LSTM layer.
// gates (B, 4H): pre-activations in torch's order i, f, g, o; c (B, H): c_{t-1}.
// ln_weight/ln_bias (H): LN_c's gain and shift, or undefined.
// Returns h_t (B, H) (before any projection) and c_t (B, H).
std::tuple<Tensor, Tensor> lstm_pointwise(const Tensor& gates, const Tensor& c,
                                          const Tensor& ln_weight = {},
                                          const Tensor& ln_bias = {}) {
  auto g = gates.chunk(4, 1);
  // i, f, o = sigmoid(.), g = tanh(.)
  const Tensor i = g[0].sigmoid(), f = g[1].sigmoid(), n = g[2].tanh(), o = g[3].sigmoid();
  // c_t = f * c_{t-1} + i * g  (plain mul/add: addcmul's backward costs extra copies)
  Tensor c_t = f * c + i * n;
  // h_t = o * tanh(c_t), or o * tanh(LN_c(c_t)) with layer_norm
  Tensor cn = ln_weight.defined() ? torch::layer_norm(c_t, {c_t.size(1)}, ln_weight, ln_bias) : c_t;
  return {o * cn.tanh(), c_t};
}

// The GRU step after its matmuls, shared by GRUCell and the GRU layer.
// xw (B, 3H) = W_ih x_t + b_ih; hw (B, 3H) = W_hh h_{t-1} + b_hh; h (B, H) = h_{t-1}.
// Returns h_t (B, H).
Tensor gru_pointwise(const Tensor& xw, const Tensor& hw, const Tensor& h) {
  const int64_t H = h.size(1);
  auto x = xw.split_with_sizes({2 * H, H}, 1);
  auto hh = hw.split_with_sizes({2 * H, H}, 1);
  // r, z = sigmoid(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z})  (one op for both)
  auto rz = (x[0] + hh[0]).sigmoid().chunk(2, 1);
  const Tensor& r = rz[0];
  const Tensor& z = rz[1];
  // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
  const Tensor n = (x[1] + r * hh[1]).tanh();
  // h_t = (1 - z) * n + z * h_{t-1} = n + z * (h_{t-1} - n)
  return n + z * (h - n);
}

// The vanilla RNN activation.
Tensor rnn_act(const Tensor& pre, bool relu) {
  return relu ? pre.relu() : pre.tanh();
}

// Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), as torch does.
void uniform_init(torch::nn::Module& module, int64_t hidden_size) {
  torch::NoGradGuard no_grad;
  const double stdv = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  for (auto& p : module.parameters()) p.uniform_(-stdv, stdv);
}

// Checks a cell's input: (B, I), with the dtype and device of `weight`; returns B.
int64_t check_cell_input(const std::string& who, const Tensor& input, int64_t input_size,
                         const Tensor& weight) {
  detail::check(input.defined() && input.dim() == 2 && input.size(1) == input_size, who,
                "expected input of shape (B, " + std::to_string(input_size) + "), got " +
                    (input.defined() ? shape_str(input.sizes()) : "undefined"));
  detail::check_like(who, input, weight);
  return input.size(0);
}

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ cells ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace detail {

/// Gates per cell: the rows of weight_ih and weight_hh are G * hidden_size.
constexpr int64_t gates_of(CellType type) {
  return type == CellType::kLSTM ? 4 : type == CellType::kGRU ? 3 : 1;
}

template <typename Derived, typename Options>
void CellImplBase<Derived, Options>::reset() {
  RecurrentOptions(Derived::kType, options.input_size(), options.hidden_size())
      .validate(Derived::kName);
  const int64_t H = options.hidden_size(), G = gates_of(Derived::kType);
  weight_ih = this->register_parameter("weight_ih", torch::empty({G * H, options.input_size()}));
  weight_hh = this->register_parameter("weight_hh", torch::empty({G * H, H}));
  if (options.bias()) {
    bias_ih = this->register_parameter("bias_ih", torch::empty({G * H}));
    bias_hh = this->register_parameter("bias_hh", torch::empty({G * H}));
  }
  reset_parameters();
}

template <typename Derived, typename Options>
void CellImplBase<Derived, Options>::reset_parameters() {
  uniform_init(*this, options.hidden_size());
}

template <typename Derived, typename Options>
void CellImplBase<Derived, Options>::pretty_print(std::ostream& stream) const {
  stream << Derived::kName << "(" << options.input_size() << ", " << options.hidden_size()
         << ", bias=" << std::boolalpha << options.bias();
  if constexpr (Derived::kType == CellType::kRNN)
    stream << ", nonlinearity=" << (is_relu(options.nonlinearity()) ? "relu" : "tanh");
  stream << ")";
}

template class CellImplBase<RNNCellImpl, RNNCellOptions>;
template class CellImplBase<LSTMCellImpl, LSTMCellOptions>;
template class CellImplBase<GRUCellImpl, GRUCellOptions>;

}  // namespace detail

Tensor RNNCellImpl::forward(const Tensor& input, Tensor hx) {
  // h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
  // x is (B, I), h is (B, H)
  const int64_t B = check_cell_input(RNNCellImpl::kName, input, options.input_size(), weight_ih);
  if (!hx.defined()) hx = torch::zeros({B, options.hidden_size()}, input.options());
  detail::check_state(RNNCellImpl::kName, "hx", hx, {B, options.hidden_size()});
  Tensor pre = torch::linear(input, weight_ih, bias_ih) + torch::linear(hx, weight_hh, bias_hh);
  return rnn_act(pre, is_relu(options.nonlinearity()));
}

std::tuple<Tensor, Tensor> LSTMCellImpl::forward(
    const Tensor& input, torch::optional<std::tuple<Tensor, Tensor>> hx_opt) {
  // i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
  // f = sigmoid(W_if x + b_if + W_hf h + b_hf)
  // g =    tanh(W_ig x + b_ig + W_hg h + b_hg)
  // o = sigmoid(W_io x + b_io + W_ho h + b_ho)
  // c_t = f * c_{t-1} + i * g
  // h_t = o * tanh(c_t)
  // x is (B, I), h and c are (B, H)
  const int64_t B = check_cell_input(LSTMCellImpl::kName, input, options.input_size(), weight_ih);
  const int64_t H = options.hidden_size();
  Tensor h, c;
  if (hx_opt) {
    std::tie(h, c) = *hx_opt;
  } else {
    h = torch::zeros({B, H}, input.options());
    c = torch::zeros({B, H}, input.options());
  }
  detail::check_state(LSTMCellImpl::kName, "h", h, {B, H});
  detail::check_state(LSTMCellImpl::kName, "c", c, {B, H});
  Tensor gates = torch::linear(input, weight_ih, bias_ih) + torch::linear(h, weight_hh, bias_hh);
  return lstm_pointwise(gates, c);
}

Tensor GRUCellImpl::forward(const Tensor& input, Tensor hx) {
  // r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
  // z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
  // n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
  // h_t = (1 - z) * n + z * h_{t-1}
  // x is (B, I), h is (B, H)
  const int64_t B = check_cell_input(GRUCellImpl::kName, input, options.input_size(), weight_ih);
  if (!hx.defined()) hx = torch::zeros({B, options.hidden_size()}, input.options());
  detail::check_state(GRUCellImpl::kName, "hx", hx, {B, options.hidden_size()});
  return gru_pointwise(torch::linear(input, weight_ih, bias_ih),
                       torch::linear(hx, weight_hh, bias_hh), hx);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ layers ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace {

using detail::CellKind;
using detail::fused_scan;
using detail::fused_scan_enabled;
using detail::LayerWeights;

// The recurrence step by step, every op recorded by autograd: the general
// path (GRU and RNN layer_norm, proj_size, relu held over padding) and the reference the
// fused scan is tested against. xw (T, B, G): the input projection of every
// step; h (B, out), c (B, H): the initial state.
// Returns out (T, B, out), h and c after the last step taken, and with keep_c
// c_t of every step (T, B, H).
std::tuple<Tensor, Tensor, Tensor, Tensor> step_by_step(const RecurrentOptions& o,
                                                        const LayerWeights& w, const Tensor& xw,
                                                        Tensor h, Tensor c, const Tensor& rec_mask,
                                                        const std::vector<Tensor>& hold,
                                                        bool backwards, bool keep_c) {
  const int64_t T = xw.size(0), G = xw.size(2);
  const CellKind kind = detail::cell_kind(o);
  const bool lstm = kind == CellKind::kLSTM, gru = kind == CellKind::kGRU;
  // one (B, G) slice per step; unbind once (a per-step select would cost a
  // full-size zero gradient per step in backward)
  const std::vector<Tensor> xs = xw.unbind(0);

  const Tensor w_hh_t = w.w_hh.t();
  const Tensor w_hr_t = w.w_hr.defined() ? w.w_hr.t() : Tensor();
  const bool relu = kind == CellKind::kRNNReLU;
  std::vector<Tensor> outs(T), cs(keep_c ? T : 0);
  // time is dim 0 of x; t walks it forwards, or backwards for the reverse direction
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = backwards ? T - 1 - s : s;
    // the recurrent input h_{t-1}, through the variational dropout mask
    const Tensor hr = rec_mask.defined() ? h * rec_mask : h;
    if (lstm) {
      // gates = xw_t + W_hh h_{t-1}, (B, 4H)
      Tensor gates = o.layer_norm() ? xs[t] + torch::layer_norm(torch::mm(hr, w_hh_t), {G}, w.ln_hh)
                                    : torch::addmm(xs[t], hr, w_hh_t);
      std::tie(h, c) = lstm_pointwise(gates, c, w.ln_c_weight, w.ln_c_bias);
      // h_t = W_hr h_t with proj_size
      if (w_hr_t.defined()) h = torch::mm(h, w_hr_t);
      if (keep_c) cs[t] = c;
    } else if (gru) {
      // hw = W_hh h_{t-1} + b_hh, (B, 3H); with layer_norm LN_hh(W_hh h_{t-1}) + b_hh
      Tensor hw;
      if (o.layer_norm()) {
        hw = torch::layer_norm(torch::mm(hr, w_hh_t), {G}, w.ln_hh, w.b_hh);
      } else {
        hw = o.bias() ? torch::addmm(w.b_hh, hr, w_hh_t) : torch::mm(hr, w_hh_t);
      }
      h = gru_pointwise(xs[t], hw, h);
    } else {
      // h_t = act(xw_t + W_hh h_{t-1})
      Tensor pre = o.layer_norm() ? xs[t] + torch::layer_norm(torch::mm(hr, w_hh_t), {G}, w.ln_hh)
                                  : torch::addmm(xs[t], hr, w_hh_t);
      Tensor h_t = rnn_act(pre, relu);
      h = hold.empty() ? h_t : torch::where(hold[t], h_t, h);
    }
    outs[t] = h;
  }

  return {torch::stack(outs), h, c, keep_c ? torch::stack(cs) : Tensor()};
}

// Without a graph (evaluation), sequences longer than this run through the
// fused scan this many steps at a time.
constexpr int64_t kEvalChunk = 64;

// What one direction of one layer hands back.
struct DirectionResult {
  Tensor out;    // (T, B, out): h_t of every step, in time order
  Tensor h;      // (B, out): h at each sequence's last step
  Tensor c;      // (B, H): c at each sequence's last step (LSTM)
  Tensor c_all;  // (T, B, H): c_t of every step (LSTM, when asked for)
};

// Runs one direction of one layer over the whole sequence.
// x (T, B, In) is time-major; h (B, out) and c (B, H) are the initial state.
// rev_index (T*B) reverses each sequence within its length (padded batches
// only): the reverse direction then runs forwards over the reversed input.
// last_index (T*B) picks row (len_b - 1) * B + b, each sequence's last step
// (padded batches only). rec_mask (B, out): variational dropout mask on h_{t-1}.
// hold (T of (B, 1) bool, or empty): where false, h keeps its value instead of
// running on through the padding (used for relu, whose state is unbounded there).
DirectionResult run_direction(const RecurrentOptions& o, const LayerWeights& w, const Tensor& x,
                              Tensor h, Tensor c, bool reverse, const Tensor& rev_index,
                              const Tensor& last_index, const Tensor& rec_mask,
                              const std::vector<Tensor>& hold, bool want_c) {
  const int64_t T = x.size(0), B = x.size(1);
  const int64_t G = w.w_ih.size(0), P = h.size(1);
  const CellKind kind = detail::cell_kind(o);
  const bool lstm = kind == CellKind::kLSTM, gru = kind == CellKind::kGRU;
  const bool reindex = reverse && rev_index.defined();
  const bool backwards = reverse && !reindex;  // walk t = T-1 .. 0
  const bool keep_c = lstm && (want_c || last_index.defined());

  // seek to the input rows (t, b) in the order this direction reads them
  Tensor xin = x.reshape({T * B, x.size(2)});
  if (reindex) xin = xin.index_select(0, rev_index);

  // the input projection of steps (rows of xin, n*B of them) in one matmul:
  // xw = x W_ih^T + b, (n*B, G) (b = b_ih + b_hh; GRU: b_ih only, as b_hn sits
  // inside r * (...)); with layer_norm: xw = LN_ih(x W_ih^T) + b
  Tensor b_x;
  if (o.bias()) b_x = gru ? w.b_ih : w.b_ih + w.b_hh;
  auto project = [&](const Tensor& rows) {
    if (o.layer_norm()) return torch::layer_norm(torch::mm(rows, w.w_ih.t()), {G}, w.ln_ih, b_x);
    return b_x.defined() ? torch::addmm(b_x, rows, w.w_ih.t()) : torch::mm(rows, w.w_ih.t());
  };
  DirectionResult r;
  const bool fusable = (!o.layer_norm() || lstm) && !w.w_hr.defined() && hold.empty();
  if (fusable && fused_scan_enabled()) {
    // the recurrence as one autograd node (modules/scan.h)
    detail::LayerNormWeights ln;
    if (o.layer_norm()) ln = {w.ln_hh, w.ln_c_weight, w.ln_c_bias};
    const Tensor b_hh = gru ? w.b_hh : Tensor();
    if (torch::GradMode::is_enabled() || T <= kEvalChunk) {
      // all steps at once
      auto res = fused_scan(kind, project(xin).view({T, B, G}), h, c, w.w_hh, b_hh, rec_mask,
                            backwards, ln);
      r.out = res[0];
      if (lstm) r.c_all = res[1];
    } else {
      // no graph (evaluation): kEvalChunk steps at a time, the state carried
      // from chunk to chunk, so that the gate inputs take (kEvalChunk, B, G)
      // of memory, not (T, B, G)
      r.out = torch::empty({T, B, P}, h.options());
      if (lstm) r.c_all = torch::empty({T, B, c.size(1)}, c.options());
      const int64_t chunks = (T + kEvalChunk - 1) / kEvalChunk;
      for (int64_t k = 0; k < chunks; ++k) {
        // the chunks in the order the steps are taken
        const int64_t t0 = (backwards ? chunks - 1 - k : k) * kEvalChunk;
        const int64_t n = std::min(kEvalChunk, T - t0);
        auto res = fused_scan(kind, project(xin.narrow(0, t0 * B, n * B)).view({n, B, G}), h, c,
                              w.w_hh, b_hh, rec_mask, backwards, ln);
        const int64_t last = backwards ? 0 : n - 1;
        r.out.narrow(0, t0, n).copy_(res[0]);
        h = res[0][last];
        if (lstm) {
          r.c_all.narrow(0, t0, n).copy_(res[1]);
          c = res[1][last];
        }
      }
    }
    const int64_t last = backwards ? 0 : T - 1;
    r.h = r.out[last];
    if (lstm) r.c = r.c_all[last];
  } else {
    std::tie(r.out, r.h, r.c, r.c_all) =
        step_by_step(o, w, project(xin).view({T, B, G}), h, c, rec_mask, hold, backwards, keep_c);
  }
  if (last_index.defined()) {
    // padded batch: the state at each sequence's own last step
    r.h = r.out.view({T * B, P}).index_select(0, last_index);
    if (lstm) r.c = r.c_all.view({T * B, -1}).index_select(0, last_index);
  }
  if (reindex) {
    // back from each sequence's reversed time to real time (the map is its own inverse)
    r.out = r.out.view({T * B, P}).index_select(0, rev_index).view({T, B, P});
    if (want_c && lstm)
      r.c_all = r.c_all.view({T * B, -1}).index_select(0, rev_index).view({T, B, -1});
  }
  return r;
}

std::string suffix(int64_t layer, int64_t direction) {
  return "_l" + std::to_string(layer) + (direction == 1 ? "_reverse" : "");
}

}  // namespace

namespace detail {

template <typename Derived>
void RNNImplBase<Derived>::reset() {
  const RecurrentOptions o = static_cast<const Derived&>(*this).stack_options();
  o.validate(Derived::kName);
  const CellKind kind = cell_kind(o);
  const int64_t H = o.hidden_size(), D = o.bidirectional() ? 2 : 1;
  const int64_t P = o.proj_size() > 0 ? o.proj_size() : H;
  const int64_t gates = kind == CellKind::kLSTM ? 4 : kind == CellKind::kGRU ? 3 : 1;
  const int64_t G = gates * H;

  // same names, shapes and order as torch::nn::RNNImplBase
  weights_.clear();
  for (int64_t l = 0; l < o.num_layers(); ++l) {
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = suffix(l, d);
      const int64_t in = l == 0 ? o.input_size() : P * D;
      LayerWeights w;
      w.w_ih = this->register_parameter("weight_ih" + sfx, torch::empty({G, in}));
      w.w_hh = this->register_parameter("weight_hh" + sfx, torch::empty({G, P}));
      if (o.bias()) {
        w.b_ih = this->register_parameter("bias_ih" + sfx, torch::empty({G}));
        w.b_hh = this->register_parameter("bias_hh" + sfx, torch::empty({G}));
      }
      if (o.proj_size() > 0) {
        w.w_hr = this->register_parameter("weight_hr" + sfx, torch::empty({P, H}));
      }
      weights_.push_back(w);
    }
  }
  // rnnlab's extras after torch's parameters, so torch's come first in parameters()
  if (o.layer_norm()) {
    for (int64_t l = 0; l < o.num_layers(); ++l) {
      for (int64_t d = 0; d < D; ++d) {
        const std::string sfx = suffix(l, d);
        LayerWeights& w = weights_[l * D + d];
        w.ln_ih = this->register_parameter("ln_ih" + sfx, torch::empty({G}));
        w.ln_hh = this->register_parameter("ln_hh" + sfx, torch::empty({G}));
        if (kind == CellKind::kLSTM) {
          w.ln_c_weight = this->register_parameter("ln_c_weight" + sfx, torch::empty({H}));
          w.ln_c_bias = this->register_parameter("ln_c_bias" + sfx, torch::empty({H}));
        }
      }
    }
  }
  reset_parameters();
}

template <typename Derived>
void RNNImplBase<Derived>::reset_parameters() {
  const RecurrentOptions o = static_cast<const Derived&>(*this).stack_options();
  torch::NoGradGuard no_grad;
  const double stdv = 1.0 / std::sqrt(static_cast<double>(o.hidden_size()));
  // torch's parameters first and in torch's order: the same seed gives the same weights
  for (auto& p : this->named_parameters(/*recurse=*/false)) {
    const std::string& name = p.key();
    if (name.rfind("ln_c_bias", 0) == 0) {
      p.value().zero_();
    } else if (name.rfind("ln_", 0) == 0) {
      p.value().fill_(1.0);
    } else {
      p.value().uniform_(-stdv, stdv);
    }
  }
}

template <typename Derived>
void RNNImplBase<Derived>::pretty_print(std::ostream& stream) const {
  const RecurrentOptions o = static_cast<const Derived&>(*this).stack_options();
  stream << std::boolalpha << Derived::kName << "(input_size=" << o.input_size()
         << ", hidden_size=" << o.hidden_size() << ", num_layers=" << o.num_layers();
  if (o.type() == CellType::kRNN) stream << ", nonlinearity=" << to_string(o.nonlinearity());
  stream << ", bias=" << o.bias() << ", batch_first=" << o.batch_first()
         << ", dropout=" << o.dropout() << ", bidirectional=" << o.bidirectional();
  if (o.type() == CellType::kLSTM) stream << ", proj_size=" << o.proj_size();
  stream << ", layer_norm=" << o.layer_norm() << ", recurrent_dropout=" << o.recurrent_dropout()
         << ", weight_drop=" << o.weight_drop() << ", locked_dropout=" << o.locked_dropout() << ")";
}

template <typename Derived>
void RNNImplBase<Derived>::set_record_states(bool on) {
  record_ = on;
  if (!on) recorded_ = RecordedStates{};
}

template <typename Derived>
std::tuple<Tensor, Tensor, Tensor> RNNImplBase<Derived>::run(const Tensor& input, const Tensor& h0,
                                                             const Tensor& c0,
                                                             const Tensor& lengths,
                                                             bool batch_first) {
  const RecurrentOptions o = static_cast<const Derived&>(*this).stack_options();
  const std::string who = Derived::kName;
  check_input(who, input, o.input_size(), batch_first);
  check_like(who, input, weights_.at(0).w_ih);
  // x is time-major from here on: (T, B, I)
  const Tensor x = batch_first ? input.transpose(0, 1) : input;
  const int64_t T = x.size(0), B = x.size(1);
  const int64_t L = o.num_layers(), D = o.bidirectional() ? 2 : 1, H = o.hidden_size();
  const int64_t P = o.proj_size() > 0 ? o.proj_size() : H;
  const CellKind kind = cell_kind(o);
  const bool lstm = kind == CellKind::kLSTM;
  if (h0.defined()) check_state(who, "h0", h0, {L * D, B, P});
  if (lstm && c0.defined()) check_state(who, "c0", c0, {L * D, B, H});

  // padded batch: index maps and the mask of padded steps
  Tensor rev_index, last_index, pad_mask;
  std::vector<Tensor> hold;  // (B, 1) per step, relu only
  if (lengths.defined()) {
    const Tensor lens = check_lengths(who, lengths, B, T);  // (B) int64, CPU
    if (lens.min().item<int64_t>() < T) {
      const Tensor t = torch::arange(T, torch::kInt64).unsqueeze(1);  // (T, 1)
      const Tensor b = torch::arange(B, torch::kInt64);               // (B)
      const Tensor len = lens.unsqueeze(0);                           // (1, B)
      const Tensor valid = t < len;                                   // (T, B)
      // row of (T*B) holding each sequence's last step: (len_b - 1) * B + b
      last_index = ((lens - 1) * B + b).to(x.device());
      // reversal within each length: t -> len_b - 1 - t for t < len_b, padding stays
      if (D == 2)
        rev_index = (torch::where(valid, len - 1 - t, t) * B + b).view({T * B}).to(x.device());
      pad_mask = valid.logical_not().unsqueeze(2).to(x.device());  // (T, B, 1)
      // relu's state is unbounded: hold it over padded steps rather than let it
      // run on (an overflow there would turn the zero gradients into NaN)
      if (kind == CellKind::kRNNReLU) hold = valid.unsqueeze(2).to(x.device()).unbind(0);
    }
  }

  const std::vector<Tensor> h0s = h0.defined() ? h0.unbind(0) : std::vector<Tensor>{};
  const std::vector<Tensor> c0s = lstm && c0.defined() ? c0.unbind(0) : std::vector<Tensor>{};
  const Tensor zero_h = torch::zeros({B, P}, x.options());
  const Tensor zero_c = lstm ? torch::zeros({B, H}, x.options()) : Tensor();
  const bool training = this->is_training();
  if (record_) recorded_ = RecordedStates{};

  std::vector<Tensor> h_n, c_n;
  Tensor layer_input = x;  // (T, B, I) for layer 0, (T, B, D*out) after
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Tensor> outs, c_alls;
    for (int64_t d = 0; d < D; ++d) {
      const int64_t k = l * D + d;
      // variational dropout: one mask per sequence for all steps
      Tensor rec_mask;
      if (training && o.recurrent_dropout() > 0) {
        rec_mask = torch::empty({B, P}, x.options())
                       .bernoulli_(1 - o.recurrent_dropout())
                       .div_(1 - o.recurrent_dropout());
      }
      // weight drop: W_hh * m / (1 - p), one mask per layer and direction
      LayerWeights dropped;
      if (training && o.weight_drop() > 0) {
        dropped = weights_[k];
        dropped.w_hh = torch::dropout(weights_[k].w_hh, o.weight_drop(), true);
      }
      DirectionResult r =
          run_direction(o, dropped.w_hh.defined() ? dropped : weights_[k], layer_input,
                        h0s.empty() ? zero_h : h0s[k], c0s.empty() ? zero_c : c0s[k], d == 1,
                        rev_index, last_index, rec_mask, hold, record_);
      outs.push_back(r.out);
      h_n.push_back(r.h);
      if (lstm) c_n.push_back(r.c);
      if (record_ && lstm) c_alls.push_back(r.c_all);
    }
    Tensor out = D == 2 ? torch::cat(outs, 2) : outs[0];  // (T, B, D*out)
    if (pad_mask.defined()) out = out.masked_fill(pad_mask, 0);
    if (record_) {
      recorded_.h.push_back(out.detach());
      if (lstm) {
        Tensor c_all = D == 2 ? torch::cat(c_alls, 2) : c_alls[0];
        if (pad_mask.defined()) c_all = c_all.masked_fill(pad_mask, 0);
        recorded_.c.push_back(c_all.detach());
      }
    }
    // dropout between layers, not after the last; locked: one (B, F) mask for all T steps
    if (l + 1 < L) out = sequence_dropout(out, o.dropout(), o.locked_dropout(), training);
    layer_input = out;
  }
  Tensor output = batch_first ? layer_input.transpose(0, 1) : layer_input;
  return {output, torch::stack(h_n), lstm ? torch::stack(c_n) : Tensor()};
}

template class RNNImplBase<RNNImpl>;
template class RNNImplBase<LSTMImpl>;
template class RNNImplBase<GRUImpl>;

}  // namespace detail

namespace {

// Packs the padded output (T, B, F) of a PackedSequence input back into a
// PackedSequence with the input's batch order.
rnn_utils::PackedSequence repack(const Tensor& out, const Tensor& lens,
                                 const rnn_utils::PackedSequence& like) {
  const Tensor& sorted = like.sorted_indices();
  if (!sorted.defined()) return rnn_utils::pack_padded_sequence(out, lens, false, true);
  auto packed = torch::_pack_padded_sequence(out.index_select(1, sorted),
                                             lens.index_select(0, sorted.cpu()), false);
  return rnn_utils::PackedSequence(std::get<0>(packed), std::get<1>(packed), sorted,
                                   like.unsorted_indices());
}

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ RNN ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

RNNImpl::RNNImpl(const RNNOptions& options_) : options(options_) {
  reset();
}

RecurrentOptions RNNImpl::stack_options() const {
  return detail::to_recurrent(options);
}

std::tuple<Tensor, Tensor> RNNImpl::forward(const Tensor& input, Tensor hx, const Tensor& lengths) {
  auto [output, h_n, c_n] = run(input, hx, {}, lengths, options.batch_first());
  return {output, h_n};
}

std::tuple<rnn_utils::PackedSequence, Tensor> RNNImpl::forward_with_packed_input(
    const rnn_utils::PackedSequence& packed_input, Tensor hx) {
  auto [padded, lens] = rnn_utils::pad_packed_sequence(packed_input, false);
  auto [output, h_n, c_n] = run(padded, hx, {}, lens, false);
  return {repack(output, lens, packed_input), h_n};
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ LSTM ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

LSTMImpl::LSTMImpl(const LSTMOptions& options_) : options(options_) {
  reset();
}

RecurrentOptions LSTMImpl::stack_options() const {
  return detail::to_recurrent(options);
}

namespace {
std::tuple<Tensor, Tensor> unpack_state(const torch::optional<std::tuple<Tensor, Tensor>>& hx_opt) {
  if (!hx_opt) return {};
  auto [h, c] = *hx_opt;
  detail::check(h.defined() && c.defined(), LSTMImpl::kName,
                "the initial state (h0, c0) needs both tensors");
  return {h, c};
}
}  // namespace

std::tuple<Tensor, std::tuple<Tensor, Tensor>> LSTMImpl::forward(
    const Tensor& input, torch::optional<std::tuple<Tensor, Tensor>> hx_opt,
    const Tensor& lengths) {
  auto [h0, c0] = unpack_state(hx_opt);
  auto [output, h_n, c_n] = run(input, h0, c0, lengths, options.batch_first());
  return {output, {h_n, c_n}};
}

std::tuple<rnn_utils::PackedSequence, std::tuple<Tensor, Tensor>>
LSTMImpl::forward_with_packed_input(const rnn_utils::PackedSequence& packed_input,
                                    torch::optional<std::tuple<Tensor, Tensor>> hx_opt) {
  auto [h0, c0] = unpack_state(hx_opt);
  auto [padded, lens] = rnn_utils::pad_packed_sequence(packed_input, false);
  auto [output, h_n, c_n] = run(padded, h0, c0, lens, false);
  return {repack(output, lens, packed_input), {h_n, c_n}};
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ GRU ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

GRUImpl::GRUImpl(const GRUOptions& options_) : options(options_) {
  reset();
}

RecurrentOptions GRUImpl::stack_options() const {
  return detail::to_recurrent(options);
}

std::tuple<Tensor, Tensor> GRUImpl::forward(const Tensor& input, Tensor hx, const Tensor& lengths) {
  auto [output, h_n, c_n] = run(input, hx, {}, lengths, options.batch_first());
  return {output, h_n};
}

std::tuple<rnn_utils::PackedSequence, Tensor> GRUImpl::forward_with_packed_input(
    const rnn_utils::PackedSequence& packed_input, Tensor hx) {
  auto [padded, lens] = rnn_utils::pad_packed_sequence(packed_input, false);
  auto [output, h_n, c_n] = run(padded, hx, {}, lens, false);
  return {repack(output, lens, packed_input), h_n};
}

}  // namespace rnnlab
