// Tests of the hand-written cells and layers (modules/rnn.h) against torch::nn.
#include "modules/dropout.h"
#include "modules/recurrent.h"
#include "modules/rnn.h"
#include "modules/scan.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace rnnlab {
namespace {

using torch::Tensor;
namespace rnn_utils = torch::nn::utils::rnn;

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// Copies every parameter of `from` into the parameter of `to` with the same name
// (both must have exactly the same names and shapes).
void copy_by_name(torch::nn::Module& from, torch::nn::Module& to) {
  torch::NoGradGuard no_grad;
  auto src = from.named_parameters();
  auto dst = to.named_parameters();
  ASSERT_EQ(src.size(), dst.size());
  for (auto& p : dst) {
    ASSERT_TRUE(src.contains(p.key())) << p.key();
    ASSERT_EQ(src[p.key()].sizes(), p.value().sizes()) << p.key();
    p.value().copy_(src[p.key()]);
  }
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ layer parity ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// One point of the parity matrix.
struct Case {
  std::string type;  // rnn_tanh, rnn_relu, lstm, lstm_proj, gru
  int64_t layers;
  bool bidirectional;
  bool batch_first;
  bool lengths;
  bool initial_state;
  torch::Dtype dtype;
};

std::string case_name(const Case& c) {
  return c.type + "_l" + std::to_string(c.layers) + (c.bidirectional ? "_bi" : "_uni") +
         (c.batch_first ? "_bf" : "_tf") + (c.lengths ? "_len" : "_full") +
         (c.initial_state ? "_h0" : "") + (c.dtype == torch::kFloat ? "_f32" : "_f64");
}

// What a stack returns: output, h_n and (LSTM) c_n.
struct Result {
  Tensor out, h, c;
};

// The torch::nn module and ours for one case, with the same weights.
struct Pair {
  std::shared_ptr<torch::nn::Module> builtin, custom;
  std::function<Result(const Tensor&x, const Tensor&h0, const Tensor&c0, const Tensor&lens)>
      run_builtin, run_custom;
};

constexpr int64_t kT = 7, kB = 4, kI = 5, kH = 6, kP = 3;

Pair make_pair(const Case& c) {
  Pair p;
  const int64_t T = kT;
  const bool bf = c.batch_first;
  // torch::nn needs packing for padded batches
  auto packed_run = [bf, T](auto& m, const Tensor& x, const Tensor& lens, auto hx) {
    auto packed = rnn_utils::pack_padded_sequence(x, lens, bf, /*enforce_sorted=*/false);
    auto [out, state] = m->forward_with_packed_input(packed, hx);
    return std::make_tuple(std::get<0>(rnn_utils::pad_packed_sequence(out, bf, 0.0, T)), state);
  };
  if (c.type == "lstm" || c.type == "lstm_proj") {
    const int64_t proj = c.type == "lstm_proj" ? kP : 0;
    auto b = torch::nn::LSTM(torch::nn::LSTMOptions(kI, kH)
                                 .num_layers(c.layers)
                                 .bidirectional(c.bidirectional)
                                 .batch_first(bf)
                                 .proj_size(proj));
    auto m = LSTM(LSTMOptions(kI, kH)
                      .num_layers(c.layers)
                      .bidirectional(c.bidirectional)
                      .batch_first(bf)
                      .proj_size(proj));
    p.builtin = b.ptr();
    p.custom = m.ptr();
    p.run_builtin = [b, packed_run](const Tensor& x, const Tensor& h0, const Tensor& c0,
                                    const Tensor& lens) mutable {
      torch::optional<std::tuple<Tensor, Tensor>> hx;
      if (h0.defined()) hx = std::make_tuple(h0, c0);
      auto [out, hc] = lens.defined() ? packed_run(b, x, lens, hx) : b->forward(x, hx);
      return Result{out, std::get<0>(hc), std::get<1>(hc)};
    };
    p.run_custom = [m](const Tensor& x, const Tensor& h0, const Tensor& c0,
                       const Tensor& lens) mutable {
      torch::optional<std::tuple<Tensor, Tensor>> hx;
      if (h0.defined()) hx = std::make_tuple(h0, c0);
      auto [out, hc] = m->forward(x, hx, lens);
      return Result{out, std::get<0>(hc), std::get<1>(hc)};
    };
  } else if (c.type == "gru") {
    auto b = torch::nn::GRU(torch::nn::GRUOptions(kI, kH)
                                .num_layers(c.layers)
                                .bidirectional(c.bidirectional)
                                .batch_first(bf));
    auto m =
        GRU(GRUOptions(kI, kH).num_layers(c.layers).bidirectional(c.bidirectional).batch_first(bf));
    p.builtin = b.ptr();
    p.custom = m.ptr();
    p.run_builtin = [b, packed_run](const Tensor& x, const Tensor& h0, const Tensor&,
                                    const Tensor& lens) mutable {
      auto [out, h] = lens.defined() ? packed_run(b, x, lens, h0) : b->forward(x, h0);
      return Result{out, h, {}};
    };
    p.run_custom = [m](const Tensor& x, const Tensor& h0, const Tensor&,
                       const Tensor& lens) mutable {
      auto [out, h] = m->forward(x, h0, lens);
      return Result{out, h, {}};
    };
  } else {
    const bool relu = c.type == "rnn_relu";
    torch::nn::RNNOptions::nonlinearity_t bact = torch::kTanh;
    RNNOptions::nonlinearity_t act = torch::kTanh;
    if (relu) {
      bact = torch::kReLU;
      act = torch::kReLU;
    }
    auto b = torch::nn::RNN(torch::nn::RNNOptions(kI, kH)
                                .num_layers(c.layers)
                                .bidirectional(c.bidirectional)
                                .batch_first(bf)
                                .nonlinearity(bact));
    auto m = RNN(RNNOptions(kI, kH)
                     .num_layers(c.layers)
                     .bidirectional(c.bidirectional)
                     .batch_first(bf)
                     .nonlinearity(act));
    p.builtin = b.ptr();
    p.custom = m.ptr();
    p.run_builtin = [b, packed_run](const Tensor& x, const Tensor& h0, const Tensor&,
                                    const Tensor& lens) mutable {
      auto [out, h] = lens.defined() ? packed_run(b, x, lens, h0) : b->forward(x, h0);
      return Result{out, h, {}};
    };
    p.run_custom = [m](const Tensor& x, const Tensor& h0, const Tensor&,
                       const Tensor& lens) mutable {
      auto [out, h] = m->forward(x, h0, lens);
      return Result{out, h, {}};
    };
  }
  return p;
}

// One test per cell type and dtype, each over layers x directions x layout x
// lengths (one process per test under ctest, and each costs ~0.5 s to start).
class LayerParity : public testing::TestWithParam<std::tuple<std::string, torch::Dtype>> {};

// The worst differences over the whole matrix, printed once at the end.
struct ParityReport : testing::Environment {
  static double worst[2][2];  // [f32, f64][values, gradients]
  void TearDown() override {
    std::printf(
        "parity worst |custom - torch|: float %.2g (outputs, states) %.2g (gradients); "
        "double %.2g, %.2g\n",
        worst[0][0], worst[0][1], worst[1][0], worst[1][1]);
  }
  static void note(bool f32, bool grad, double diff) {
    double& w = worst[f32 ? 0 : 1][grad ? 1 : 0];
    w = std::max(w, diff);
  }
};
double ParityReport::worst[2][2] = {{0, 0}, {0, 0}};
testing::Environment* const parity_report = testing::AddGlobalTestEnvironment(new ParityReport);

// max |a - b|, noted in the report.
double noted_diff(const Tensor& a, const Tensor& b, bool f32, bool grad) {
  const double diff = max_abs_diff(a, b);
  ParityReport::note(f32, grad, diff);
  return diff;
}

// Builds the torch::nn module and ours with the same weights, runs both on the
// same input, and compares outputs, final states and every gradient.
void check_parity(const Case& c) {
  torch::manual_seed(1);
  Pair p = make_pair(c);
  p.builtin->to(c.dtype);
  p.custom->to(c.dtype);
  copy_by_name(*p.builtin, *p.custom);
  if (testing::Test::HasFatalFailure()) return;

  const auto opts = torch::TensorOptions().dtype(c.dtype);
  const int64_t D = c.bidirectional ? 2 : 1;
  const int64_t out = c.type == "lstm_proj" ? kP : kH;
  const bool lstm = c.type.rfind("lstm", 0) == 0;
  const Tensor x0 =
      c.batch_first ? torch::randn({kB, kT, kI}, opts) : torch::randn({kT, kB, kI}, opts);
  // unsorted, with a full-length and a length-1 sequence
  const Tensor lens =
      c.lengths ? torch::tensor({int64_t{5}, kT, int64_t{1}, int64_t{3}}) : Tensor();
  Tensor h00, c00;
  if (c.initial_state) {
    h00 = torch::randn({c.layers * D, kB, out}, opts);
    if (lstm) c00 = torch::randn({c.layers * D, kB, kH}, opts);
  }
  // random weights for the loss so every output element matters
  const Tensor w_out = torch::randn({kT * kB * D * out}, opts);
  const Tensor w_h = torch::randn({c.layers * D * kB * out}, opts);
  const Tensor w_c = torch::randn({c.layers * D * kB * kH}, opts);

  struct Run {
    Result r;
    Tensor gx, gh0, gc0;
  };
  auto run = [&](auto& fn) {
    Tensor x = x0.clone().requires_grad_(true);
    Tensor h0 = h00.defined() ? h00.clone().requires_grad_(true) : Tensor();
    Tensor c0 = c00.defined() ? c00.clone().requires_grad_(true) : Tensor();
    Result r = fn(x, h0, c0, lens);
    Tensor loss = (r.out.reshape(-1) * w_out).sum() + (r.h.reshape(-1) * w_h).sum();
    if (lstm) loss = loss + (r.c.reshape(-1) * w_c).sum();
    loss.backward();
    return Run{r, x.grad(), h0.defined() ? h0.grad() : Tensor(),
               c0.defined() ? c0.grad() : Tensor()};
  };
  Run b = run(p.run_builtin);
  Run m = run(p.run_custom);

  const bool f32 = c.dtype == torch::kFloat;
  const double tol_val = f32 ? 1e-5 : 1e-10, tol_grad = f32 ? 1e-4 : 1e-10;
  ASSERT_EQ(m.r.out.sizes(), b.r.out.sizes());
  ASSERT_EQ(m.r.h.sizes(), b.r.h.sizes());
  EXPECT_EQ(m.r.out.scalar_type(), c.dtype);
  EXPECT_LE(noted_diff(m.r.out, b.r.out, f32, false), tol_val) << "output";
  EXPECT_LE(noted_diff(m.r.h, b.r.h, f32, false), tol_val) << "h_n";
  if (lstm) {
    ASSERT_EQ(m.r.c.sizes(), b.r.c.sizes());
    EXPECT_LE(noted_diff(m.r.c, b.r.c, f32, false), tol_val) << "c_n";
  }
  EXPECT_LE(noted_diff(m.gx, b.gx, f32, true), tol_grad) << "grad of input";
  if (c.initial_state) {
    EXPECT_LE(noted_diff(m.gh0, b.gh0, f32, true), tol_grad) << "grad of h0";
    if (lstm) {
      EXPECT_LE(noted_diff(m.gc0, b.gc0, f32, true), tol_grad) << "grad of c0";
    }
  }
  auto bp = p.builtin->named_parameters();
  for (auto& q : p.custom->named_parameters()) {
    ASSERT_TRUE(q.value().grad().defined()) << q.key();
    EXPECT_LE(noted_diff(q.value().grad(), bp[q.key()].grad(), f32, true), tol_grad)
        << "grad of " << q.key();
  }
}

TEST_P(LayerParity, OutputsStatesAndGradientsMatchTorch) {
  const auto& [type, dtype] = GetParam();
  for (int64_t layers : {1, 2})
    for (bool bi : {false, true})
      for (bool bf : {false, true})
        for (bool len : {false, true}) {
          // an initial state on half of the combinations
          const Case c{type, layers, bi, bf, len, bf != len, dtype};
          SCOPED_TRACE(case_name(c));
          check_parity(c);
        }
}

INSTANTIATE_TEST_SUITE_P(Matrix, LayerParity,
                         testing::Combine(testing::Values("rnn_tanh", "rnn_relu", "lstm",
                                                          "lstm_proj", "gru"),
                                          testing::Values(torch::kFloat, torch::kDouble)),
                         [](const testing::TestParamInfo<LayerParity::ParamType>& info) {
                           return std::get<0>(info.param) +
                                  (std::get<1>(info.param) == torch::kFloat ? "_float" : "_double");
                         });

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ cell parity ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

TEST(CellParity, MatchesTorchCells) {
  torch::manual_seed(2);
  const auto x = torch::randn({3, 5});
  const auto h = torch::randn({3, 4});
  const auto c = torch::randn({3, 4});
  for (bool relu : {false, true}) {
    torch::nn::RNNCellOptions::nonlinearity_t bact = torch::kTanh;
    RNNCellOptions::nonlinearity_t act = torch::kTanh;
    if (relu) {
      bact = torch::kReLU;
      act = torch::kReLU;
    }
    torch::nn::RNNCell b(torch::nn::RNNCellOptions(5, 4).nonlinearity(bact));
    RNNCell m(RNNCellOptions(5, 4).nonlinearity(act));
    copy_by_name(*b, *m);
    EXPECT_LE(max_abs_diff(m(x, h), b(x, h)), 1e-6);
    EXPECT_LE(max_abs_diff(m(x), b(x)), 1e-6);
  }
  {
    torch::nn::LSTMCell b(5, 4);
    LSTMCell m(5, 4);
    copy_by_name(*b, *m);
    auto [hb, cb] = b(x, std::make_tuple(h, c));
    auto [hm, cm] = m(x, std::make_tuple(h, c));
    EXPECT_LE(max_abs_diff(hm, hb), 1e-6);
    EXPECT_LE(max_abs_diff(cm, cb), 1e-6);
  }
  {
    torch::nn::GRUCell b(5, 4);
    GRUCell m(5, 4);
    copy_by_name(*b, *m);
    EXPECT_LE(max_abs_diff(m(x, h), b(x, h)), 1e-6);
  }
  {
    torch::nn::GRUCell b(torch::nn::GRUCellOptions(5, 4).bias(false));
    GRUCell m(GRUCellOptions(5, 4).bias(false));
    copy_by_name(*b, *m);
    EXPECT_LE(max_abs_diff(m(x, h), b(x, h)), 1e-6);
  }
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~ finite differences ~~~~~~~~~~~~~~~~~~~~~~~~~~

// Central-difference gradient check in double precision: for every element e
// of every tensor in `inputs`, (f(e + eps) - f(e - eps)) / 2eps must match the
// autograd gradient of the scalar f.
void expect_gradcheck(const std::function<Tensor()>& f, std::vector<Tensor> inputs,
                      const std::string& what) {
  for (auto& t : inputs) {
    ASSERT_EQ(t.scalar_type(), torch::kDouble) << what;
    if (t.grad().defined()) t.mutable_grad().zero_();
  }
  f().backward();
  const double eps = 1e-5;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor t = inputs[k];
    Tensor analytic = t.grad().clone();
    Tensor flat = t.detach().view(-1);  // shares storage with t
    double worst = 0;
    for (int64_t e = 0; e < flat.numel(); ++e) {
      const double v = flat[e].item<double>();
      double f_plus, f_minus;
      {
        torch::NoGradGuard no_grad;
        flat[e] = v + eps;
        f_plus = f().item<double>();
        flat[e] = v - eps;
        f_minus = f().item<double>();
        flat[e] = v;
      }
      const double numeric = (f_plus - f_minus) / (2 * eps);
      const double a = analytic.view(-1)[e].item<double>();
      worst = std::max(worst, std::abs(numeric - a) / (1e-1 + std::abs(a)));
    }
    EXPECT_LE(worst, 1e-5) << what << ": input " << k;
  }
}

TEST(GradCheck, Cells) {
  torch::manual_seed(3);
  const auto d = torch::kDouble;
  auto x = torch::randn({2, 3}, d).requires_grad_(true);
  auto h = torch::randn({2, 4}, d).requires_grad_(true);
  auto c = torch::randn({2, 4}, d).requires_grad_(true);
  auto w = torch::randn({2, 4}, d);
  for (bool relu : {false, true}) {
    RNNCellOptions::nonlinearity_t act = torch::kTanh;
    if (relu) act = torch::kReLU;
    RNNCell cell(RNNCellOptions(3, 4).nonlinearity(act));
    cell->to(d);
    auto inputs = cell->parameters();
    inputs.push_back(x);
    inputs.push_back(h);
    expect_gradcheck([&] { return (cell(x, h) * w).sum(); }, inputs,
                     relu ? "RNNCell relu" : "RNNCell tanh");
  }
  {
    LSTMCell cell(3, 4);
    cell->to(d);
    auto inputs = cell->parameters();
    inputs.insert(inputs.end(), {x, h, c});
    expect_gradcheck(
        [&] {
          auto [h1, c1] = cell(x, std::make_tuple(h, c));
          return (h1 * w).sum() + (c1 * w * w).sum();
        },
        inputs, "LSTMCell");
  }
  {
    GRUCell cell(3, 4);
    cell->to(d);
    auto inputs = cell->parameters();
    inputs.insert(inputs.end(), {x, h});
    expect_gradcheck([&] { return (cell(x, h) * w).sum(); }, inputs, "GRUCell");
  }
}

TEST(GradCheck, LayerNormLayersWithLengths) {
  torch::manual_seed(4);
  const auto d = torch::kDouble;
  auto x = torch::randn({4, 2, 3}, d).requires_grad_(true);
  const auto lens = torch::tensor({4, 2}, torch::kInt64);
  {
    LSTM lstm(LSTMOptions(3, 4).layer_norm(true).bidirectional(true).proj_size(2));
    lstm->to(d);
    {
      // move the layer-norm gains and shifts off their initial 1 and 0
      torch::NoGradGuard no_grad;
      for (auto& p : lstm->parameters()) p.add_(torch::rand_like(p) * 0.2);
    }
    auto w = torch::randn({4, 2, 4}, d);
    auto inputs = lstm->parameters();
    inputs.push_back(x);
    expect_gradcheck(
        [&] {
          auto [out, hc] = lstm->forward(x, {}, lens);
          return (out * w).sum() + std::get<1>(hc).sum();
        },
        inputs, "LSTM layer_norm");
  }
  {
    GRU gru(GRUOptions(3, 4).layer_norm(true));
    gru->to(d);
    auto w = torch::randn({4, 2, 4}, d);
    auto inputs = gru->parameters();
    inputs.push_back(x);
    expect_gradcheck([&] { return (std::get<0>(gru->forward(x, {}, lens)) * w).sum(); }, inputs,
                     "GRU layer_norm");
  }
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ fused scan ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// Runs f with the fused scan on or off, restoring the default afterwards.
template <typename F>
auto with_fused(bool on, F&& f) {
  detail::set_fused_scan_enabled(on);
  auto result = f();
  detail::set_fused_scan_enabled(true);
  return result;
}

// Builds a double-precision training-mode stack of `type` with recurrent dropout.
// "lstm_ln" is the layer-normalised LSTM, its norms' weights drawn at random
// (their initial 1 and 0 would hide a wrong gradient).
std::shared_ptr<torch::nn::Module> make_stack(const std::string& type, bool bias) {
  if (type == "lstm" || type == "lstm_ln") {
    LSTM lstm(LSTMOptions(3, 5)
                  .num_layers(2)
                  .bidirectional(true)
                  .bias(bias)
                  .recurrent_dropout(0.3)
                  .layer_norm(type == "lstm_ln"));
    torch::NoGradGuard no_grad;
    for (auto& p : lstm->named_parameters())
      if (p.key().rfind("ln_", 0) == 0) p.value().uniform_(0.5, 1.5);
    return lstm.ptr();
  }
  if (type == "gru") {
    return GRU(GRUOptions(3, 5).num_layers(2).bidirectional(true).bias(bias).recurrent_dropout(0.3))
        .ptr();
  }
  RNNOptions::nonlinearity_t act = torch::kTanh;
  if (type == "rnn_relu") act = torch::kReLU;
  return RNN(RNNOptions(3, 5)
                 .num_layers(2)
                 .bidirectional(true)
                 .bias(bias)
                 .nonlinearity(act)
                 .recurrent_dropout(0.3))
      .ptr();
}

// Output, h_n, c_n of any stack, with the dropout masks drawn from seed 11.
Result run_stack(torch::nn::Module& m, const std::string& type, const Tensor& x, const Tensor& h0,
                 const Tensor& c0, const Tensor& lens) {
  torch::manual_seed(11);
  if (type == "lstm" || type == "lstm_ln") {
    auto [out, hc] = dynamic_cast<LSTMImpl&>(m).forward(x, std::make_tuple(h0, c0), lens);
    return {out, std::get<0>(hc), std::get<1>(hc)};
  }
  if (type == "gru") {
    auto [out, h] = dynamic_cast<GRUImpl&>(m).forward(x, h0, lens);
    return {out, h, {}};
  }
  auto [out, h] = dynamic_cast<RNNImpl&>(m).forward(x, h0, lens);
  return {out, h, {}};
}

TEST(FusedScan, MatchesStepByStepWithDropoutAndLengths) {
  // The fused scan (one autograd node, hand-written BPTT) against the
  // step-by-step autograd path, everything else equal: 2 layers, both
  // directions, recurrent dropout, with and without lengths and biases.
  for (std::string type : {"rnn_tanh", "rnn_relu", "lstm", "lstm_ln", "gru"}) {
    for (bool bias : {true, false}) {
      for (bool use_lengths : {false, true}) {
        const std::string what = type + (bias ? "" : " no bias") + (use_lengths ? " lengths" : "");
        torch::manual_seed(10);
        auto m = make_stack(type, bias);
        m->to(torch::kDouble);
        m->train();
        const auto d = torch::kDouble;
        const Tensor x = torch::randn({6, 3, 3}, d);
        const Tensor h0 = torch::randn({4, 3, 5}, d), c0 = torch::randn({4, 3, 5}, d);
        const Tensor lens = use_lengths ? torch::tensor({6, 2, 4}, torch::kInt64) : Tensor();
        const Tensor w = torch::randn({6, 3, 10}, d);
        std::vector<std::vector<Tensor>> grads;
        std::vector<Result> results;
        for (bool fused : {true, false}) {
          auto xs = x.clone().requires_grad_(true), hs = h0.clone().requires_grad_(true),
               cs = c0.clone().requires_grad_(true);
          for (auto& p : m->parameters()) p.mutable_grad() = Tensor();
          Result r = with_fused(fused, [&] { return run_stack(*m, type, xs, hs, cs, lens); });
          Tensor loss = (r.out * w).sum() + (r.h * r.h).sum();
          if (r.c.defined()) loss = loss + (r.c * r.c * r.c).sum();
          loss.backward();
          std::vector<Tensor> g{xs.grad(), hs.grad()};
          if (r.c.defined()) g.push_back(cs.grad());
          for (auto& p : m->parameters()) g.push_back(p.grad());
          grads.push_back(g);
          results.push_back(r);
        }
        EXPECT_LE(max_abs_diff(results[0].out, results[1].out), 1e-12) << what;
        EXPECT_LE(max_abs_diff(results[0].h, results[1].h), 1e-12) << what;
        if (results[0].c.defined()) {
          EXPECT_LE(max_abs_diff(results[0].c, results[1].c), 1e-12) << what;
        }
        ASSERT_EQ(grads[0].size(), grads[1].size());
        for (size_t k = 0; k < grads[0].size(); ++k) {
          ASSERT_TRUE(grads[0][k].defined() && grads[1][k].defined()) << what << " grad " << k;
          EXPECT_LE(max_abs_diff(grads[0][k], grads[1][k]), 1e-10) << what << " grad " << k;
        }
      }
    }
  }
}

TEST(FusedScan, GradCheck) {
  // finite differences through the fused layers themselves (bidirectional,
  // recurrent dropout with a fixed mask)
  torch::manual_seed(12);
  const auto d = torch::kDouble;
  auto x = torch::randn({4, 2, 3}, d).requires_grad_(true);
  auto h0 = torch::randn({4, 2, 5}, d).requires_grad_(true);
  auto c0 = torch::randn({4, 2, 5}, d).requires_grad_(true);
  const auto w = torch::randn({4, 2, 10}, d);
  for (std::string type : {"rnn_tanh", "rnn_relu", "lstm", "lstm_ln", "gru"}) {
    auto m = make_stack(type, true);
    m->to(d);
    m->train();
    auto inputs = m->parameters();
    inputs.insert(inputs.end(), {x, h0});
    if (type != "gru" && type.rfind("rnn", 0) != 0) inputs.push_back(c0);
    expect_gradcheck(
        [&] {
          Result r = run_stack(*m, type, x, h0, c0, {});
          Tensor loss = (r.out * w).sum() + r.h.sum();
          return r.c.defined() ? loss + (r.c * r.c).sum() : loss;
        },
        inputs, type + " fused");
  }
}

TEST(FusedScan, ForwardWithoutGradientMatches) {
  // Evaluation under NoGradGuard runs the fused scan with one step's gate
  // buffers reused, and sequences of more than 64 steps in chunks of 64 with
  // the state carried: the same outputs and states as the recorded forward
  // and as the step-by-step path, no graph. Both directions, with lengths
  // (the reverse direction reindexed) and without (walked backwards).
  for (std::string type : {"rnn_tanh", "lstm", "lstm_ln", "gru"}) {
    for (int64_t T : {7, 150}) {
      for (bool use_lengths : {false, true}) {
        const std::string what = type + " T=" + std::to_string(T) + (use_lengths ? " lengths" : "");
        torch::manual_seed(13);
        auto m = make_stack(type, true);
        m->to(torch::kDouble);
        m->train();  // the recurrent dropout masks too
        const auto d = torch::kDouble;
        const Tensor x = torch::randn({T, 3, 3}, d);
        const Tensor h0 = torch::randn({4, 3, 5}, d), c0 = torch::randn({4, 3, 5}, d);
        const Tensor lens =
            use_lengths ? torch::tensor({T, int64_t{2}, T - 3}, torch::kInt64) : Tensor();
        const Result recorded = run_stack(*m, type, x, h0, c0, lens);
        ASSERT_TRUE(recorded.out.requires_grad()) << what;
        Result no_grad, reference;
        {
          torch::NoGradGuard guard;
          no_grad = run_stack(*m, type, x, h0, c0, lens);
          reference = with_fused(false, [&] { return run_stack(*m, type, x, h0, c0, lens); });
        }
        EXPECT_FALSE(no_grad.out.requires_grad()) << what;
        for (const Result& r : {recorded, reference}) {
          EXPECT_LE(max_abs_diff(no_grad.out, r.out), 1e-12) << what;
          EXPECT_LE(max_abs_diff(no_grad.h, r.h), 1e-12) << what;
          if (r.c.defined()) {
            EXPECT_LE(max_abs_diff(no_grad.c, r.c), 1e-12) << what;
          }
        }
      }
    }
  }
}

TEST(FusedScan, UsedWhereItApplies) {
  // The fused path leaves one custom node where the step-by-step path stacks
  // per-step outputs; the layer-normalised LSTM has its own fused node, GRU
  // and RNN layer_norm and proj_size take the step-by-step path.
  const auto x = torch::randn({5, 2, 3});
  auto grad_fn = [&](LSTMOptions o, bool fused) {
    LSTM lstm(o);
    return with_fused(fused, [&] { return std::get<0>(lstm(x)).grad_fn()->name(); });
  };
  EXPECT_NE(grad_fn(LSTMOptions(3, 4), true), "StackBackward0");
  EXPECT_EQ(grad_fn(LSTMOptions(3, 4), false), "StackBackward0");
  EXPECT_NE(grad_fn(LSTMOptions(3, 4).layer_norm(true), true), "StackBackward0");
  EXPECT_NE(grad_fn(LSTMOptions(3, 4).layer_norm(true), true), grad_fn(LSTMOptions(3, 4), true));
  EXPECT_EQ(grad_fn(LSTMOptions(3, 4).layer_norm(true), false), "StackBackward0");
  EXPECT_EQ(grad_fn(LSTMOptions(3, 4).proj_size(2), true), "StackBackward0");
  GRU gru(GRUOptions(3, 4).layer_norm(true));
  EXPECT_EQ(std::get<0>(gru(x)).grad_fn()->name(), "StackBackward0");
}

// A timing, not a check (tests never fail on timings): forward + backward of
// one layer-normalised LSTM layer at permuted MNIST's shape (784 steps of 1
// pixel, batch 100, 128 units), fused scan against the step-by-step path, one
// after the other in this process, best of 3 each. Run it alone, with
// --gtest_also_run_disabled_tests --gtest_filter='FusedScan.DISABLED_*'.
TEST(FusedScan, DISABLED_TimeLayerNormLstm) {
  // as the apps do (apps/framework/app.cpp): freed memory stays in the process
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  torch::manual_seed(1);
  at::set_num_threads(1);
  const auto x = torch::rand({784, 100, 1});
  LSTM lstm(LSTMOptions(1, 128).layer_norm(true));
  auto seconds = [&](bool fused) {
    double best = 1e30;
    for (int r = 0; r < 3; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      with_fused(fused, [&] {
        auto out = std::get<0>(lstm(x));
        out.select(0, 783).sum().backward();
        return 0;
      });
      best = std::min(best,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  seconds(true);  // warm-up
  const double fused = seconds(true), steps = seconds(false);
  std::printf(
      "layer-normalised LSTM, T 784, B 100, H 128, one thread: fused %.3f s, "
      "step by step %.3f s, ratio %.2f\n",
      fused, steps, fused / steps);
}

TEST(FusedScan, DoubleBackwardIsAClearError) {
  // The hand-written backward has no derivative of its own: create_graph must
  // fail loudly there, and work on the step-by-step path.
  torch::manual_seed(2);
  const auto x = torch::randn({5, 2, 3}, torch::requires_grad());
  GRU gru(GRUOptions(3, 4));
  auto second_order = [&] {
    auto y = std::get<0>(gru(x));
    auto g = torch::autograd::grad({y.pow(2).sum()}, {x}, {}, /*retain_graph=*/true,
                                   /*create_graph=*/true);
    return torch::autograd::grad({g[0].pow(2).sum()}, {x})[0];
  };
  try {
    with_fused(true, second_order);
    ADD_FAILURE() << "double backward through the fused scan did not throw";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no second derivative"), std::string::npos) << e.what();
  }
  detail::set_fused_scan_enabled(true);
  EXPECT_GT(with_fused(false, second_order).abs().sum().item<double>(), 0);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ extras ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

TEST(Extras, LayerNormLSTMMatchesReference) {
  // one layer, written out step by step from the equations in rnn.h
  torch::manual_seed(5);
  LSTM lstm(LSTMOptions(3, 4).layer_norm(true));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : lstm->parameters()) p.add_(torch::rand_like(p) * 0.2);
  }
  auto P = lstm->named_parameters();
  const auto x = torch::randn({5, 2, 3});
  auto h = torch::zeros({2, 4}), c = torch::zeros({2, 4});
  std::vector<Tensor> outs;
  for (int64_t t = 0; t < 5; ++t) {
    auto gates = torch::layer_norm(torch::mm(x[t], P["weight_ih_l0"].t()), {16}, P["ln_ih_l0"]) +
                 torch::layer_norm(torch::mm(h, P["weight_hh_l0"].t()), {16}, P["ln_hh_l0"]) +
                 P["bias_ih_l0"] + P["bias_hh_l0"];
    auto g = gates.chunk(4, 1);
    c = g[1].sigmoid() * c + g[0].sigmoid() * g[2].tanh();
    h = g[3].sigmoid() * torch::layer_norm(c, {4}, P["ln_c_weight_l0"], P["ln_c_bias_l0"]).tanh();
    outs.push_back(h);
  }
  auto [out, hc] = lstm(x);
  EXPECT_LE(max_abs_diff(out, torch::stack(outs)), 1e-5);
  EXPECT_LE(max_abs_diff(std::get<1>(hc)[0], c), 1e-5);
}

TEST(Extras, LayerNormChangesOutputKeepsShapes) {
  torch::manual_seed(6);
  const auto x = torch::randn({6, 3, 5});
  const auto lens = torch::tensor({6, 4, 2}, torch::kInt64);
  for (const char* type : {"lstm", "gru", "rnn"}) {
    std::shared_ptr<torch::nn::Module> plain, normed;
    std::function<Tensor(torch::nn::Module&)> run;
    if (std::string(type) == "lstm") {
      plain = LSTM(LSTMOptions(5, 4).num_layers(2).bidirectional(true)).ptr();
      normed = LSTM(LSTMOptions(5, 4).num_layers(2).bidirectional(true).layer_norm(true)).ptr();
      run = [&](torch::nn::Module& m) {
        return std::get<0>(dynamic_cast<LSTMImpl&>(m).forward(x, {}, lens));
      };
    } else if (std::string(type) == "gru") {
      plain = GRU(GRUOptions(5, 4).num_layers(2).bidirectional(true)).ptr();
      normed = GRU(GRUOptions(5, 4).num_layers(2).bidirectional(true).layer_norm(true)).ptr();
      run = [&](torch::nn::Module& m) {
        return std::get<0>(dynamic_cast<GRUImpl&>(m).forward(x, {}, lens));
      };
    } else {
      plain = RNN(RNNOptions(5, 4).num_layers(2).bidirectional(true)).ptr();
      normed = RNN(RNNOptions(5, 4).num_layers(2).bidirectional(true).layer_norm(true)).ptr();
      run = [&](torch::nn::Module& m) {
        return std::get<0>(dynamic_cast<RNNImpl&>(m).forward(x, {}, lens));
      };
    }
    // the torch-named parameters agree; the layer-norm ones come on top
    {
      torch::NoGradGuard no_grad;
      auto src = plain->named_parameters();
      for (auto& p : normed->named_parameters())
        if (src.contains(p.key())) p.value().copy_(src[p.key()]);
    }
    Tensor a = run(*plain), b = run(*normed);
    EXPECT_EQ(a.sizes(), b.sizes()) << type;
    EXPECT_GT(max_abs_diff(a, b), 1e-3) << type;
    b.sum().backward();
    for (auto& p : normed->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << type << " " << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << type << " " << p.key();
    }
  }
}

TEST(Extras, DropoutsOnlyInTraining) {
  torch::manual_seed(7);
  const auto x = torch::randn({6, 3, 5});
  LSTM lstm(LSTMOptions(5, 8).num_layers(2).dropout(0.5).recurrent_dropout(0.3));
  LSTM plain(LSTMOptions(5, 8).num_layers(2));
  copy_by_name(*lstm, *plain);
  // eval: deterministic and equal to no dropout at all
  lstm->eval();
  auto e1 = std::get<0>(lstm(x)), e2 = std::get<0>(lstm(x));
  EXPECT_TRUE(torch::equal(e1, e2));
  EXPECT_LE(max_abs_diff(e1, std::get<0>(plain(x))), 1e-6);
  // training: random, and gradients stay finite
  lstm->train();
  auto t1 = std::get<0>(lstm(x)), t2 = std::get<0>(lstm(x));
  EXPECT_GT(max_abs_diff(t1, t2), 1e-4);
  EXPECT_GT(max_abs_diff(t1, e1), 1e-4);
  t1.sum().backward();
  for (auto& p : lstm->parameters()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());

  // recurrent dropout alone, on a single layer (no between-layer dropout applies)
  GRU gru(GRUOptions(5, 8).recurrent_dropout(0.5));
  gru->train();
  EXPECT_GT(max_abs_diff(std::get<0>(gru(x)), std::get<0>(gru(x))), 1e-4);
  gru->eval();
  EXPECT_TRUE(torch::equal(std::get<0>(gru(x)), std::get<0>(gru(x))));
  // the first step sees h_0 = 0 whatever the mask: recurrent dropout cannot change it
  gru->train();
  EXPECT_LE(max_abs_diff(std::get<0>(gru(x))[0], std::get<0>(gru(x))[0]), 1e-7);
}

// Weight drop (DropConnect on W_hh, AWD-LSTM): in training the layer runs with
// W_hh * m / (1 - p) for one mask m per forward pass, drawn as
// torch::dropout draws it; in evaluation with W_hh itself. The parameter
// keeps torch's name and the gradient reaches it through the mask.
TEST(Extras, WeightDropRunsWithOneDroppedCopyOfWhh) {
  torch::manual_seed(11);
  const auto x = torch::randn({7, 3, 5});
  for (bool fused : {true, false}) {
    detail::set_fused_scan_enabled(fused);
    LSTM dropped(LSTMOptions(5, 8).weight_drop(0.4));
    LSTM manual(LSTMOptions(5, 8));
    copy_by_name(*dropped, *manual);
    dropped->train();
    torch::manual_seed(12);
    auto [out, hc] = dropped(x);
    {
      torch::NoGradGuard no_grad;
      torch::manual_seed(12);  // the same draw, done by hand
      Tensor w = manual->named_parameters()["weight_hh_l0"];
      w.copy_(torch::dropout(w, 0.4, true));
    }
    EXPECT_LE(max_abs_diff(out, std::get<0>(manual(x))), 1e-6) << fused;
    // gradient through the mask: zero where W_hh was dropped
    out.sum().backward();
    Tensor g = dropped->named_parameters()["weight_hh_l0"].grad();
    Tensor kept = manual->named_parameters()["weight_hh_l0"].detach() != 0;
    EXPECT_EQ(g.masked_select(kept.logical_not()).abs().max().item<float>(), 0.0f);
    EXPECT_GT(g.masked_select(kept).abs().max().item<float>(), 0.0f);
    // evaluation: W_hh undropped
    dropped->eval();
    LSTM plain(LSTMOptions(5, 8));
    copy_by_name(*dropped, *plain);
    EXPECT_TRUE(torch::equal(std::get<0>(dropped(x)), std::get<0>(plain(x))));
  }
  detail::set_fused_scan_enabled(true);
  EXPECT_THROW(RecurrentOptions(CellType::kLSTM, 5, 8)
                   .weight_drop(0.5)
                   .impl(Implementation::kBuiltin)
                   .validate("test"),
               std::invalid_argument);
}

// Locked dropout between layers: layer 2 reads layer 1's output times one
// (1, B, F) mask for every step, drawn as rnnlab::locked_dropout draws it.
TEST(Extras, LockedDropoutBetweenLayersSharesOneMaskOverTime) {
  const auto ones = torch::ones({9, 4, 50});
  torch::manual_seed(13);
  Tensor y = locked_dropout(ones, 0.3, true);
  for (int64_t t = 1; t < 9; ++t) EXPECT_TRUE(torch::equal(y[t], y[0]));
  const double zeros = (y[0] == 0).sum().item<double>() / y[0].numel();
  EXPECT_NEAR(zeros, 0.3, 0.08);
  EXPECT_NEAR(y.max().item<float>(), 1 / 0.7, 1e-6);
  EXPECT_TRUE(torch::equal(locked_dropout(ones, 0.3, false), ones));

  torch::manual_seed(14);
  const auto x = torch::randn({6, 3, 5});
  GRU two(GRUOptions(5, 8).num_layers(2).dropout(0.5).locked_dropout(true));
  GRU first(GRUOptions(5, 8)), second(GRUOptions(8, 8));
  {
    torch::NoGradGuard no_grad;
    auto p = two->named_parameters();
    for (const char* n : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
      first->named_parameters()[std::string(n) + "_l0"].copy_(p[std::string(n) + "_l0"]);
      second->named_parameters()[std::string(n) + "_l0"].copy_(p[std::string(n) + "_l1"]);
    }
  }
  two->train();
  torch::manual_seed(15);
  Tensor out = std::get<0>(two(x));
  torch::manual_seed(15);
  Tensor between = locked_dropout(std::get<0>(first(x)), 0.5, true);
  EXPECT_LE(max_abs_diff(out, std::get<0>(second(between))), 1e-6);
  EXPECT_THROW(GRU(GRUOptions(5, 8).num_layers(2).locked_dropout(true)), std::invalid_argument);
}

TEST(Extras, LengthsLeaveStateAloneAndZeroPadding) {
  torch::manual_seed(8);
  LSTM lstm(LSTMOptions(5, 4).bidirectional(true));
  auto x = torch::randn({6, 2, 5});
  const auto lens = torch::tensor({6, 3}, torch::kInt64);
  auto [out, hc] = lstm->forward(x, {}, lens);
  // padded outputs are zero
  EXPECT_EQ(out.slice(0, 3).select(1, 1).abs().max().item<float>(), 0.0f);
  // sequence 1 alone (cut to its length) gives the same outputs and state
  auto [out1, hc1] = lstm(x.slice(0, 0, 3).slice(1, 1, 2));
  EXPECT_LE(max_abs_diff(out.slice(0, 0, 3).slice(1, 1, 2), out1), 1e-6);
  EXPECT_LE(max_abs_diff(std::get<0>(hc).slice(1, 1, 2), std::get<0>(hc1)), 1e-6);
  EXPECT_LE(max_abs_diff(std::get<1>(hc).slice(1, 1, 2), std::get<1>(hc1)), 1e-6);
  // what sits in the padding does not matter
  auto y = x.clone();
  y.slice(0, 3).select(1, 1).fill_(100);
  EXPECT_TRUE(torch::equal(std::get<0>(lstm->forward(y, {}, lens)), out));
}

TEST(Extras, ReluStateHeldOverLongPadding) {
  // a relu RNN whose state triples per step would overflow within the 98 padded
  // steps if it ran on through them; outputs and gradients must stay finite
  RNN rnn(RNNOptions(2, 3).nonlinearity(torch::kReLU).bidirectional(true));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : rnn->parameters()) p.fill_(0.1);
    rnn->named_parameters()["weight_hh_l0"].copy_(torch::eye(3) * 3);
    rnn->named_parameters()["weight_hh_l0_reverse"].copy_(torch::eye(3) * 3);
  }
  auto x = torch::ones({100, 2, 2}, torch::requires_grad());
  auto [out, h] = rnn->forward(x, {}, torch::tensor({3, 2}));
  (out.sum() + h.sum()).backward();
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  for (auto& p : rnn->parameters()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
}

TEST(Extras, PackedSequenceInputMatchesTorch) {
  torch::manual_seed(9);
  torch::nn::GRU b(torch::nn::GRUOptions(5, 4).num_layers(2).bidirectional(true));
  GRU m(GRUOptions(5, 4).num_layers(2).bidirectional(true));
  copy_by_name(*b, *m);
  auto x = torch::randn({6, 3, 5});
  auto packed = rnn_utils::pack_padded_sequence(x, torch::tensor({4, 6, 2}), false, false);
  auto [pb, hb] = b->forward_with_packed_input(packed);
  auto [pm, hm] = m->forward_with_packed_input(packed);
  EXPECT_TRUE(torch::equal(pm.batch_sizes(), pb.batch_sizes()));
  EXPECT_TRUE(torch::equal(pm.sorted_indices(), pb.sorted_indices()));
  EXPECT_LE(max_abs_diff(pm.data(), pb.data()), 1e-5);
  EXPECT_LE(max_abs_diff(hm, hb), 1e-5);

  torch::nn::LSTM bl(torch::nn::LSTMOptions(5, 4));
  LSTM ml(LSTMOptions(5, 4));
  copy_by_name(*bl, *ml);
  auto [pbl, hcb] = bl->forward_with_packed_input(packed);
  auto [pml, hcm] = ml->forward_with_packed_input(packed);
  EXPECT_LE(max_abs_diff(pml.data(), pbl.data()), 1e-5);
  EXPECT_LE(max_abs_diff(std::get<1>(hcm), std::get<1>(hcb)), 1e-5);
}

TEST(Extras, RecordStates) {
  torch::manual_seed(10);
  LSTM lstm(LSTMOptions(5, 4).num_layers(2).bidirectional(true).proj_size(3).batch_first(true));
  auto x = torch::randn({2, 6, 5});  // (B, T, I)
  auto [out0, hc0] = lstm(x);
  EXPECT_TRUE(lstm->recorded_states().h.empty());
  lstm->set_record_states(true);
  auto [out, hc] = lstm->forward(x, {}, torch::tensor({6, 4}));
  const RecordedStates& rec = lstm->recorded_states();
  ASSERT_EQ(rec.h.size(), 2u);
  ASSERT_EQ(rec.c.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(rec.h[l].sizes(), (torch::IntArrayRef{6, 2, 6}));  // (T, B, out*D)
    EXPECT_EQ(rec.c[l].sizes(), (torch::IntArrayRef{6, 2, 8}));  // (T, B, hidden*D)
    EXPECT_FALSE(rec.h[l].requires_grad());
  }
  // the last layer's h is the output, time-major
  EXPECT_TRUE(torch::equal(rec.h[1], out.transpose(0, 1)));
  // forward c at sequence 1's last step (t = 3) is its c_n
  EXPECT_TRUE(torch::allclose(rec.c[1][3][1].slice(0, 0, 4), std::get<1>(hc)[2][1]));
  lstm->set_record_states(false);
  EXPECT_TRUE(lstm->recorded_states().h.empty());

  GRU gru(GRUOptions(5, 4));
  gru->set_record_states(true);
  gru(x.transpose(0, 1));
  ASSERT_EQ(gru->recorded_states().h.size(), 1u);
  EXPECT_EQ(gru->recorded_states().h[0].sizes(), (torch::IntArrayRef{6, 2, 4}));
  EXPECT_TRUE(gru->recorded_states().c.empty());
}

TEST(Extras, CloneAndInitLikeTorch) {
  // same seed, same registration order: the same initial weights as torch
  torch::manual_seed(11);
  torch::nn::LSTM b(torch::nn::LSTMOptions(5, 4).num_layers(2).bidirectional(true).proj_size(2));
  torch::manual_seed(11);
  LSTM m(LSTMOptions(5, 4).num_layers(2).bidirectional(true).proj_size(2));
  auto bp = b->named_parameters();
  auto mp = m->named_parameters();
  ASSERT_EQ(bp.keys(), mp.keys());
  for (auto& p : mp) EXPECT_TRUE(torch::equal(p.value(), bp[p.key()])) << p.key();

  auto copy = std::dynamic_pointer_cast<LSTMImpl>(m->clone());
  ASSERT_TRUE(copy);
  auto x = torch::randn({3, 2, 5});
  EXPECT_TRUE(torch::equal(std::get<0>(copy->forward(x)), std::get<0>(m(x))));
  {
    torch::NoGradGuard no_grad;
    copy->named_parameters()["weight_hh_l0"].add_(1);
  }
  EXPECT_FALSE(torch::equal(std::get<0>(copy->forward(x)), std::get<0>(m(x))));
}

TEST(Extras, CheckpointsMoveBetweenTorchAndOurs) {
  auto x = torch::randn({4, 2, 5});
  torch::nn::GRU theirs(torch::nn::GRUOptions(5, 3).num_layers(2).bidirectional(true));
  GRU ours(GRUOptions(5, 3).num_layers(2).bidirectional(true));
  std::stringstream buffer;
  torch::save(theirs, buffer);
  torch::load(ours, buffer);
  EXPECT_LE(max_abs_diff(std::get<0>(ours(x)), std::get<0>(theirs(x))), 1e-5);

  LSTM ours_lstm(LSTMOptions(5, 4).proj_size(2));
  torch::nn::LSTM theirs_lstm(torch::nn::LSTMOptions(5, 4).proj_size(2));
  std::stringstream buffer2;
  torch::save(ours_lstm, buffer2);
  torch::load(theirs_lstm, buffer2);
  EXPECT_LE(max_abs_diff(std::get<0>(ours_lstm(x)), std::get<0>(theirs_lstm(x))), 1e-5);
}

TEST(Extras, DefaultArgumentsThroughAnyModule) {
  // FORWARD_HAS_DEFAULT_ARGS lets AnyModule/Sequential call forward(x) alone
  auto x = torch::randn({4, 2, 5});
  torch::nn::AnyModule lstm(LSTM(LSTMOptions(5, 3)));
  auto [out, hc] = lstm.forward<std::tuple<Tensor, std::tuple<Tensor, Tensor>>>(x);
  EXPECT_EQ(out.sizes(), (torch::IntArrayRef{4, 2, 3}));
  torch::nn::AnyModule gru(GRU(GRUOptions(5, 3)));
  EXPECT_EQ(std::get<1>(gru.forward<std::tuple<Tensor, Tensor>>(x)).sizes(),
            (torch::IntArrayRef{1, 2, 3}));
  torch::nn::AnyModule cell(LSTMCell(5, 3));
  EXPECT_EQ(std::get<1>(cell.forward<std::tuple<Tensor, Tensor>>(x[0])).sizes(),
            (torch::IntArrayRef{2, 3}));
  torch::nn::AnyModule rnn_cell(RNNCell(5, 3));
  EXPECT_EQ(rnn_cell.forward(x[0]).sizes(), (torch::IntArrayRef{2, 3}));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ errors ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// Expects `f` to throw std::invalid_argument whose one-line message holds `part`.
void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << part << "'";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(Errors, BadShapesAndLengths) {
  LSTM lstm(LSTMOptions(5, 4).num_layers(2));
  GRU gru(GRUOptions(5, 4).batch_first(true));
  const auto x = torch::randn({6, 3, 5});
  expect_error([&] { lstm(torch::randn({6, 5})); }, "expected a 3-dim input (T, B, 5)");
  expect_error([&] { lstm(torch::randn({6, 3, 4})); }, "input_size 5");
  expect_error([&] { gru(torch::randn({3, 6})); }, "(B, T, 5)");
  expect_error(
      [&] {
        lstm(x, std::make_tuple(torch::zeros({1, 3, 4}), torch::zeros({2, 3, 4})));
      },
      "expected h0 of shape [2, 3, 4]");
  expect_error(
      [&] {
        lstm(x, std::make_tuple(torch::zeros({2, 3, 4}), torch::zeros({2, 3, 5})));
      },
      "expected c0 of shape [2, 3, 4]");
  expect_error([&] { gru(x.transpose(0, 1), torch::zeros({1, 6, 4})); }, "h0 of shape [1, 3, 4]");
  expect_error([&] { lstm->forward(x, {}, torch::tensor({6, 2})); }, "lengths of shape [3]");
  expect_error(
      [&] {
        lstm->forward(x, {}, torch::tensor({6, 0, 2}));
      },
      "lengths must lie in [1, T=6]");
  expect_error(
      [&] {
        lstm->forward(x, {}, torch::tensor({6, 7, 2}));
      },
      "lengths must lie in [1, T=6]");
  expect_error([&] { lstm->forward(x, {}, torch::tensor({6.0, 2.0, 1.0})); }, "integer");
  expect_error([&] { lstm(x.to(torch::kDouble)); }, "parameters are Float");
  expect_error([&] { LSTM(LSTMOptions(5, 4).proj_size(4)); }, "proj_size");
  expect_error([&] { RNN(RNNOptions(5, 4).recurrent_dropout(1.0)); }, "recurrent_dropout");
  LSTMCell cell(5, 4);
  expect_error([&] { cell(torch::randn({3, 5}, torch::kDouble)); }, "parameters are Float");
  expect_error([&] { cell(torch::randn({3, 6})); }, "expected input of shape (B, 5)");
  expect_error(
      [&] {
        cell(torch::randn({3, 5}), std::make_tuple(torch::zeros({3, 4}), torch::zeros({2, 4})));
      },
      "expected c of shape [3, 4]");
}

}  // namespace
}  // namespace rnnlab
