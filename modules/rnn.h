// Hand-written recurrent cells and layers (GitHub issue 3).
//
// Cells: RNNCell (tanh/relu), LSTMCell, GRUCell: one step, same parameters and
// results as torch::nn::RNNCell/LSTMCell/GRUCell.
// Layers: RNN, LSTM, GRU: stacks of layers over a whole sequence, with the
// same options, parameter names (weight_ih_l0, ..., weight_hr_l0_reverse),
// shapes, gate order and return values as torch::nn::RNN/LSTM/GRU, so weights
// and checkpoints move between the two by name. Extras (off by default):
// `lengths` for padded batches, layer normalisation, variational recurrent
// dropout, and recording of every step's states.
//
// Errors: a wrong input, state or lengths shape throws std::invalid_argument
// with a one-line message that names the module and the expected shape.
#pragma once

#include <torch/arg.h>
#include <torch/enum.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/common.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/utils/rnn.h>
#include <torch/types.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

namespace rnnlab {

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ cells ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// Options for `RNNCell`.
///
/// Example:
/// ```
/// RNNCell cell(RNNCellOptions(20, 10).nonlinearity(torch::kReLU));
/// ```
struct RNNCellOptions {
  typedef c10::variant<torch::enumtype::kTanh, torch::enumtype::kReLU> nonlinearity_t;

  RNNCellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of the input x.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h.
  TORCH_ARG(int64_t, hidden_size);
  /// Whether to add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
  /// Activation: torch::kTanh or torch::kReLU. Default: torch::kTanh
  TORCH_ARG(nonlinearity_t, nonlinearity) = torch::kTanh;
};

/// One step of an Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).
/// Parameters: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
///
/// Example:
/// ```
/// RNNCell cell(RNNCellOptions(20, 10));
/// auto h = cell(torch::randn({3, 20}));  // (3, 10)
/// ```
class RNNCellImpl : public torch::nn::Cloneable<RNNCellImpl> {
 public:
  RNNCellImpl(int64_t input_size, int64_t hidden_size)
      : RNNCellImpl(RNNCellOptions(input_size, hidden_size)) {}
  explicit RNNCellImpl(const RNNCellOptions& options_);

  void reset() override;
  /// Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// input (B, I), hx (B, H) (zeros when undefined) -> h' (B, H).
  torch::Tensor forward(const torch::Tensor& input, torch::Tensor hx = {});

  RNNCellOptions options;
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(RNNCell);

/// Options for `LSTMCell`.
///
/// Example:
/// ```
/// LSTMCell cell(LSTMCellOptions(20, 10).bias(false));
/// ```
struct LSTMCellOptions {
  LSTMCellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of the input x.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h and of the cell state c.
  TORCH_ARG(int64_t, hidden_size);
  /// Whether to add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
};

/// One step of an LSTM, gates in torch's order (i, f, g, o).
/// Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H).
///
/// Example:
/// ```
/// LSTMCell cell(LSTMCellOptions(20, 10));
/// auto [h, c] = cell(torch::randn({3, 20}));  // (3, 10) each
/// ```
class LSTMCellImpl : public torch::nn::Cloneable<LSTMCellImpl> {
 public:
  LSTMCellImpl(int64_t input_size, int64_t hidden_size)
      : LSTMCellImpl(LSTMCellOptions(input_size, hidden_size)) {}
  explicit LSTMCellImpl(const LSTMCellOptions& options_);

  void reset() override;
  /// Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// input (B, I), hx = (h (B, H), c (B, H)) (zeros when absent) -> (h', c').
  std::tuple<torch::Tensor, torch::Tensor> forward(
      const torch::Tensor& input,
      torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx_opt = {});

  LSTMCellOptions options;
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  FORWARD_HAS_DEFAULT_ARGS(
      {1, torch::nn::AnyValue(torch::optional<std::tuple<torch::Tensor, torch::Tensor>>())})
};
TORCH_MODULE(LSTMCell);

/// Options for `GRUCell`.
///
/// Example:
/// ```
/// GRUCell cell(GRUCellOptions(20, 10).bias(false));
/// ```
struct GRUCellOptions {
  GRUCellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of the input x.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h.
  TORCH_ARG(int64_t, hidden_size);
  /// Whether to add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
};

/// One step of a GRU, gates in torch's order (r, z, n).
/// Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
///
/// Example:
/// ```
/// GRUCell cell(GRUCellOptions(20, 10));
/// auto h = cell(torch::randn({3, 20}));  // (3, 10)
/// ```
class GRUCellImpl : public torch::nn::Cloneable<GRUCellImpl> {
 public:
  GRUCellImpl(int64_t input_size, int64_t hidden_size)
      : GRUCellImpl(GRUCellOptions(input_size, hidden_size)) {}
  explicit GRUCellImpl(const GRUCellOptions& options_);

