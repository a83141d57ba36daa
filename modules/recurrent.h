// One interface over every recurrent stack rnnlab can build: the hand-written
// modules of modules/rnn.h (Implementation::kCustom) or torch::nn::RNN/LSTM/GRU
// (Implementation::kBuiltin). Every app builds its recurrent layers through
// this factory, so `--set model.rnn.impl=builtin` switches any experiment.
//
// Options: every option of a recurrent stack is declared once, in
// RecurrentOptions (modules/rnn.h), and reaches the layers, this factory and
// the config section (RecurrentSection, apps/framework/sections.h) from there.
// Adding an option touches three places:
//   1. its declaration, X(type, name, default), in modules/rnn.h: in
//      RNNLAB_STACK_ARGS when every stack has it (it becomes a TORCH_ARG of
//      RNNOptions, LSTMOptions, GRUOptions and RecurrentOptions, and every
//      conversion between them copies it), in RNNLAB_RNN_ARGS or
//      RNNLAB_LSTM_ARGS when only one cell type has it; an option of the
//      factory alone (like impl) is a TORCH_ARG of RecurrentOptions;
//   2. its checks, in RecurrentOptions::validate() (modules/rnn.cpp): the one
//      place where the layers, this factory and the config section check
//      options (std::invalid_argument naming the option; the config turns it
//      into a ConfigError naming the key);
//   3. its config key, if configs may set it: one line in
//      RecurrentSection::bind (apps/framework/sections.cpp),
//      `s.add(p + ".name", &stack.name(), "help")`: the key is the option's
//      name, options() passes the value on and validate()'s errors name the key.
// Besides these, the code that makes the option do something: the layers in
// modules/rnn.cpp (and torch_options() in modules/recurrent.cpp for an option
// torch::nn has too). The option values a config writes as names (cell type,
// impl, nonlinearity) are enums here, named by to_string() / from_string<E>()
// of modules/rnn.h.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "modules/rnn.h"

#include <string>
#include <tuple>

namespace rnnlab {

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
///
/// Example:
/// ```
/// Recurrent rnn(RecurrentOptions(CellType::kLSTM, 64, 256).num_layers(2).impl(
///     Implementation::kBuiltin));
/// auto [output, state] = rnn(torch::randn({35, 8, 64}));  // (35, 8, 256)
/// ```
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
  int64_t output_size() const { return options.output_size(); }

  /// Keeps every step's h (and c, LSTM) of the following forward passes in
  /// `recorded_states()`; impl custom only (std::invalid_argument for builtin).
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
