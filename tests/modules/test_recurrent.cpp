// Tests of the Recurrent factory (modules/recurrent.h).
#include "modules/recurrent.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <stdexcept>

namespace rnnlab {
namespace {

TEST(Recurrent, BuiltinShapesAndState) {
  torch::manual_seed(0);
  for (std::string type : {"lstm", "gru", "rnn"}) {
    Recurrent rnn(RecurrentOptions(type, 5, 7).impl("builtin").num_layers(2).bidirectional(true));
    auto x = torch::randn({4, 3, 5});
    auto [y, state] = rnn->forward(x);
    EXPECT_EQ(y.sizes(), (torch::IntArrayRef{4, 3, 14})) << type;
    EXPECT_EQ(rnn->output_size(), 14);
    EXPECT_EQ(state.h.sizes(), (torch::IntArrayRef{4, 3, 7})) << type;
    EXPECT_EQ(state.c.defined(), type == "lstm");
    // Feeding the state back in works.
    auto [y2, state2] = rnn->forward(x, state.detach());
    EXPECT_EQ(y2.sizes(), y.sizes());
  }
}

TEST(Recurrent, BuiltinLengthsZeroPadding) {
  torch::manual_seed(0);
  Recurrent rnn(RecurrentOptions("lstm", 5, 7).impl("builtin").batch_first(true));
  auto x = torch::randn({3, 6, 5});
  auto lengths = torch::tensor({6, 2, 4}, torch::kInt64);
  auto [y, state] = rnn->forward(x, {}, lengths);
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{3, 6, 7}));
  EXPECT_EQ(y[1].slice(0, 2).abs().max().item<float>(), 0.0f);
  // h_n of sequence 1 is its output at its last true step.
  EXPECT_TRUE(torch::allclose(state.h[0][1], y[1][1]));
}

TEST(Recurrent, BadOptionsAndShapes) {
  EXPECT_THROW(Recurrent(RecurrentOptions("lstmx", 5, 7)), std::invalid_argument);
  EXPECT_THROW(Recurrent(RecurrentOptions("lstm", 5, 7).impl("cudnn")), std::invalid_argument);
  Recurrent rnn(RecurrentOptions("gru", 5, 7).impl("builtin"));
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

RecurrentOptions options_for(const std::string& type, const std::string& impl) {
  return RecurrentOptions(type, 5, 6)
      .impl(impl)
      .num_layers(2)
      .bidirectional(true)
      .batch_first(true)
      .proj_size(type == "lstm" ? 3 : 0)
      .nonlinearity(type == "rnn" ? "relu" : "tanh");
}

TEST(Recurrent, CustomAndBuiltinAgree) {
  for (std::string type : {"lstm", "gru", "rnn"}) {
    torch::manual_seed(0);
    Recurrent builtin(options_for(type, "builtin"));
    Recurrent custom(options_for(type, "custom"));
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
    if (type == "lstm") {
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
  for (std::string type : {"lstm", "gru", "rnn"}) {
    auto opts = RecurrentOptions(type, 5, 8).num_layers(3).dropout(0.5);
    torch::manual_seed(3);
    Recurrent builtin(RecurrentOptions(opts).impl("builtin"));
    torch::manual_seed(3);
    Recurrent custom(RecurrentOptions(opts).impl("custom"));
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
  for (std::string type : {"lstm", "gru", "rnn"}) {
    for (bool from_builtin : {true, false}) {
      Recurrent from(options_for(type, from_builtin ? "builtin" : "custom"));
      Recurrent to(options_for(type, from_builtin ? "custom" : "builtin"));
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
  Recurrent custom(options_for("lstm", "custom"));
  custom->set_record_states(true);
  custom->forward(torch::randn({2, 4, 5}));
  const RecordedStates& rec = custom->recorded_states();
  ASSERT_EQ(rec.h.size(), 2u);
  EXPECT_EQ(rec.h[0].sizes(), (torch::IntArrayRef{4, 2, 6}));   // (T, B, proj*2)
  EXPECT_EQ(rec.c[1].sizes(), (torch::IntArrayRef{4, 2, 12}));  // (T, B, hidden*2)
  Recurrent builtin(options_for("gru", "builtin"));
  EXPECT_THROW(builtin->set_record_states(true), std::invalid_argument);
  EXPECT_TRUE(builtin->recorded_states().h.empty());
}

TEST(Recurrent, CloneCopiesWeights) {
  for (std::string impl : {"custom", "builtin"}) {
    Recurrent rnn(options_for("lstm", impl));
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
  EXPECT_THROW(Recurrent(RecurrentOptions("lstm", 5, 6).impl("builtin").layer_norm(true)),
               std::invalid_argument);
  EXPECT_THROW(Recurrent(RecurrentOptions("gru", 5, 6).impl("builtin").recurrent_dropout(0.1)),
               std::invalid_argument);
  Recurrent ln(RecurrentOptions("gru", 5, 6).layer_norm(true).recurrent_dropout(0.1));
  auto [y, s] = ln->forward(torch::randn({4, 2, 5}));
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{4, 2, 6}));
  std::ostringstream printed;
  printed << *ln;
  EXPECT_NE(printed.str().find("impl=custom"), std::string::npos) << printed.str();
  EXPECT_NE(printed.str().find("layer_norm=true"), std::string::npos) << printed.str();
}

}  // namespace
}  // namespace rnnlab
