// One interface over every recurrent stack rnnlab can build: the hand-written
// modules of modules/rnn.h (impl "custom") or torch::nn::RNN/LSTM/GRU
// (impl "builtin"). Every app builds its recurrent layers through this
// factory, so `--set model.rnn.impl=builtin` switches any experiment.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "modules/rnn.h"

#include <string>
#include <tuple>

namespace rnnlab {

/// Options for `Recurrent`.
///
/// Example:
/// ```
/// Recurrent rnn(RecurrentOptions("lstm", 64, 256).num_layers(2).impl("builtin"));
/// ```
struct RecurrentOptions {
  RecurrentOptions(std::string type, int64_t input_size, int64_t hidden_size)
      : type_(std::move(type)), input_size_(input_size), hidden_size_(hidden_size) {}

  /// Cell type: "lstm", "gru" or "rnn".
  TORCH_ARG(std::string, type);
  /// Number of features of one input step.
  TORCH_ARG(int64_t, input_size);
  /// Number of features of the hidden state.
  TORCH_ARG(int64_t, hidden_size);
  /// "custom" (modules/rnn.h) or "builtin" (torch::nn). Default: "custom"
  TORCH_ARG(std::string, impl) = "custom";
  /// Non-linearity of the vanilla RNN: "tanh" or "relu". Default: "tanh"
  TORCH_ARG(std::string, nonlinearity) = "tanh";
  /// Number of stacked layers. Default: 1
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Whether the cells have bias terms. Default: true
  TORCH_ARG(bool, bias) = true;
  /// Input and output are (batch, time, feature) when true, (time, batch, feature) when false.
  /// Default: false
  TORCH_ARG(bool, batch_first) = false;
  /// Dropout on the outputs of every layer but the last. Default: 0
  TORCH_ARG(double, dropout) = 0.0;
  /// Run a second, reversed direction and concatenate. Default: false
  TORCH_ARG(bool, bidirectional) = false;
  /// LSTM only: project h to this size (0: no projection). Default: 0
  TORCH_ARG(int64_t, proj_size) = 0;
  /// custom only: layer normalisation inside the cell. Default: false
  TORCH_ARG(bool, layer_norm) = false;
  /// custom only: variational dropout on the recurrent input h_{t-1}, one mask per
  /// sequence. Default: 0
  TORCH_ARG(double, recurrent_dropout) = 0.0;
};

/// Recurrent state: h is (layers*directions, batch, out) and c is
/// (layers*directions, batch, hidden) for LSTM, undefined otherwise.
struct RecurrentState {
  torch::Tensor h;
  torch::Tensor c;
  bool defined() const { return h.defined(); }
  /// The same state cut off from the graph (truncated BPTT).
  RecurrentState detach() const {
    return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c};
  }
};

/// A stack of recurrent layers, custom or built-in, behind one forward().
class RecurrentImpl : public torch::nn::Cloneable<RecurrentImpl> {
 public:
  explicit RecurrentImpl(RecurrentOptions options);

  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// input: (T, B, input_size), or (B, T, input_size) with batch_first.
  /// state: initial state (zeros when undefined).
  /// lengths: optional int64 (B) tensor of true sequence lengths (padded steps
  /// leave the state untouched and give zero outputs).
  /// Returns output (T, B, out*directions) and the final state.
  std::tuple<torch::Tensor, RecurrentState> forward(const torch::Tensor& input,
                                                    RecurrentState state = {},
                                                    const torch::Tensor& lengths = {});

  /// Features per step of the output: (proj_size or hidden_size) * directions.
  int64_t output_size() const;

  /// Keeps every step's h (and c, LSTM) of the following forward passes in
  /// `recorded_states()`; impl "custom" only (std::invalid_argument for builtin).
  void set_record_states(bool on);
  /// Per layer, time-major (T, B, out*directions) h and (T, B, hidden*directions)
  /// c of the last forward pass (see rnnlab::RecordedStates); empty unless recording.
  const RecordedStates& recorded_states() const;

  /// The wrapped module (a torch::nn::LSTM, rnnlab::LSTM, ...).
  std::shared_ptr<torch::nn::Module> inner() const { return inner_; }

  RecurrentOptions options;

 private:
  std::shared_ptr<torch::nn::Module> inner_;
};
TORCH_MODULE(Recurrent);

}  // namespace rnnlab