  void reset() override;
  /// Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// input (B, I), hx (B, H) (zeros when undefined) -> h' (B, H).
  torch::Tensor forward(const torch::Tensor& input, torch::Tensor hx = {});

  GRUCellOptions options;
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(GRUCell);

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ layers ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// Options for `RNN`: torch::nn::RNNOptions plus rnnlab's extras.
///
/// Example:
/// ```
/// RNN rnn(RNNOptions(128, 64).num_layers(2).nonlinearity(torch::kReLU));
/// ```
struct RNNOptions {
  typedef c10::variant<torch::enumtype::kTanh, torch::enumtype::kReLU> nonlinearity_t;

  RNNOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h.
  TORCH_ARG(int64_t, hidden_size);
  /// Number of stacked layers. Default: 1
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Activation: torch::kTanh or torch::kReLU. Default: torch::kTanh
  TORCH_ARG(nonlinearity_t, nonlinearity) = torch::kTanh;
  /// Whether the cells add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
  /// Input and output are (B, T, F) when true, (T, B, F) when false. Default: false
  TORCH_ARG(bool, batch_first) = false;
  /// Dropout on the outputs of every layer but the last (training only). Default: 0
  TORCH_ARG(double, dropout) = 0.0;
  /// Run a second, time-reversed direction and concatenate the two. Default: false
  TORCH_ARG(bool, bidirectional) = false;
  /// Layer normalisation of the pre-activations W_ih x and W_hh h. Default: false
  TORCH_ARG(bool, layer_norm) = false;
  /// Variational dropout on the recurrent input h_{t-1}: one mask per sequence and
  /// layer, training only. Default: 0
  TORCH_ARG(double, recurrent_dropout) = 0.0;
};

/// Options for `LSTM`: torch::nn::LSTMOptions plus rnnlab's extras.
///
/// Example:
/// ```
/// LSTM lstm(LSTMOptions(256, 512).num_layers(2).dropout(0.2));
/// ```
struct LSTMOptions {
  LSTMOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the cell state c (and of h without projection).
  TORCH_ARG(int64_t, hidden_size);
  /// Number of stacked layers. Default: 1
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Whether the cells add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
  /// Input and output are (B, T, F) when true, (T, B, F) when false. Default: false
  TORCH_ARG(bool, batch_first) = false;
  /// Dropout on the outputs of every layer but the last (training only). Default: 0
  TORCH_ARG(double, dropout) = 0.0;
  /// Run a second, time-reversed direction and concatenate the two. Default: false
  TORCH_ARG(bool, bidirectional) = false;
  /// Project h to this many features with weight_hr (0: no projection). Default: 0
  TORCH_ARG(int64_t, proj_size) = 0;
  /// Layer normalisation of W_ih x, W_hh h and of c_t before its tanh (Ba et al.
  /// 2016; see LSTMImpl). Default: false
  TORCH_ARG(bool, layer_norm) = false;
  /// Variational dropout on the recurrent input h_{t-1}: one mask per sequence and
  /// layer, training only. Default: 0
  TORCH_ARG(double, recurrent_dropout) = 0.0;
};

/// Options for `GRU`: torch::nn::GRUOptions plus rnnlab's extras.
///
/// Example:
/// ```
/// GRU gru(GRUOptions(256, 512).bidirectional(true));
/// ```
struct GRUOptions {
  GRUOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h.
  TORCH_ARG(int64_t, hidden_size);
  /// Number of stacked layers. Default: 1
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Whether the cells add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
  /// Input and output are (B, T, F) when true, (T, B, F) when false. Default: false
  TORCH_ARG(bool, batch_first) = false;
  /// Dropout on the outputs of every layer but the last (training only). Default: 0
  TORCH_ARG(double, dropout) = 0.0;
  /// Run a second, time-reversed direction and concatenate the two. Default: false
  TORCH_ARG(bool, bidirectional) = false;
  /// Layer normalisation of the pre-activations W_ih x and W_hh h. Default: false
  TORCH_ARG(bool, layer_norm) = false;
  /// Variational dropout on the recurrent input h_{t-1}: one mask per sequence and
  /// layer, training only. Default: 0
  TORCH_ARG(double, recurrent_dropout) = 0.0;
};

/// Every step's states of the last forward pass, kept while recording is on
/// (`set_record_states(true)`); detached from the graph. Time-major whatever
/// batch_first says, zero at padded steps, directions concatenated like the
/// output.
struct RecordedStates {
  /// One (T, B, out * directions) tensor per layer: h_t of every step.
  std::vector<torch::Tensor> h;
  /// LSTM only: one (T, B, hidden * directions) tensor per layer: c_t of every step.
  std::vector<torch::Tensor> c;
};

namespace detail {

/// Which recurrence a layer runs.
enum class CellKind { kRNNTanh, kRNNReLU, kLSTM, kGRU };

/// The options of RNN, LSTM and GRU in one shape, for the shared code.
struct StackOptions {
  CellKind kind;
  int64_t input_size, hidden_size, num_layers;
  bool bias, batch_first;
  double dropout;
  bool bidirectional;
  int64_t proj_size;
  bool layer_norm;
  double recurrent_dropout;
};

/// The parameters of one layer and direction (undefined when unused).
struct LayerWeights {
  torch::Tensor w_ih, w_hh, b_ih, b_hh, w_hr;
  // layer_norm only: gains of LN(W_ih x) and LN(W_hh h); gain and shift of LN(c) (LSTM).
  torch::Tensor ln_ih, ln_hh, ln_c_weight, ln_c_bias;
};

/// What RNN, LSTM and GRU share: parameters, the layer loop, recording.
/// `Derived` provides `StackOptions stack_options() const` and `kName`.
template <typename Derived>
class RNNImplBase : public torch::nn::Cloneable<Derived> {
 public:
  /// Registers the parameters with torch's names and order:
  /// weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k}
  /// (then the same with suffix _reverse); with layer_norm also ln_ih_l{k},
  /// ln_hh_l{k} and, for LSTM, ln_c_weight_l{k}, ln_c_bias_l{k}.
  void reset() override;
  /// Weights and biases ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) as torch;
  /// layer-norm gains 1 and shifts 0.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// Keeps every step's h (and c) of the following forward passes in
  /// `recorded_states()` (off by default; turning it off frees them).
  void set_record_states(bool on);
  /// The states recorded by the last forward pass (empty unless recording).
  const RecordedStates& recorded_states() const { return recorded_; }

