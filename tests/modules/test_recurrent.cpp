// Tests of the Recurrent factory (modules/recurrent.h).
#include "modules/recurrent.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnnlab {
namespace {

constexpr CellType kLSTM = CellType::kLSTM, kGRU = CellType::kGRU, kRNN = CellType::kRNN;
constexpr Implementation kCustom = Implementation::kCustom, kBuiltin = Implementation::kBuiltin;
const std::vector<CellType> kTypes = {kLSTM, kGRU, kRNN};

TEST(Recurrent, BuiltinShapesAndState) {
  torch::manual_seed(0);
  for (CellType type : kTypes) {
    Recurrent rnn(RecurrentOptions(type, 5, 7).impl(kBuiltin).num_layers(2).bidirectional(true));
    auto x = torch::randn({4, 3, 5});
    auto [y, state] = rnn->forward(x);
    EXPECT_EQ(y.sizes(), (torch::IntArrayRef{4, 3, 14})) << type;
    EXPECT_EQ(rnn->output_size(), 14);
    EXPECT_EQ(state.h.sizes(), (torch::IntArrayRef{4, 3, 7})) << type;
    EXPECT_EQ(state.c.defined(), type == kLSTM);
    // Feeding the state back in works.
    auto [y2, state2] = rnn->forward(x, state.detach());
    EXPECT_EQ(y2.sizes(), y.sizes());
  }
}

TEST(Recurrent, BuiltinLengthsZeroPadding) {
  torch::manual_seed(0);
  Recurrent rnn(RecurrentOptions(kLSTM, 5, 7).impl(kBuiltin).batch_first(true));
  auto x = torch::randn({3, 6, 5});
  auto lengths = torch::tensor({6, 2, 4}, torch::kInt64);
  auto [y, state] = rnn->forward(x, {}, lengths);
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{3, 6, 7}));
  EXPECT_EQ(y[1].slice(0, 2).abs().max().item<float>(), 0.0f);
  // h_n of sequence 1 is its output at its last true step.
  EXPECT_TRUE(torch::allclose(state.h[0][1], y[1][1]));
}

TEST(Recurrent, BadOptionsAndShapes) {
  EXPECT_THROW(from_string<CellType>("lstmx"), std::invalid_argument);
  EXPECT_THROW(from_string<Implementation>("cudnn"), std::invalid_argument);
  EXPECT_THROW(Recurrent(RecurrentOptions(static_cast<CellType>(7), 5, 7)), std::invalid_argument);
  EXPECT_THROW(Recurrent(RecurrentOptions(kLSTM, 0, 7)), std::invalid_argument);
  Recurrent rnn(RecurrentOptions(kGRU, 5, 7).impl(kBuiltin));
  EXPECT_THROW(rnn->forward(torch::randn({4, 5})), std::invalid_argument);
  EXPECT_THROW(rnn->forward(torch::randn({4, 3, 6})), std::invalid_argument);
  EXPECT_THROW(rnn->forward(torch::randn({4, 3, 5}), {torch::zeros({1, 2, 7}), {}}),
               std::invalid_argument);
  EXPECT_THROW(rnn->forward(torch::randn({4, 3, 5}), {}, torch::tensor({4, 0, 1})),
               std::invalid_argument);
  EXPECT_THROW(rnn->forward(torch::randn({4, 3, 5}), {}, torch::tensor({4, 5, 1})),
               std::invalid_argument);
  EXPECT_THROW(rnn->forward(torch::randn({4, 3, 5}), {}, torch::tensor({4, 1})),
               std::invalid_argument);
}

RecurrentOptions options_for(CellType type, Implementation impl) {
  Nonlinearity act = torch::kTanh;
  if (type == kRNN) act = torch::kReLU;
  return RecurrentOptions(type, 5, 6)
      .impl(impl)
      .num_layers(2)
      .bidirectional(true)
      .batch_first(true)
      .proj_size(type == kLSTM ? 3 : 0)
      .nonlinearity(act);
}

