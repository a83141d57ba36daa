// Tests of the Recurrent factory (modules/recurrent.h).
#include "modules/recurrent.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

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

}  // namespace
}  // namespace rnnlab