 protected:
  /// input (T, B, I) or (B, T, I); h0 (L*D, B, out); c0 (L*D, B, H) for LSTM;
  /// lengths (B) or undefined. Returns output (T, B, out*D) or (B, T, out*D),
  /// h_n (L*D, B, out) and c_n (L*D, B, H) (LSTM).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> run(const torch::Tensor& input,
                                                              const torch::Tensor& h0,
                                                              const torch::Tensor& c0,
                                                              const torch::Tensor& lengths,
                                                              bool batch_first);

  /// One entry per layer and direction, index layer * directions + direction.
  std::vector<LayerWeights> weights_;
  bool record_ = false;
  RecordedStates recorded_;
};

/// Throws std::invalid_argument("<who>: <message>") unless `ok`.
void check(bool ok, const std::string& who, const std::string& message);
/// input must be (T, B, input_size) (or (B, T, input_size) with batch_first) with T, B > 0.
void check_input(const std::string& who, const torch::Tensor& input, int64_t input_size,
                 bool batch_first);
/// state must have exactly the sizes `expected` ("h0" or "c0" names it in the message).
void check_state(const std::string& who, const std::string& name, const torch::Tensor& state,
                 torch::IntArrayRef expected);
/// input must have the dtype and device of the parameters (`weight`).
void check_like(const std::string& who, const torch::Tensor& input, const torch::Tensor& weight);
/// lengths must be a 1-dim integer tensor of size B with values in [1, T];
/// returns it as int64 on the CPU.
torch::Tensor check_lengths(const std::string& who, const torch::Tensor& lengths, int64_t B,
                            int64_t T);

}  // namespace detail

/// A stack of Elman RNN layers, like torch::nn::RNN:
/// h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).
///
/// Example:
/// ```
/// RNN rnn(RNNOptions(128, 64).num_layers(2));
/// auto [output, h_n] = rnn(torch::randn({35, 8, 128}));  // (35, 8, 64), (2, 8, 64)
/// ```
class RNNImpl : public detail::RNNImplBase<RNNImpl> {
 public:
  static constexpr const char* kName = "rnnlab::RNN";

  RNNImpl(int64_t input_size, int64_t hidden_size) : RNNImpl(RNNOptions(input_size, hidden_size)) {}
  explicit RNNImpl(const RNNOptions& options_);