TEST(Recurrent, CustomAndBuiltinAgree) {
  for (CellType type : kTypes) {
    torch::manual_seed(0);
    Recurrent builtin(options_for(type, kBuiltin));
    Recurrent custom(options_for(type, kCustom));
    // same parameter names and shapes, in the same order
    auto bp = builtin->named_parameters();
    auto cp = custom->named_parameters();
    ASSERT_EQ(bp.keys(), cp.keys()) << type;
    for (auto& p : cp) EXPECT_EQ(p.value().sizes(), bp[p.key()].sizes()) << p.key();
    EXPECT_EQ(custom->output_size(), builtin->output_size());
    {
      torch::NoGradGuard no_grad;
      for (auto& p : cp) p.value().copy_(bp[p.key()]);
    }
    auto x = torch::randn({3, 6, 5});  // (B, T, I)
    auto lengths = torch::tensor({6, 2, 4});
    auto [yb, sb] = builtin->forward(x, {}, lengths);
    auto [yc, sc] = custom->forward(x, {}, lengths);
    EXPECT_LE((yb - yc).abs().max().item<double>(), 1e-5) << type;
    EXPECT_LE((sb.h - sc.h).abs().max().item<double>(), 1e-5) << type;
    if (type == kLSTM) {
      EXPECT_LE((sb.c - sc.c).abs().max().item<double>(), 1e-5);
    }
    // and with a carried state, as in truncated BPTT
    auto [yb2, sb2] = builtin->forward(x, sb.detach());
    auto [yc2, sc2] = custom->forward(x, sc.detach());
    EXPECT_LE((yb2 - yc2).abs().max().item<double>(), 1e-5) << type;
  }
}

// The same seed gives the same weights and, in training, the same dropout
// masks between layers: an experiment run with impl custom and with impl
// builtin starts from the same point and sees the same noise.
TEST(Recurrent, SameSeedSameWeightsAndDropoutMasks) {
  for (CellType type : kTypes) {
    auto opts = RecurrentOptions(type, 5, 8).num_layers(3).dropout(0.5);
    torch::manual_seed(3);
    Recurrent builtin(RecurrentOptions(opts).impl(kBuiltin));
    torch::manual_seed(3);
    Recurrent custom(RecurrentOptions(opts).impl(kCustom));
    auto bp = builtin->named_parameters();
    for (auto& p : custom->named_parameters())
      EXPECT_TRUE(torch::equal(p.value(), bp[p.key()])) << type << " " << p.key();
    builtin->train();
    custom->train();
    auto x = torch::randn({7, 4, 5});  // (T, B, I)
    torch::manual_seed(11);
    auto [yb, sb] = builtin->forward(x, {});
    torch::manual_seed(11);
    auto [yc, sc] = custom->forward(x, {});
    EXPECT_LE((yb - yc).abs().max().item<double>(), 1e-5) << type;
    EXPECT_LE((sb.h - sc.h).abs().max().item<double>(), 1e-5) << type;
    // and the masks are really drawn: another seed gives another output
    torch::manual_seed(12);
    auto [yc2, sc2] = custom->forward(x, {});
    EXPECT_GT((yc2 - yc).abs().max().item<double>(), 1e-3) << type;
  }
}

TEST(Recurrent, CheckpointsLoadAcrossImpls) {
  for (CellType type : kTypes) {
    for (bool from_builtin : {true, false}) {
      Recurrent from(options_for(type, from_builtin ? kBuiltin : kCustom));
      Recurrent to(options_for(type, from_builtin ? kCustom : kBuiltin));
      std::stringstream buffer;
      torch::save(from, buffer);
      torch::load(to, buffer);
      auto x = torch::randn({2, 4, 5});
      EXPECT_LE(
          (std::get<0>(from->forward(x)) - std::get<0>(to->forward(x))).abs().max().item<double>(),
          1e-5)
          << type << (from_builtin ? " builtin -> custom" : " custom -> builtin");
    }
  }
}

