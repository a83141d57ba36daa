// Hand-written recurrent cells and layers.
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
// Options: RecurrentOptions below declares every option of a recurrent stack
// once (see modules/recurrent.h for where a new option goes); RNNOptions,
// LSTMOptions and GRUOptions mirror torch::nn's and get the shared options from
// the same list, and RecurrentOptions::validate() holds every check.
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

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace rnnlab {

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ option values ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// The recurrent cell of a stack.
enum class CellType { kLSTM, kGRU, kRNN };

/// Which code runs a stack: rnnlab's modules (this header) or torch::nn's.
enum class Implementation { kCustom, kBuiltin };

/// The vanilla RNN's activation, spelt as torch::nn::RNNOptions spells it:
/// torch::kTanh or torch::kReLU.
using Nonlinearity = c10::variant<torch::enumtype::kTanh, torch::enumtype::kReLU>;

/// How a stack's recurrent matrices W_hh start (RecurrentOptions::hidden_init):
///  kDefault     torch's U(-1/sqrt(H), 1/sqrt(H)), like every other weight;
///  kIdentity    W_hh = I and every bias 0: with a relu rnn, the IRNN of Le,
///               Jaitly and Hinton (2015); vanilla rnn only;
///  kOrthogonal  each gate's H x H block of W_hh a random orthogonal matrix
///               (Saxe et al. 2014), any cell.
enum class HiddenInit { kDefault, kIdentity, kOrthogonal };

/// How an LSTM's forget-gate bias starts (RecurrentOptions::forget_bias);
/// torch's gate order is i, f, g, o, and the gate sees b_ih + b_hh:
///  kDefault  torch's draw, like every other bias;
///  kOne      b_f = 1 (Gers et al. 2000; Jozefowicz et al. 2015), b_hh's part 0;
///  kChrono   chrono initialisation (Tallec and Ollivier 2018):
///            b_f = log(u), u ~ U(1, T_max - 1) per unit, and b_i = -b_f,
///            T_max = RecurrentOptions::chrono_max (b_hh's parts 0).
enum class ForgetBiasInit { kDefault, kOne, kChrono };

/// The names configs and printouts use: "lstm", "gru", "rnn"; "custom",
/// "builtin"; "tanh", "relu"; "default", "identity", "orthogonal"; "default",
/// "one", "chrono".
std::string to_string(CellType type);
std::string to_string(Implementation impl);
std::string to_string(const Nonlinearity& nonlinearity);
std::string to_string(HiddenInit init);
std::string to_string(ForgetBiasInit init);
std::ostream& operator<<(std::ostream& stream, CellType type);
std::ostream& operator<<(std::ostream& stream, Implementation impl);

/// The value of E named `name` (E: CellType, Implementation or Nonlinearity);
/// std::invalid_argument naming the choices otherwise ("unknown cell type
/// 'lstmx' (expected lstm, gru or rnn)").
template <class E>
E from_string(const std::string& name);
/// Every name of E, in the order of its values ({"lstm", "gru", "rnn"}).
template <class E>
const std::vector<std::string>& names_of();

template <>
CellType from_string<CellType>(const std::string& name);
template <>
Implementation from_string<Implementation>(const std::string& name);
template <>
Nonlinearity from_string<Nonlinearity>(const std::string& name);
template <>
HiddenInit from_string<HiddenInit>(const std::string& name);
template <>
ForgetBiasInit from_string<ForgetBiasInit>(const std::string& name);
template <>
const std::vector<std::string>& names_of<CellType>();
template <>
const std::vector<std::string>& names_of<Implementation>();
template <>
const std::vector<std::string>& names_of<Nonlinearity>();
template <>
const std::vector<std::string>& names_of<HiddenInit>();
template <>
const std::vector<std::string>& names_of<ForgetBiasInit>();

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ cells ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// Options for `LSTMCell` and `GRUCell` (torch's LSTMCellOptions and
/// GRUCellOptions): the sizes and the biases.
///
/// Example:
/// ```
/// LSTMCell cell(LSTMCellOptions(20, 10).bias(false));
/// ```
template <CellType kType>
struct CellOptions {
  CellOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of the input x.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h (and of the LSTM's cell state c).
  TORCH_ARG(int64_t, hidden_size);
  /// Whether to add the biases b_ih and b_hh. Default: true
  TORCH_ARG(bool, bias) = true;
};
using LSTMCellOptions = CellOptions<CellType::kLSTM>;
using GRUCellOptions = CellOptions<CellType::kGRU>;

/// Options for `RNNCell`: those of the other cells and the activation (a
/// struct of its own, so that every setter returns an RNNCellOptions).
///
/// Example:
/// ```
/// RNNCell cell(RNNCellOptions(20, 10).nonlinearity(torch::kReLU));
/// ```
struct RNNCellOptions {
  typedef Nonlinearity nonlinearity_t;

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

namespace detail {

/// What the three cells share, as torch's RNNCellImplBase: the parameters
/// weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh (G*H), with G
/// = 1 (RNN), 4 (LSTM) or 3 (GRU) gates, their initialisation, the options and
/// the printout. `Derived` gives `kType` and `kName`.
template <typename Derived, typename Options>
class CellImplBase : public torch::nn::Cloneable<Derived> {
 public:
  explicit CellImplBase(const Options& options_) : options(options_) { reset(); }

  void reset() override;
  /// Every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as torch.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  Options options;
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;
};

}  // namespace detail

/// One step of an Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh).
/// Parameters: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
///
/// Example:
/// ```
/// RNNCell cell(RNNCellOptions(20, 10));
/// auto h = cell(torch::randn({3, 20}));  // (3, 10)
/// ```
class RNNCellImpl : public detail::CellImplBase<RNNCellImpl, RNNCellOptions> {
 public:
  static constexpr CellType kType = CellType::kRNN;
  static constexpr const char* kName = "rnnlab::RNNCell";
  using CellImplBase::CellImplBase;
  RNNCellImpl(int64_t input_size, int64_t hidden_size)
      : RNNCellImpl(RNNCellOptions(input_size, hidden_size)) {}

  /// input (B, I), hx (B, H) (zeros when undefined) -> h' (B, H).
  torch::Tensor forward(const torch::Tensor& input, torch::Tensor hx = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(RNNCell);

/// One step of an LSTM, gates in torch's order (i, f, g, o).
/// Parameters: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H).
///
/// Example:
/// ```
/// LSTMCell cell(LSTMCellOptions(20, 10));
/// auto [h, c] = cell(torch::randn({3, 20}));  // (3, 10) each
/// ```
class LSTMCellImpl : public detail::CellImplBase<LSTMCellImpl, LSTMCellOptions> {
 public:
  static constexpr CellType kType = CellType::kLSTM;
  static constexpr const char* kName = "rnnlab::LSTMCell";
  using CellImplBase::CellImplBase;
  LSTMCellImpl(int64_t input_size, int64_t hidden_size)
      : LSTMCellImpl(LSTMCellOptions(input_size, hidden_size)) {}

  /// input (B, I), hx = (h (B, H), c (B, H)) (zeros when absent) -> (h', c').
  std::tuple<torch::Tensor, torch::Tensor> forward(
      const torch::Tensor& input,
      torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx_opt = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS(
      {1, torch::nn::AnyValue(torch::optional<std::tuple<torch::Tensor, torch::Tensor>>())})
};
TORCH_MODULE(LSTMCell);

/// One step of a GRU, gates in torch's order (r, z, n).
/// Parameters: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
///
/// Example:
/// ```
/// GRUCell cell(GRUCellOptions(20, 10));
/// auto h = cell(torch::randn({3, 20}));  // (3, 10)
/// ```
class GRUCellImpl : public detail::CellImplBase<GRUCellImpl, GRUCellOptions> {
 public:
  static constexpr CellType kType = CellType::kGRU;
  static constexpr const char* kName = "rnnlab::GRUCell";
  using CellImplBase::CellImplBase;
  GRUCellImpl(int64_t input_size, int64_t hidden_size)
      : GRUCellImpl(GRUCellOptions(input_size, hidden_size)) {}

  /// input (B, I), hx (B, H) (zeros when undefined) -> h' (B, H).
  torch::Tensor forward(const torch::Tensor& input, torch::Tensor hx = {});

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(GRUCell);

namespace detail {
extern template class CellImplBase<RNNCellImpl, RNNCellOptions>;
extern template class CellImplBase<LSTMCellImpl, LSTMCellOptions>;
extern template class CellImplBase<GRUCellImpl, GRUCellOptions>;
}  // namespace detail

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ layer options ~~~~~~~~~~~~~~~~~~~~~~~~~~~~

/// The options every recurrent stack has, declared once as X(type, name, default).
/// RNNOptions, LSTMOptions, GRUOptions and RecurrentOptions declare them as
/// TORCH_ARGs from this list and convert into one another through it; so do
/// RNNOptions and LSTMOptions with the two lists after it.
// clang-format off
#define RNNLAB_STACK_ARGS(X)                                                                    \
  /* Number of stacked layers. Default: 1 */                                                    \
  X(int64_t, num_layers, 1)                                                                     \
  /* Whether the cells add the biases b_ih and b_hh. Default: true */                           \
  X(bool, bias, true)                                                                           \
  /* Input and output are (B, T, F) when true, (T, B, F) when false. Default: false */          \
  X(bool, batch_first, false)                                                                   \
  /* Dropout on the outputs of every layer but the last (training only). Default: 0 */          \
  X(double, dropout, 0.0)                                                                       \
  /* Run a second, time-reversed direction and concatenate the two. Default: false */           \
  X(bool, bidirectional, false)                                                                 \
  /* Layer normalisation inside the cell (see LSTMImpl and GRUImpl). Default: false */          \
  X(bool, layer_norm, false)                                                                    \
  /* Variational dropout on the recurrent input h_{t-1}: one mask per sequence and layer, */    \
  /* training only. Default: 0 */                                                               \
  X(double, recurrent_dropout, 0.0)                                                             \
  /* DropConnect on the hidden-to-hidden matrices W_hh (AWD-LSTM's weight drop, Wan et al. */   \
  /* 2013): each forward pass in training uses W_hh * m / (1 - p), m ~ Bernoulli(1 - p) per */  \
  /* element, one mask per layer and direction for all steps and sequences. Default: 0 */       \
  X(double, weight_drop, 0.0)                                                                   \
  /* The dropout between layers draws one mask per sequence, shared by all its steps */         \
  /* (locked or variational dropout, Gal and Ghahramani 2016). Default: false */                \
  X(bool, locked_dropout, false)

/// The options only the vanilla RNN's stack has (RNNOptions, RecurrentOptions).
#define RNNLAB_RNN_ARGS(X)                                                                      \
  /* Activation: torch::kTanh or torch::kReLU. Default: torch::kTanh */                         \
  X(Nonlinearity, nonlinearity, torch::kTanh)

/// The options only the LSTM's stack has (LSTMOptions, RecurrentOptions).
#define RNNLAB_LSTM_ARGS(X)                                                                     \
  /* Project h to this many features with weight_hr, fewer than hidden_size (0: no */           \
  /* projection). Default: 0 */                                                                 \
  X(int64_t, proj_size, 0)
// clang-format on

/// One entry of these lists as a TORCH_ARG with its default.
#define RNNLAB_DECLARE_STACK_ARG(type, name, default_) TORCH_ARG(type, name) = default_;

/// Options for `RNN`: torch::nn::RNNOptions plus rnnlab's extras.
///
/// Example:
/// ```
/// RNN rnn(RNNOptions(128, 64).num_layers(2).nonlinearity(torch::kReLU));
/// ```
struct RNNOptions {
  typedef Nonlinearity nonlinearity_t;

  RNNOptions(int64_t input_size, int64_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state h.
  TORCH_ARG(int64_t, hidden_size);
  /// nonlinearity: see RNNLAB_RNN_ARGS.
  RNNLAB_RNN_ARGS(RNNLAB_DECLARE_STACK_ARG)
  /// num_layers, bias, batch_first, dropout, bidirectional, layer_norm,
  /// recurrent_dropout: see RNNLAB_STACK_ARGS.
  RNNLAB_STACK_ARGS(RNNLAB_DECLARE_STACK_ARG)
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
  /// proj_size: see RNNLAB_LSTM_ARGS.
  RNNLAB_LSTM_ARGS(RNNLAB_DECLARE_STACK_ARG)
  /// num_layers, bias, batch_first, dropout, bidirectional, layer_norm (of W_ih x,
  /// W_hh h and of c_t before its tanh, Ba et al. 2016; see LSTMImpl),
  /// recurrent_dropout: see RNNLAB_STACK_ARGS.
  RNNLAB_STACK_ARGS(RNNLAB_DECLARE_STACK_ARG)
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
  /// num_layers, bias, batch_first, dropout, bidirectional, layer_norm,
  /// recurrent_dropout: see RNNLAB_STACK_ARGS.
  RNNLAB_STACK_ARGS(RNNLAB_DECLARE_STACK_ARG)
};

/// What RecurrentOptions::validate throws: a std::invalid_argument
/// "<who>: <option>: <reason>" that also keeps the option at fault and the
/// reason apart, so that a config can report the reason against its own key.
class RecurrentOptionError : public std::invalid_argument {
 public:
  RecurrentOptionError(const std::string& message, std::string option, std::string reason)
      : std::invalid_argument(message), option_(std::move(option)), reason_(std::move(reason)) {}
  /// The option at fault, as RecurrentOptions names it ("proj_size").
  const std::string& option() const { return option_; }
  /// What is wrong with it ("only an lstm has a projection; type is gru").
  const std::string& reason() const { return reason_; }

 private:
  std::string option_, reason_;
};

/// The options of a recurrent stack of any cell type and implementation: the
/// one declaration of every option (modules/recurrent.h says where a new
/// option goes). Recurrent is built from it; RNN, LSTM and GRU turn their
/// options into it to be checked. validate() holds every check.
///
/// Example:
/// ```
/// Recurrent rnn(RecurrentOptions(CellType::kLSTM, 64, 256).num_layers(2).impl(
///     Implementation::kBuiltin));
/// ```
struct RecurrentOptions {
  RecurrentOptions(CellType type, int64_t input_size, int64_t hidden_size)
      : type_(type), input_size_(input_size), hidden_size_(hidden_size) {}

  /// Cell type: lstm, gru or rnn.
  TORCH_ARG(CellType, type);
  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state (of the cell state c for an lstm
  /// with projection).
  TORCH_ARG(int64_t, hidden_size);
  /// rnnlab's modules (kCustom) or torch::nn's (kBuiltin). Default: kCustom
  TORCH_ARG(Implementation, impl) = Implementation::kCustom;
  /// How every W_hh starts (see HiddenInit); applied by Recurrent's reset()
  /// to custom and built-in stacks alike. Default: kDefault
  TORCH_ARG(HiddenInit, hidden_init) = HiddenInit::kDefault;
  /// lstm only: how the forget-gate bias starts (see ForgetBiasInit). Default: kDefault
  TORCH_ARG(ForgetBiasInit, forget_bias) = ForgetBiasInit::kDefault;
  /// forget_bias kChrono only: T_max, the longest dependency expected (the
  /// sequence length: 784 for pixel MNIST). Default: 0
  TORCH_ARG(int64_t, chrono_max) = 0;
  /// rnn only: nonlinearity (see RNNLAB_RNN_ARGS).
  RNNLAB_RNN_ARGS(RNNLAB_DECLARE_STACK_ARG)
  /// lstm only: proj_size (see RNNLAB_LSTM_ARGS).
  RNNLAB_LSTM_ARGS(RNNLAB_DECLARE_STACK_ARG)
  /// num_layers, bias, batch_first, dropout, bidirectional, layer_norm (custom
  /// only), recurrent_dropout, weight_drop, locked_dropout (custom only): see
  /// RNNLAB_STACK_ARGS.
  RNNLAB_STACK_ARGS(RNNLAB_DECLARE_STACK_ARG)

 public:
  /// Writes an option's name in messages (validate's default: the name itself;
  /// a config passes one that gives its key, "model.rnn.proj_size").
  using Namer = std::function<std::string(const std::string& option)>;
  /// Throws RecurrentOptionError "<who>: <option>: <reason>" for the first
  /// senseless value or combination: sizes or num_layers <= 0, proj_size < 0,
  /// >= hidden_size or on a non-lstm, a relu nonlinearity on a non-rnn, dropout
  /// or recurrent_dropout outside [0, 1), dropout with one layer (it would do
  /// nothing), layer_norm or recurrent_dropout with impl builtin, hidden_init
  /// identity on a non-rnn, forget_bias on a non-lstm or without bias,
  /// forget_bias chrono without chrono_max >= 2, chrono_max without chrono.
  void validate(const std::string& who = "RecurrentOptions", const Namer& name = {}) const;
  /// Features per step of the output: (proj_size or hidden_size) * directions.
  int64_t output_size() const;
};

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ layers ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

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

/// Which recurrence a layer runs: the cell type with the rnn's activation.
enum class CellKind { kRNNTanh, kRNNReLU, kLSTM, kGRU };
CellKind cell_kind(const RecurrentOptions& options);

/// The options of RNN, LSTM and GRU as RecurrentOptions (impl custom): how
/// they are checked and what the shared layer code reads.
RecurrentOptions to_recurrent(const RNNOptions& options);
RecurrentOptions to_recurrent(const LSTMOptions& options);
RecurrentOptions to_recurrent(const GRUOptions& options);
/// The other way: the options of the custom layer that runs `options`
/// (LayerOptions: RNNOptions, LSTMOptions or GRUOptions).
template <class LayerOptions>
LayerOptions layer_options(const RecurrentOptions& options);
template <>
RNNOptions layer_options<RNNOptions>(const RecurrentOptions& options);
template <>
LSTMOptions layer_options<LSTMOptions>(const RecurrentOptions& options);
template <>
GRUOptions layer_options<GRUOptions>(const RecurrentOptions& options);

/// The parameters of one layer and direction (undefined when unused).
struct LayerWeights {
  torch::Tensor w_ih, w_hh, b_ih, b_hh, w_hr;
  // layer_norm only: gains of LN(W_ih x) and LN(W_hh h); gain and shift of LN(c) (LSTM).
  torch::Tensor ln_ih, ln_hh, ln_c_weight, ln_c_bias;
};

/// What RNN, LSTM and GRU share: parameters, the layer loop, recording.
/// `Derived` provides `RecurrentOptions stack_options() const` and `kName`.
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

  /// The options as RecurrentOptions (detail::to_recurrent(options)).
  RecurrentOptions stack_options() const;
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

  /// The options as RecurrentOptions (detail::to_recurrent(options)).
  RecurrentOptions stack_options() const;
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

  /// The options as RecurrentOptions (detail::to_recurrent(options)).
  RecurrentOptions stack_options() const;
  GRUOptions options;

 protected:
  FORWARD_HAS_DEFAULT_ARGS({1, torch::nn::AnyValue(torch::Tensor())},
                           {2, torch::nn::AnyValue(torch::Tensor())})
};
TORCH_MODULE(GRU);

}  // namespace rnnlab
