// The Recurrent factory: one forward() over torch::nn::RNN/LSTM/GRU
// (impl builtin) or the hand-written rnnlab::RNN/LSTM/GRU (impl custom), both
// built from one RecurrentOptions.
#include "modules/recurrent.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/rnn.h>
#include <torch/nn/utils/rnn.h>

#include <stdexcept>
#include <type_traits>

namespace rnnlab {

namespace {

constexpr const char* kWho = "Recurrent";

// Throws std::invalid_argument("Recurrent: <message>") unless `ok`.
void require(bool ok, const std::string& message) {
  detail::check(ok, kWho, message);
}

// The torch::nn options that run `o`: torch's options, which its RNN, LSTM and
// GRU share, plus the LSTM's proj_size and the RNN's nonlinearity.
template <class TorchOptions>
TorchOptions torch_options(const RecurrentOptions& o) {
  TorchOptions t(o.input_size(), o.hidden_size());
  t.num_layers(o.num_layers())
      .bias(o.bias())
      .batch_first(o.batch_first())
      .dropout(o.dropout())
      .bidirectional(o.bidirectional());
  if constexpr (std::is_same_v<TorchOptions, torch::nn::LSTMOptions>) t.proj_size(o.proj_size());
  if constexpr (std::is_same_v<TorchOptions, torch::nn::RNNOptions>)
    t.nonlinearity(o.nonlinearity());
  return t;
}

// The module that runs `o`: `Custom` (rnnlab::LSTMImpl, ...) or `Builtin`
// (torch::nn::LSTMImpl, ...), each built from options of its own kind.
template <class Custom, class Builtin>
std::shared_ptr<torch::nn::Module> make_inner(const RecurrentOptions& o) {
  if (o.impl() == Implementation::kBuiltin)
    return std::make_shared<Builtin>(torch_options<decltype(Builtin::options)>(o));
  return std::make_shared<Custom>(detail::layer_options<decltype(Custom::options)>(o));
}

// Gates per cell type, in torch's order: lstm i, f, g, o; gru r, z, n; rnn one.
int64_t gates_of(CellType type) {
  return type == CellType::kLSTM ? 4 : type == CellType::kGRU ? 3 : 1;
}

// Starts the parameters of `inner` (named as torch names them: weight_hh_l0,
// bias_ih_l1_reverse...) as o.hidden_init and o.forget_bias say; the draws
// come from the global generator, so they follow the run's seed.
void initialise(torch::nn::Module& inner, const RecurrentOptions& o) {
  if (o.hidden_init() == HiddenInit::kDefault && o.forget_bias() == ForgetBiasInit::kDefault)
    return;
  torch::NoGradGuard no_grad;
  const int64_t G = gates_of(o.type()), H = o.hidden_size();
  for (auto& item : inner.named_parameters(/*recurse=*/false)) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    const bool w_hh = name.rfind("weight_hh", 0) == 0;
    const bool b_ih = name.rfind("bias_ih", 0) == 0, b_hh = name.rfind("bias_hh", 0) == 0;
    // W_hh is (G*H, P): one (H, P) block per gate.
    if (w_hh && o.hidden_init() == HiddenInit::kIdentity) {
      p.copy_(torch::eye(H, p.size(1)));  // rnn: G = 1, P = H
    } else if (w_hh && o.hidden_init() == HiddenInit::kOrthogonal) {
      for (int64_t g = 0; g < G; ++g) {
        torch::Tensor block = torch::empty({H, p.size(1)});
        torch::nn::init::orthogonal_(block);
        p.narrow(0, g * H, H).copy_(block);
      }
    }
    if ((b_ih || b_hh) && o.hidden_init() == HiddenInit::kIdentity) p.zero_();
    // LSTM biases are (4H): i, f, g, o; the gate sees b_ih + b_hh.
    if ((b_ih || b_hh) && o.forget_bias() != ForgetBiasInit::kDefault) {
      torch::Tensor b_i = p.narrow(0, 0, H), b_f = p.narrow(0, H, H);
      if (b_hh) {
        b_f.zero_();
        if (o.forget_bias() == ForgetBiasInit::kChrono) b_i.zero_();
      } else if (o.forget_bias() == ForgetBiasInit::kOne) {
        b_f.fill_(1.0);
      } else {
        // chrono: b_f = log(u), u ~ U(1, T_max - 1); b_i = -b_f
        const auto t_max = static_cast<double>(o.chrono_max());
        b_f.copy_(torch::empty({H}).uniform_(1.0, t_max - 1.0).log());
        b_i.copy_(-b_f);
      }
    }
  }
}

}  // namespace

RecurrentImpl::RecurrentImpl(RecurrentOptions options_) : options(std::move(options_)) {
  reset();
}

void RecurrentImpl::reset() {
  options.validate(kWho);
  inner_ = nullptr;
  switch (options.type()) {
    case CellType::kLSTM:
      inner_ = make_inner<LSTMImpl, torch::nn::LSTMImpl>(options);
      break;
    case CellType::kGRU:
      inner_ = make_inner<GRUImpl, torch::nn::GRUImpl>(options);
      break;
    case CellType::kRNN:
      inner_ = make_inner<RNNImpl, torch::nn::RNNImpl>(options);
      break;
  }
  require(inner_ != nullptr,
          "unknown cell type " + std::to_string(static_cast<int>(options.type())));
  register_module("rnn", inner_);
  initialise(*inner_, options);
}

void RecurrentImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "rnnlab::Recurrent(type=" << o.type() << ", impl=" << o.impl()
         << ", input_size=" << o.input_size() << ", hidden_size=" << o.hidden_size()
         << ", num_layers=" << o.num_layers();
  if (o.type() == CellType::kRNN) stream << ", nonlinearity=" << to_string(o.nonlinearity());
  if (!o.bias()) stream << ", bias=false";
  if (o.batch_first()) stream << ", batch_first=true";
  if (o.dropout() > 0) stream << ", dropout=" << o.dropout();
  if (o.bidirectional()) stream << ", bidirectional=true";
  if (o.proj_size() > 0) stream << ", proj_size=" << o.proj_size();
  if (o.layer_norm()) stream << ", layer_norm=true";
  if (o.recurrent_dropout() > 0) stream << ", recurrent_dropout=" << o.recurrent_dropout();
  if (o.weight_drop() > 0) stream << ", weight_drop=" << o.weight_drop();
  if (o.locked_dropout()) stream << ", locked_dropout=true";
  if (o.hidden_init() != HiddenInit::kDefault)
    stream << ", hidden_init=" << to_string(o.hidden_init());
  if (o.forget_bias() != ForgetBiasInit::kDefault)
    stream << ", forget_bias=" << to_string(o.forget_bias());
  if (o.chrono_max() > 0) stream << ", chrono_max=" << o.chrono_max();
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
    if (o.type() == CellType::kLSTM)
      detail::check_state(kWho, "c0", state.c, {LD, B, o.hidden_size()});
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