TEST(Recurrent, RecordsStatesOnlyWhenCustom) {
  Recurrent custom(options_for(kLSTM, kCustom));
  custom->set_record_states(true);
  custom->forward(torch::randn({2, 4, 5}));
  const RecordedStates& rec = custom->recorded_states();
  ASSERT_EQ(rec.h.size(), 2u);
  EXPECT_EQ(rec.h[0].sizes(), (torch::IntArrayRef{4, 2, 6}));   // (T, B, proj*2)
  EXPECT_EQ(rec.c[1].sizes(), (torch::IntArrayRef{4, 2, 12}));  // (T, B, hidden*2)
  Recurrent builtin(options_for(kGRU, kBuiltin));
  EXPECT_THROW(builtin->set_record_states(true), std::invalid_argument);
  EXPECT_TRUE(builtin->recorded_states().h.empty());
}

TEST(Recurrent, CloneCopiesWeights) {
  for (Implementation impl : {kCustom, kBuiltin}) {
    Recurrent rnn(options_for(kLSTM, impl));
    auto copy = std::dynamic_pointer_cast<RecurrentImpl>(rnn->clone());
    ASSERT_TRUE(copy);
    auto x = torch::randn({2, 4, 5});
    EXPECT_TRUE(torch::equal(std::get<0>(copy->forward(x)), std::get<0>(rnn->forward(x)))) << impl;
    {
      torch::NoGradGuard no_grad;
      for (auto& p : copy->parameters()) p.add_(0.5);
    }
    EXPECT_FALSE(torch::equal(std::get<0>(copy->forward(x)), std::get<0>(rnn->forward(x)))) << impl;
  }
}

TEST(Recurrent, ExtrasNeedCustom) {
  EXPECT_THROW(Recurrent(RecurrentOptions(kLSTM, 5, 6).impl(kBuiltin).layer_norm(true)),
               std::invalid_argument);
  EXPECT_THROW(Recurrent(RecurrentOptions(kGRU, 5, 6).impl(kBuiltin).recurrent_dropout(0.1)),
               std::invalid_argument);
  Recurrent ln(RecurrentOptions(kGRU, 5, 6).layer_norm(true).recurrent_dropout(0.1));
  auto [y, s] = ln->forward(torch::randn({4, 2, 5}));
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{4, 2, 6}));
  std::ostringstream printed;
  printed << *ln;
  EXPECT_NE(printed.str().find("impl=custom"), std::string::npos) << printed.str();
  EXPECT_NE(printed.str().find("layer_norm=true"), std::string::npos) << printed.str();
}