  /// input (T, B, I) or (B, T, I) with batch_first; hx (L*D, B, H) (zeros when
  /// undefined); lengths (B) int64 true lengths or undefined (padded steps leave
  /// the state alone and output zeros). Returns output (T, B, D*H) (or
  /// (B, T, D*H)) and h_n (L*D, B, H).
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& input,
                                                   torch::Tensor hx = {},
                                                   const torch::Tensor& lengths = {});
  /// The same on a PackedSequence (batch_first does not apply).
  std::tuple<torch::nn::utils::rnn::PackedSequence, torch::Tensor> forward_with_packed_input(
      const torch::nn::utils::rnn::PackedSequence& packed_input, torch::Tensor hx = {});

  detail::StackOptions stack_options() const;
  RNNOptions options;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())},
                           {2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(RNN);

/// A stack of LSTM layers, like torch::nn::LSTM. Per step (gates i, f, g, o):
///   i, f, o = sigmoid(...), g = tanh(...) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
///   c_t = f * c_{t-1} + i * g
///   h_t = o * tanh(c_t)                (with proj_size: h_t = W_hr (o * tanh(c_t)))
/// With layer_norm (Ba et al. 2016, "Layer Normalization", eq. 20-22), each
/// LN normalising over all 4H (or H) features of one step and sequence:
///   gates = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1}) + b_ih + b_hh   (LN_ih, LN_hh: gain only)
///   c_t   = f * c_{t-1} + i * g                                  (carried un-normalised)
///   h_t   = o * tanh(LN_c(c_t))                                  (LN_c: gain and shift)
///
/// Example:
/// ```
/// LSTM lstm(LSTMOptions(256, 512).num_layers(2));
/// auto [output, state] = lstm(torch::randn({35, 8, 256}));
/// auto [h_n, c_n] = state;  // (2, 8, 512) each
/// ```
class LSTMImpl : public detail::RNNImplBase<LSTMImpl> {
 public:
  static constexpr const char* kName = "rnnlab::LSTM";

  LSTMImpl(int64_t input_size, int64_t hidden_size)
      : LSTMImpl(LSTMOptions(input_size, hidden_size)) {}
  explicit LSTMImpl(const LSTMOptions& options_);

  /// input (T, B, I) or (B, T, I) with batch_first; hx = (h0 (L*D, B, out),
  /// c0 (L*D, B, H)) (zeros when absent), out = proj_size or H; lengths (B)
  /// int64 true lengths or undefined (padded steps leave the state alone and
  /// output zeros). Returns output (T, B, D*out) (or (B, T, D*out)) and (h_n, c_n).
  std::tuple<torch::Tensor, std::tuple<torch::Tensor, torch::Tensor>> forward(
      const torch::Tensor& input,
      torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx_opt = {},
      const torch::Tensor& lengths = {});
  /// The same on a PackedSequence (batch_first does not apply).
  std::tuple<torch::nn::utils::rnn::PackedSequence, std::tuple<torch::Tensor, torch::Tensor>>
  forward_with_packed_input(const torch::nn::utils::rnn::PackedSequence& packed_input,
                            torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx_opt = {});

  detail::StackOptions stack_options() const;
  LSTMOptions options;

 protected:
  FORWARD_HAS_DEFAULT_ARGS(
      {1, torch::nn::AnyValue(torch::optional<std::tuple<torch::Tensor, torch::Tensor>>())},
      {2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(LSTM);

/// A stack of GRU layers, like torch::nn::GRU. Per step (gates r, z, n):
///   r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
///   z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
///   n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
///   h_t = (1 - z) * n + z * h_{t-1}
/// With layer_norm: W_ih x_t and W_hh h_{t-1} are each normalised over their 3H
/// features (gain only) before the biases are added.
///
/// Example:
/// ```
/// GRU gru(GRUOptions(256, 512).num_layers(2));
/// auto [output, h_n] = gru(torch::randn({35, 8, 256}));  // (35, 8, 512), (2, 8, 512)
/// ```
class GRUImpl : public detail::RNNImplBase<GRUImpl> {
 public:
  static constexpr const char* kName = "rnnlab::GRU";

  GRUImpl(int64_t input_size, int64_t hidden_size) : GRUImpl(GRUOptions(input_size, hidden_size)) {}
  explicit GRUImpl(const GRUOptions& options_);

  /// Same arguments and results as RNNImpl::forward.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& input,
                                                   torch::Tensor hx = {},
                                                   const torch::Tensor& lengths = {});
  /// The same on a PackedSequence (batch_first does not apply).
  std::tuple<torch::nn::utils::rnn::PackedSequence, torch::Tensor> forward_with_packed_input(
      const torch::nn::utils::rnn::PackedSequence& packed_input, torch::Tensor hx = {});

  detail::StackOptions stack_options() const;
  GRUOptions options;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())},
                           {2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(GRU);

}  // namespace rnnlab
