// The Recurrent factory: one forward() over torch::nn::RNN/LSTM/GRU
// (impl "builtin") or the hand-written rnnlab::RNN/LSTM/GRU (impl "custom").
#include "modules/recurrent.h"

#include <torch/nn/modules/rnn.h>
#include <torch/nn/utils/rnn.h>

#include <stdexcept>

namespace rnnlab {

namespace {

constexpr const char* kWho = "Recurrent";

// Throws std::invalid_argument("Recurrent: <message>") unless `ok`.
void require(bool ok, const std::string& message) {
  detail::check(ok, kWho, message);
}

}  // namespace

RecurrentImpl::RecurrentImpl(RecurrentOptions options_) : options(std::move(options_)) {
  reset();
}

void RecurrentImpl::reset() {
  const auto& o = options;
  require(o.type() == "lstm" || o.type() == "gru" || o.type() == "rnn",
          "unknown type '" + o.type() + "' (expected lstm, gru or rnn)");
  require(o.impl() == "custom" || o.impl() == "builtin",
          "unknown impl '" + o.impl() + "' (expected custom or builtin)");
  require(o.nonlinearity() == "tanh" || o.nonlinearity() == "relu",
          "unknown nonlinearity '" + o.nonlinearity() + "' (expected tanh or relu)");
  require(o.input_size() > 0 && o.hidden_size() > 0 && o.num_layers() > 0,
          "input_size, hidden_size and num_layers must be positive");
  require(o.proj_size() == 0 || o.type() == "lstm", "proj_size is only supported by lstm");
  require(o.proj_size() >= 0 && o.proj_size() < o.hidden_size(),
          "proj_size must be >= 0 and smaller than hidden_size");
  require(o.dropout() >= 0 && o.dropout() <= 1, "dropout must be in [0, 1]");
  require(o.recurrent_dropout() >= 0 && o.recurrent_dropout() < 1,
          "recurrent_dropout must be in [0, 1)");

  if (o.impl() == "builtin") {
    require(!o.layer_norm(), "layer_norm needs impl custom");
    require(o.recurrent_dropout() == 0, "recurrent_dropout needs impl custom");
    if (o.type() == "lstm") {
      inner_ = std::make_shared<torch::nn::LSTMImpl>(
          torch::nn::LSTMOptions(o.input_size(), o.hidden_size())
              .num_layers(o.num_layers())
              .bias(o.bias())
              .batch_first(o.batch_first())
              .dropout(o.dropout())
              .bidirectional(o.bidirectional())
              .proj_size(o.proj_size()));
    } else if (o.type() == "gru") {
      inner_ = std::make_shared<torch::nn::GRUImpl>(
          torch::nn::GRUOptions(o.input_size(), o.hidden_size())
              .num_layers(o.num_layers())
              .bias(o.bias())
              .batch_first(o.batch_first())
              .dropout(o.dropout())
              .bidirectional(o.bidirectional()));
    } else {
      torch::nn::RNNOptions::nonlinearity_t act = torch::kTanh;
      if (o.nonlinearity() == "relu") act = torch::kReLU;
      inner_ = std::make_shared<torch::nn::RNNImpl>(
          torch::nn::RNNOptions(o.input_size(), o.hidden_size())
              .num_layers(o.num_layers())
              .nonlinearity(act)
              .bias(o.bias())
              .batch_first(o.batch_first())
              .dropout(o.dropout())
              .bidirectional(o.bidirectional()));
    }
  } else if (o.type() == "lstm") {
    inner_ = std::make_shared<LSTMImpl>(LSTMOptions(o.input_size(), o.hidden_size())
                                            .num_layers(o.num_layers())
                                            .bias(o.bias())
                                            .batch_first(o.batch_first())
                                            .dropout(o.dropout())
                                            .bidirectional(o.bidirectional())
                                            .proj_size(o.proj_size())
                                            .layer_norm(o.layer_norm())
                                            .recurrent_dropout(o.recurrent_dropout()));
  } else if (o.type() == "gru") {
    inner_ = std::make_shared<GRUImpl>(GRUOptions(o.input_size(), o.hidden_size())
                                           .num_layers(o.num_layers())
                                           .bias(o.bias())
                                           .batch_first(o.batch_first())
                                           .dropout(o.dropout())
                                           .bidirectional(o.bidirectional())
                                           .layer_norm(o.layer_norm())
                                           .recurrent_dropout(o.recurrent_dropout()));
  } else {
    RNNOptions::nonlinearity_t act = torch::kTanh;
    if (o.nonlinearity() == "relu") act = torch::kReLU;
    inner_ = std::make_shared<RNNImpl>(RNNOptions(o.input_size(), o.hidden_size())
                                           .num_layers(o.num_layers())
                                           .nonlinearity(act)
                                           .bias(o.bias())
                                           .batch_first(o.batch_first())
                                           .dropout(o.dropout())
                                           .bidirectional(o.bidirectional())
                                           .layer_norm(o.layer_norm())
                                           .recurrent_dropout(o.recurrent_dropout()));
  }
  register_module("rnn", inner_);
}

int64_t RecurrentImpl::output_size() const {
  const int64_t out = options.proj_size() > 0 ? options.proj_size() : options.hidden_size();
  return out * (options.bidirectional() ? 2 : 1);
}

void RecurrentImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "rnnlab::Recurrent(type=" << o.type() << ", impl=" << o.impl()
         << ", input_size=" << o.input_size() << ", hidden_size=" << o.hidden_size()
         << ", num_layers=" << o.num_layers();
  if (o.type() == "rnn") stream << ", nonlinearity=" << o.nonlinearity();
  if (!o.bias()) stream << ", bias=false";
  if (o.batch_first()) stream << ", batch_first=true";
  if (o.dropout() > 0) stream << ", dropout=" << o.dropout();
  if (o.bidirectional()) stream << ", bidirectional=true";
  if (o.proj_size() > 0) stream << ", proj_size=" << o.proj_size();
  if (o.layer_norm()) stream << ", layer_norm=true";
  if (o.recurrent_dropout() > 0) stream << ", recurrent_dropout=" << o.recurrent_dropout();
  stream << ")";
}