// Every senseless option or combination is refused by the one
// RecurrentOptions::validate, with the option at fault and a reason, by the
// options themselves and by every module built from them.
TEST(RecurrentOptions, ValidateRefusesEachBadCombination) {
  struct Case {
    RecurrentOptions options;
    std::string option, reason;
  };
  const RecurrentOptions lstm(kLSTM, 5, 6), gru(kGRU, 5, 6);
  const std::vector<Case> cases = {
      {RecurrentOptions(kLSTM, 0, 6), "input_size", "must be positive, got 0"},
      {RecurrentOptions(kLSTM, 5, -1), "hidden_size", "must be positive, got -1"},
      {RecurrentOptions(lstm).num_layers(0), "num_layers", "must be positive, got 0"},
      {RecurrentOptions(lstm).proj_size(-2), "proj_size",
       "must be >= 0 (0: no projection), got -2"},
      {RecurrentOptions(gru).proj_size(3), "proj_size",
       "only an lstm has a projection; type is gru"},
      {RecurrentOptions(lstm).proj_size(6), "proj_size", "must be smaller than hidden_size (6)"},
      {RecurrentOptions(gru).nonlinearity(torch::kReLU), "nonlinearity",
       "only the vanilla rnn has a choice of non-linearity; type is gru"},
      {RecurrentOptions(lstm).impl(kBuiltin).layer_norm(true), "layer_norm",
       "torch::nn has no layer-normalised cells; set impl: custom"},
      {RecurrentOptions(lstm).recurrent_dropout(1.0), "recurrent_dropout",
       "must lie in [0, 1), got 1"},
      {RecurrentOptions(lstm).recurrent_dropout(-0.1), "recurrent_dropout",
       "must lie in [0, 1), got -0.1"},
      {RecurrentOptions(gru).impl(kBuiltin).recurrent_dropout(0.1), "recurrent_dropout",
       "torch::nn has no recurrent dropout; set impl: custom"},
      {RecurrentOptions(lstm).num_layers(2).dropout(1.0), "dropout", "must lie in [0, 1), got 1"},
      {RecurrentOptions(lstm).num_layers(2).dropout(-0.5), "dropout",
       "must lie in [0, 1), got -0.5"},
      {RecurrentOptions(lstm).dropout(0.2), "dropout",
       "dropout between stacked layers needs num_layers >= 2 (it would do nothing)"},
      {RecurrentOptions(lstm).hidden_init(HiddenInit::kIdentity), "hidden_init",
       "identity is for the vanilla rnn (IRNN); type is lstm (orthogonal suits any cell)"},
      {RecurrentOptions(gru).forget_bias(ForgetBiasInit::kOne), "forget_bias",
       "only an lstm has a forget gate; type is gru"},
      {RecurrentOptions(lstm).bias(false).forget_bias(ForgetBiasInit::kOne), "forget_bias",
       "sets a bias, and bias is false"},
      {RecurrentOptions(lstm).forget_bias(ForgetBiasInit::kChrono), "chrono_max",
       "chrono initialisation needs T_max >= 2 (the longest dependency, e.g. the sequence "
       "length), got 0"},
      {RecurrentOptions(lstm).forget_bias(ForgetBiasInit::kOne).chrono_max(784), "chrono_max",
       "is T_max of chrono initialisation, and forget_bias is one"},
  };
  for (const Case& c : cases) {
    try {
      c.options.validate("Test");
      ADD_FAILURE() << "no error for " << c.option << "; expected: " << c.reason;
    } catch (const RecurrentOptionError& e) {
      EXPECT_EQ(e.option(), c.option);
      EXPECT_EQ(e.reason(), c.reason);
      EXPECT_EQ(std::string(e.what()), "Test: " + c.option + ": " + c.reason);
    }
    // the factory refuses them the same way, naming itself
    try {
      Recurrent rnn(c.options);
      ADD_FAILURE() << "Recurrent built with bad " << c.option;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), "Recurrent: " + c.option + ": " + c.reason);
    }
  }
  // a namer writes the names (a config's keys) into the messages
  try {
    RecurrentOptions(gru).proj_size(3).validate("Test",
                                                [](const std::string& o) { return "cfg." + o; });
    ADD_FAILURE() << "no error";
  } catch (const RecurrentOptionError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Test: cfg.proj_size: only an lstm has a projection; cfg.type is gru");
  }
  // sensible combinations pass
  for (CellType type : kTypes) {
    for (Implementation impl : {kCustom, kBuiltin}) {
      EXPECT_NO_THROW(options_for(type, impl).validate());
      EXPECT_NO_THROW(
          RecurrentOptions(type, 5, 6).impl(impl).num_layers(3).dropout(0.5).validate());
    }
  }
  EXPECT_NO_THROW(RecurrentOptions(lstm).layer_norm(true).recurrent_dropout(0.5).validate());
}

// The layers check through the same validate(): the same messages under their own names.
TEST(RecurrentOptions, LayersUseTheSameChecks) {
  auto message = [](const std::function<void()>& f) -> std::string {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(message([] { LSTM(LSTMOptions(5, 4).proj_size(4)); }),
            "rnnlab::LSTM: proj_size: must be smaller than hidden_size (4)");
  EXPECT_EQ(message([] { GRU(GRUOptions(5, 4).dropout(0.3)); }),
            "rnnlab::GRU: dropout: dropout between stacked layers needs num_layers >= 2 (it "
            "would do nothing)");
  EXPECT_EQ(message([] { RNN(RNNOptions(0, 4)); }),
            "rnnlab::RNN: input_size: must be positive, got 0");
  EXPECT_EQ(message([] { LSTMCell(5, 0); }),
            "rnnlab::LSTMCell: hidden_size: must be positive, got 0");
  // and the options convert both ways without losing one
  const auto o = RecurrentOptions(kLSTM, 5, 6)
                     .num_layers(2)
                     .bias(false)
                     .batch_first(true)
                     .dropout(0.25)
                     .bidirectional(true)
                     .proj_size(3)
                     .layer_norm(true)
                     .recurrent_dropout(0.5);
  const RecurrentOptions back = detail::to_recurrent(detail::layer_options<LSTMOptions>(o));
  std::ostringstream a, b;
  a << *Recurrent(o);
  b << *Recurrent(back);
  EXPECT_EQ(a.str(), b.str());
  EXPECT_EQ(back.output_size(), 6);
  const auto r = detail::to_recurrent(
      detail::layer_options<RNNOptions>(RecurrentOptions(kRNN, 5, 6).nonlinearity(torch::kReLU)));
  EXPECT_EQ(to_string(r.nonlinearity()), "relu");
}

// The names configs use, and back.
TEST(RecurrentOptions, NamesRoundTrip) {
  EXPECT_EQ(names_of<CellType>(), (std::vector<std::string>{"lstm", "gru", "rnn"}));
  EXPECT_EQ(names_of<Implementation>(), (std::vector<std::string>{"custom", "builtin"}));
  EXPECT_EQ(names_of<Nonlinearity>(), (std::vector<std::string>{"tanh", "relu"}));
  for (const std::string& name : names_of<CellType>())
    EXPECT_EQ(to_string(from_string<CellType>(name)), name);
  for (const std::string& name : names_of<Implementation>())
    EXPECT_EQ(to_string(from_string<Implementation>(name)), name);
  for (const std::string& name : names_of<Nonlinearity>())
    EXPECT_EQ(to_string(from_string<Nonlinearity>(name)), name);
  for (CellType type : kTypes) EXPECT_EQ(from_string<CellType>(to_string(type)), type);
  for (Implementation impl : {kCustom, kBuiltin})
    EXPECT_EQ(from_string<Implementation>(to_string(impl)), impl);
  EXPECT_EQ(to_string(Nonlinearity(torch::kReLU)), "relu");
  EXPECT_EQ(to_string(Nonlinearity(torch::kTanh)), "tanh");
  std::ostringstream printed;
  printed << kGRU << " " << kBuiltin;
  EXPECT_EQ(printed.str(), "gru builtin");
  try {
    from_string<CellType>("LSTM");
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "unknown cell type 'LSTM' (expected lstm, gru or rnn)");
  }
  EXPECT_THROW(from_string<Nonlinearity>("sigmoid"), std::invalid_argument);
  EXPECT_THROW(from_string<Implementation>(""), std::invalid_argument);
}

// The named parameters of a stack, as torch names them (weight_hh_l0...).
std::map<std::string, torch::Tensor> params_of(Recurrent& rnn) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : rnn->inner()->named_parameters(false)) out[p.key()] = p.value();
  return out;
}

TEST(RecurrentInit, IdentityIsIRNN) {
  for (Implementation impl : {kCustom, kBuiltin}) {
    torch::manual_seed(1);
    Recurrent rnn(RecurrentOptions(kRNN, 3, 5)
                      .impl(impl)
                      .nonlinearity(torch::kReLU)
                      .num_layers(2)
                      .bidirectional(true)
                      .hidden_init(HiddenInit::kIdentity));
    int checked = 0;
    for (const auto& [name, p] : params_of(rnn)) {
      if (name.rfind("weight_hh", 0) == 0) {
        EXPECT_TRUE(torch::equal(p, torch::eye(5))) << name;
        ++checked;
      } else if (name.rfind("bias", 0) == 0) {
        EXPECT_EQ(p.abs().max().item<float>(), 0.0f) << name;
        ++checked;
      } else {
        EXPECT_GT(p.abs().max().item<float>(), 0.0f) << name << " keeps its default draw";
      }
    }
    EXPECT_EQ(checked, 12) << "4 layer-directions x (W_hh, b_ih, b_hh)";
    // with zero input, the state is carried unchanged: h_t = relu(I h_{t-1})
    torch::Tensor h0 = torch::rand({4, 2, 5});
    auto [out, state] = rnn(torch::zeros({7, 2, 3}), RecurrentState{h0, {}});
    (void)out;
    // the first layer's forward direction: W_ih x = 0, so h stays h0[0]
    EXPECT_TRUE(torch::allclose(state.h[0], h0[0])) << to_string(impl);
  }
}