std::tuple<torch::Tensor, RecurrentState> RecurrentImpl::forward(const torch::Tensor& input,
                                                                 RecurrentState state,
                                                                 const torch::Tensor& lengths) {
  const auto& o = options;
  // input is (T, B, I), or (B, T, I) with batch_first
  detail::check_input(kWho, input, o.input_size(), o.batch_first());
  const int64_t T = input.size(o.batch_first() ? 1 : 0);
  const int64_t B = input.size(o.batch_first() ? 0 : 1);
  // state.h is (L*D, B, out), state.c is (L*D, B, hidden) for lstm
  const int64_t D = o.bidirectional() ? 2 : 1, LD = o.num_layers() * D;
  if (state.defined()) {
    detail::check_state(kWho, "h0", state.h, {LD, B, output_size() / D});
    if (o.type() == "lstm") detail::check_state(kWho, "c0", state.c, {LD, B, o.hidden_size()});
  }
  // lengths is (B) int64 on the CPU, each in [1, T]
  const torch::Tensor lens =
      lengths.defined() ? detail::check_lengths(kWho, lengths, B, T) : torch::Tensor();

  // impl custom: the rnnlab modules take lengths directly
  if (auto m = std::dynamic_pointer_cast<LSTMImpl>(inner_)) {
    torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx;
    if (state.defined()) hx = std::make_tuple(state.h, state.c);
    auto [output, hc] = m->forward(input, hx, lens);
    return {output, RecurrentState{std::get<0>(hc), std::get<1>(hc)}};
  }
  if (auto m = std::dynamic_pointer_cast<GRUImpl>(inner_)) {
    auto [output, h] = m->forward(input, state.h, lens);
    return {output, RecurrentState{h, {}}};
  }
  if (auto m = std::dynamic_pointer_cast<RNNImpl>(inner_)) {
    auto [output, h] = m->forward(input, state.h, lens);
    return {output, RecurrentState{h, {}}};
  }

  // impl builtin: padded batches go through pack_padded_sequence
  namespace rnn_utils = torch::nn::utils::rnn;
  if (auto m = std::dynamic_pointer_cast<torch::nn::LSTMImpl>(inner_)) {
    torch::optional<std::tuple<torch::Tensor, torch::Tensor>> hx;
    if (state.defined()) hx = std::make_tuple(state.h, state.c);
    std::tuple<torch::Tensor, torch::Tensor> hc;
    torch::Tensor output;
    if (lens.defined()) {
      auto packed = rnn_utils::pack_padded_sequence(input, lens, o.batch_first(), false);
      auto result = m->forward_with_packed_input(packed, hx);
      output =
          std::get<0>(rnn_utils::pad_packed_sequence(std::get<0>(result), o.batch_first(), 0.0, T));
      hc = std::get<1>(result);
    } else {
      std::tie(output, hc) = m->forward(input, hx);
    }
    return {output, RecurrentState{std::get<0>(hc), std::get<1>(hc)}};
  }

  // RNN and GRU share their signatures.
  auto run = [&](auto& m) -> std::tuple<torch::Tensor, RecurrentState> {
    torch::Tensor output, h;
    if (lens.defined()) {
      auto packed = rnn_utils::pack_padded_sequence(input, lens, o.batch_first(), false);
      auto result = m->forward_with_packed_input(packed, state.h);
      output =
          std::get<0>(rnn_utils::pad_packed_sequence(std::get<0>(result), o.batch_first(), 0.0, T));
      h = std::get<1>(result);
    } else {
      std::tie(output, h) = m->forward(input, state.h);
    }
    return {output, RecurrentState{h, {}}};
  };
  if (auto m = std::dynamic_pointer_cast<torch::nn::GRUImpl>(inner_)) return run(m);
  if (auto m = std::dynamic_pointer_cast<torch::nn::RNNImpl>(inner_)) return run(m);
  throw std::logic_error("Recurrent: no inner module");
}

void RecurrentImpl::set_record_states(bool on) {
  if (auto m = std::dynamic_pointer_cast<LSTMImpl>(inner_)) return m->set_record_states(on);
  if (auto m = std::dynamic_pointer_cast<GRUImpl>(inner_)) return m->set_record_states(on);
  if (auto m = std::dynamic_pointer_cast<RNNImpl>(inner_)) return m->set_record_states(on);
  require(!on, "recording states needs impl custom");
}

const RecordedStates& RecurrentImpl::recorded_states() const {
  if (auto m = std::dynamic_pointer_cast<LSTMImpl>(inner_)) return m->recorded_states();
  if (auto m = std::dynamic_pointer_cast<GRUImpl>(inner_)) return m->recorded_states();
  if (auto m = std::dynamic_pointer_cast<RNNImpl>(inner_)) return m->recorded_states();
  static const RecordedStates kNone;
  return kNone;
}

}  // namespace rnnlab