TEST(RecurrentInit, OrthogonalBlocks) {
  for (CellType type : kTypes) {
    torch::manual_seed(2);
    Recurrent rnn(RecurrentOptions(type, 3, 6).hidden_init(HiddenInit::kOrthogonal));
    const int64_t G = type == kLSTM ? 4 : type == kGRU ? 3 : 1;
    torch::Tensor w = params_of(rnn).at("weight_hh_l0");
    ASSERT_EQ(w.size(0), G * 6);
    for (int64_t g = 0; g < G; ++g) {
      torch::Tensor b = w.narrow(0, g * 6, 6);
      EXPECT_TRUE(torch::allclose(b.matmul(b.t()), torch::eye(6), 1e-5, 1e-5))
          << to_string(type) << " gate " << g;
    }
  }
}

TEST(RecurrentInit, ForgetBiasOneAndChrono) {
  const int64_t H = 50;
  for (Implementation impl : {kCustom, kBuiltin}) {
    torch::manual_seed(3);
    Recurrent one(RecurrentOptions(kLSTM, 3, H).impl(impl).forget_bias(ForgetBiasInit::kOne));
    auto p = params_of(one);
    // the forget gate sees b_ih + b_hh = 1; the other gates keep their draws
    torch::Tensor sum = p.at("bias_ih_l0") + p.at("bias_hh_l0");
    EXPECT_TRUE(torch::equal(sum.narrow(0, H, H), torch::ones({H})));
    EXPECT_GT(sum.narrow(0, 0, H).abs().max().item<float>(), 0.0f);
    EXPECT_LT(sum.narrow(0, 0, H).abs().max().item<float>(), 1.0f);

    Recurrent chrono(RecurrentOptions(kLSTM, 3, H)
                         .impl(impl)
                         .forget_bias(ForgetBiasInit::kChrono)
                         .chrono_max(784));
    p = params_of(chrono);
    sum = p.at("bias_ih_l0") + p.at("bias_hh_l0");
    torch::Tensor b_i = sum.narrow(0, 0, H), b_f = sum.narrow(0, H, H);
    // b_f = log(u), u ~ U(1, 783): in [0, log 783], spread out; b_i = -b_f
    EXPECT_GE(b_f.min().item<float>(), 0.0f);
    EXPECT_LE(b_f.max().item<float>(), std::log(783.0f) + 1e-5f);
    EXPECT_GT(b_f.mean().item<float>(), 4.0f) << "E[log U(1, 783)] = 5.68";
    EXPECT_TRUE(torch::equal(b_i, -b_f));
    EXPECT_EQ(p.at("bias_hh_l0").narrow(0, 0, 2 * H).abs().max().item<float>(), 0.0f);
  }
}

TEST(RecurrentInit, FollowsTheSeedAndPrints) {
  auto make = [] {
    torch::manual_seed(9);
    return Recurrent(RecurrentOptions(kLSTM, 3, 4)
                         .hidden_init(HiddenInit::kOrthogonal)
                         .forget_bias(ForgetBiasInit::kChrono)
                         .chrono_max(28));
  };
  Recurrent a = make(), b = make();
  for (const auto& [name, p] : params_of(a)) EXPECT_TRUE(torch::equal(p, params_of(b).at(name)));
  std::ostringstream s;
  s << *a;
  EXPECT_NE(s.str().find("hidden_init=orthogonal, forget_bias=chrono, chrono_max=28"),
            std::string::npos)
      << s.str();
}

}  // namespace
}  // namespace rnnlab
