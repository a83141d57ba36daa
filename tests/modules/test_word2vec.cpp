// Tests of word2vec (modules/word2vec.h): the Huffman tree against a hand-built
// one and the Huffman optimum, the noise distribution, the losses against loops
// written from word2vec.c, finite-difference gradients, word2vec.c's SGD update,
// and a tiny corpus of two word groups that must separate.
#include "modules/word2vec.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnnlab {
namespace {

using torch::Tensor;
using Matrix = std::vector<std::vector<double>>;

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// A parameter as rows of doubles.
Matrix to_matrix(const Tensor& t) {
  Tensor c = t.detach().to(torch::kDouble).contiguous();
  Matrix m(c.size(0), std::vector<double>(c.size(1)));
  auto a = c.accessor<double, 2>();
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m[i][j] = a[i][j];
  return m;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs_diff_to_matrix(const Tensor& a, const Matrix& b) {
  Matrix m = to_matrix(a);
  double d = 0;
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m[i].size(); ++j) d = std::max(d, std::abs(m[i][j] - b[i][j]));
  return d;
}

Tensor longs(std::vector<int64_t> v) {
  return torch::tensor(v, torch::kInt64);
}
Tensor longs2(std::vector<std::vector<int64_t>> rows) {
  std::vector<Tensor> r;
  for (auto& row : rows) r.push_back(longs(row));
  return torch::stack(r);
}

// Random values in every parameter (output and output_hs start at zero).
template <typename M>
void randomize(M& model, double scale = 0.5) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.copy_(torch::randn_like(p) * scale);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ Huffman tree ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// counts 5, 4, 3, 2, 1 by hand, following CreateBinaryTree (words 0-4, merged
// nodes 5-8 = inner nodes 0-3, pos1 walking down from word 4, pos2 up from node 5;
// a word wins only when strictly smaller; min2 gets bit 1):
//   a=0: word 4 (1) < sentinel -> min1 = 4; word 3 (2) -> min2 = 3:  node 5 = 3, bit[3] = 1
//   a=1: word 2 (3) < node 5 (3)? no -> min1 = 5; word 2 (3) < sentinel -> min2 = 2:
//        node 6 = 6, bit[2] = 1
//   a=2: word 1 (4) < node 6 (6) -> min1 = 1; word 0 (5) < 6 -> min2 = 0: node 7 = 9, bit[0] = 1
//   a=3: no words left: min1 = 6, min2 = 7: node 8 = 15 (root), bit[7] = 1
// Root first (inner node = node - 5, root 3):
//   word 0: 8 -1-> 7 -1-> 0          code {1, 1},    point {3, 2}
//   word 1: 8 -1-> 7 -0-> 1          code {1, 0},    point {3, 2}
//   word 2: 8 -0-> 6 -1-> 2          code {0, 1},    point {3, 1}
//   word 3: 8 -0-> 6 -0-> 5 -1-> 3   code {0, 0, 1}, point {3, 1, 0}
//   word 4: 8 -0-> 6 -0-> 5 -0-> 4   code {0, 0, 0}, point {3, 1, 0}
TEST(HuffmanTree, HandWorkedExample) {
  auto tree = HuffmanTree::build({5, 4, 3, 2, 1});
  const std::vector<std::vector<int8_t>> code = {{1, 1}, {1, 0}, {0, 1}, {0, 0, 1}, {0, 0, 0}};
  const std::vector<std::vector<int64_t>> point = {{3, 2}, {3, 2}, {3, 1}, {3, 1, 0}, {3, 1, 0}};
  EXPECT_EQ(tree.vocab_size(), 5);
  EXPECT_EQ(tree.code, code);
  EXPECT_EQ(tree.point, point);
  // padded tensors
  ASSERT_EQ(tree.codes.sizes(), torch::IntArrayRef({5, 3}));
  EXPECT_EQ(tree.codes.scalar_type(), torch::kFloat);
  EXPECT_EQ(tree.points.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(tree.lengths, longs({2, 2, 2, 3, 3})));
  EXPECT_TRUE(torch::equal(tree.codes, torch::tensor({1.f, 1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 1.f, 0.f,
                                                      0.f, 0.f, 1.f, 0.f, 0.f, 0.f})
                                           .view({5, 3})));
  EXPECT_TRUE(
      torch::equal(tree.points, longs2({{3, 2, 0}, {3, 2, 0}, {3, 1, 0}, {3, 1, 0}, {3, 1, 0}})));
}

// Zipf-like, flat, ties and two-word vocabularies.
std::vector<std::vector<int64_t>> count_cases() {
  std::vector<int64_t> zipf;
  for (int64_t r = 1; r <= 200; ++r) zipf.push_back(100000 / r);
  return {zipf, std::vector<int64_t>(37, 7), {9, 9, 9, 2, 2, 1, 1, 1}, {3, 1}, {1, 1}};
}

TEST(HuffmanTree, PrefixFreeKraftAndInnerNodes) {
  for (const auto& counts : count_cases()) {
    auto tree = HuffmanTree::build(counts);
    const int64_t V = static_cast<int64_t>(counts.size());
    double kraft = 0;
    for (int64_t w = 0; w < V; ++w) {
      ASSERT_FALSE(tree.code[w].empty());
      ASSERT_EQ(tree.code[w].size(), tree.point[w].size());
      kraft += std::ldexp(1.0, -static_cast<int>(tree.code[w].size()));
      EXPECT_EQ(tree.point[w][0], V - 2) << "the root comes first";
      for (int64_t p : tree.point[w]) EXPECT_TRUE(p >= 0 && p <= V - 2) << p;
      for (int64_t v = 0; v < V; ++v) {
        if (v == w || tree.code[v].size() < tree.code[w].size()) continue;
        EXPECT_FALSE(std::equal(tree.code[w].begin(), tree.code[w].end(), tree.code[v].begin()))
            << "code of " << w << " is a prefix of the code of " << v;
      }
    }
    EXPECT_NEAR(kraft, 1.0, 1e-12) << "V=" << V;
  }
}

// The optimal expected length: the sum of the weights of all merges.
int64_t huffman_cost(const std::vector<int64_t>& counts) {
  std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> q(counts.begin(),
                                                                              counts.end());
  int64_t cost = 0;
  while (q.size() > 1) {
    const int64_t a = q.top();
    q.pop();
    const int64_t b = q.top();
    q.pop();
    cost += a + b;
    q.push(a + b);
  }
  return cost;
}

TEST(HuffmanTree, ExpectedLengthIsOptimal) {
  auto cases = count_cases();
  cases.push_back({5, 4, 3, 2, 1});  // 33 = 3 + 6 + 9 + 15 by hand
  for (const auto& counts : cases) {
    auto tree = HuffmanTree::build(counts);
    int64_t total = 0;
    for (size_t w = 0; w < counts.size(); ++w)
      total += counts[w] * static_cast<int64_t>(tree.code[w].size());
    EXPECT_EQ(total, huffman_cost(counts)) << "V=" << counts.size();
  }
  EXPECT_EQ(huffman_cost({5, 4, 3, 2, 1}), 33);
}

TEST(HuffmanTree, RejectsBadCounts) {
  EXPECT_THROW(HuffmanTree::build({1, 2, 3}), std::invalid_argument);  // ascending
  EXPECT_THROW(HuffmanTree::build({3, 1, 2}), std::invalid_argument);
  EXPECT_THROW(HuffmanTree::build({3, -1}), std::invalid_argument);
  EXPECT_THROW(HuffmanTree::build({3}), std::invalid_argument);
  EXPECT_NO_THROW(HuffmanTree::build({3, 3, 0}));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~ noise distribution ~~~~~~~~~~~~~~~~~~~~~~~~~~~

// 625^0.75 = 125, 81^0.75 = 27, 16^0.75 = 8, 1^0.75 = 1: Z = 161.
TEST(NoiseDistribution, ProbabilitiesAreUnigramToThe075) {
  NoiseDistribution noise({625, 81, 16, 1, 0});
  ASSERT_EQ(noise.vocab_size(), 5);
  const std::vector<double> expected = {125 / 161., 27 / 161., 8 / 161., 1 / 161., 0};
  for (int64_t i = 0; i < 5; ++i)
    EXPECT_NEAR(noise.probs()[i].item<double>(), expected[i], 1e-15) << i;
  NoiseDistribution flat({625, 81}, 0.0);
  EXPECT_NEAR(flat.probs()[0].item<double>(), 0.5, 1e-15);
  EXPECT_THROW(NoiseDistribution({}), std::invalid_argument);
  EXPECT_THROW(NoiseDistribution({0, 0}), std::invalid_argument);
  EXPECT_THROW(NoiseDistribution({4, -1}), std::invalid_argument);
}

TEST(NoiseDistribution, EmpiricalFrequenciesOver200kDraws) {
  NoiseDistribution noise({625, 81, 16, 1, 0});
  auto gen = at::detail::createCPUGenerator(1234);
  const int64_t N = 200000;
  Tensor draws = noise.sample({N / 4, 4}, gen);
  ASSERT_EQ(draws.sizes(), torch::IntArrayRef({N / 4, 4}));
  ASSERT_EQ(draws.scalar_type(), torch::kInt64);
  Tensor counts = torch::bincount(draws.flatten(), {}, 5).to(torch::kDouble);
  EXPECT_EQ(counts[4].item<double>(), 0) << "a zero count is never drawn";
  // chi-square with 3 degrees of freedom: P(X > 16.27) = 0.001
  double chi2 = 0;
  for (int64_t i = 0; i < 4; ++i) {
    const double e = N * noise.probs()[i].item<double>();
    chi2 += std::pow(counts[i].item<double>() - e, 2) / e;
  }
  EXPECT_LT(chi2, 16.27);
  // the same seed gives the same draws; another seed others
  Tensor again = noise.sample({N / 4, 4}, at::detail::createCPUGenerator(1234));
  Tensor other = noise.sample({N / 4, 4}, at::detail::createCPUGenerator(4321));
  EXPECT_TRUE(torch::equal(draws, again));
  EXPECT_FALSE(torch::equal(draws, other));
  EXPECT_EQ(noise.sample({0, 5}).numel(), 0);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~ loop references ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// The loss of one example with hidden vector h, written from word2vec.c's loops:
// HS over the target's path (g = 1 - code - f  <=>  -log s((1 - 2 code) u.h)),
// NS over the target (label 1) and the negatives (label 0) that differ from it.
double reference_loss(const std::vector<double>& h, int64_t target,
                      const std::vector<int64_t>& negatives, const Matrix* syn1neg,
                      const Matrix* syn1, const HuffmanTree* tree) {
  double loss = 0;
  if (syn1) {
    for (size_t d = 0; d < tree->code[target].size(); ++d) {
      const double f = sigmoid(dot(h, (*syn1)[tree->point[target][d]]));
      loss -= tree->code[target][d] ? std::log(1 - f) : std::log(f);
    }
  }
  if (syn1neg) {
    loss -= std::log(sigmoid(dot(h, (*syn1neg)[target])));
    for (int64_t n : negatives)
      if (n != target) loss -= std::log(sigmoid(-dot(h, (*syn1neg)[n])));
  }
  return loss;
}

std::vector<int64_t> row(const Tensor& t, int64_t b) {
  Tensor r = t[b].contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

// The configurations of the loss: NS, HS, both.
struct LossCase {
  int64_t negative;
  bool hs;
};
const std::vector<LossCase> kLossCases = {{3, false}, {0, true}, {2, true}};
const std::vector<int64_t> kCounts = {9, 7, 5, 5, 3, 2, 1};  // V = 7

Word2VecOptions word2vec_options_for(const LossCase& c, int64_t dim = 4) {
  return Word2VecOptions(static_cast<int64_t>(kCounts.size()), dim)
      .negative(c.negative)
      .hierarchical_softmax(c.hs);
}

std::string case_str(const LossCase& c) {
  return "negative=" + std::to_string(c.negative) + " hs=" + std::to_string(c.hs);
}

TEST(SkipGram, LossMatchesWord2VecLoops) {
  torch::manual_seed(0);
  auto tree = HuffmanTree::build(kCounts);
  for (const auto& c : kLossCases) {
    SkipGram model(word2vec_options_for(c), tree);
    model->to(torch::kDouble);
    randomize(model);
    Tensor center = longs({0, 3, 6, 2}), context = longs({1, 1, 5, 2});
    Tensor negatives =
        c.negative ? longs2({{4, 5, 0}, {2, 6, 3}, {1, 1, 0}, {3, 4, 5}}).narrow(1, 0, c.negative)
                   : Tensor();
    const double loss = model(center, context, negatives).item<double>();
    const Matrix syn0 = to_matrix(model->input);
    Matrix syn1neg, syn1;
    if (c.negative) syn1neg = to_matrix(model->output);
    if (c.hs) syn1 = to_matrix(model->output_hs);
    double expected = 0;
    for (int64_t b = 0; b < 4; ++b)
      expected += reference_loss(syn0[context[b].item<int64_t>()], center[b].item<int64_t>(),
                                 c.negative ? row(negatives, b) : std::vector<int64_t>{},
                                 c.negative ? &syn1neg : nullptr, c.hs ? &syn1 : nullptr, &tree);
    EXPECT_NEAR(loss, expected, 1e-12) << case_str(c);
  }
}

TEST(CBOW, LossMatchesWord2VecLoops) {
  torch::manual_seed(1);
  auto tree = HuffmanTree::build(kCounts);
  for (bool mean : {true, false}) {
    for (const auto& c : kLossCases) {
      CBOW model(word2vec_options_for(c).cbow_mean(mean), tree);
      model->to(torch::kDouble);
      randomize(model);
      // row 1 padded, row 2 repeats a word, row 3 has no context word (skipped)
      Tensor context = longs2({{1, 2, 4, 5}, {0, -1, 6, -1}, {3, 3, 1, 2}, {-1, -1, -1, -1}});
      Tensor center = longs({3, 2, 0, 5});
      Tensor negatives =
          c.negative ? longs2({{4, 5, 0}, {2, 6, 3}, {1, 1, 0}, {3, 4, 6}}).narrow(1, 0, c.negative)
                     : Tensor();
      const double loss = model(context, center, negatives).item<double>();
      const Matrix syn0 = to_matrix(model->input);
      Matrix syn1neg, syn1;
      if (c.negative) syn1neg = to_matrix(model->output);
      if (c.hs) syn1 = to_matrix(model->output_hs);
      double expected = 0;
      for (int64_t b = 0; b < 4; ++b) {
        std::vector<double> h(4, 0.0);
        int cw = 0;
        for (int64_t w : row(context, b)) {
          if (w < 0) continue;
          for (int j = 0; j < 4; ++j) h[j] += syn0[w][j];
          ++cw;
        }
        if (cw == 0) continue;
        if (mean)
          for (double& x : h) x /= cw;
        expected += reference_loss(h, center[b].item<int64_t>(),
                                   c.negative ? row(negatives, b) : std::vector<int64_t>{},
                                   c.negative ? &syn1neg : nullptr, c.hs ? &syn1 : nullptr, &tree);
      }
      EXPECT_NEAR(loss, expected, 1e-12) << case_str(c) << " mean=" << mean;
    }
  }
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ gradients ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// Autograd's gradient of every parameter against central differences (double);
// `scale(name)` is what the autograd gradient of that parameter should be times
// the true one (1, or n for CBOW's word2vec.c mean).
template <typename M>
void check_gradients(M& model, const std::function<Tensor()>& loss_fn, const std::string& what,
                     const std::function<double(const std::string&)>& scale) {
  model->zero_grad();
  loss_fn().backward();
  const double eps = 1e-6;
  for (auto& p : model->named_parameters()) {
    const std::string name = p.key();
    Tensor param = p.value();
    ASSERT_TRUE(param.grad().defined()) << what << " " << name;
    Tensor analytic = param.grad().clone();
    Tensor numeric = torch::zeros_like(param);
    torch::NoGradGuard no_grad;
    auto flat = param.view({-1});
    auto num = numeric.view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double x = flat[i].item<double>();
      flat[i] = x + eps;
      const double up = loss_fn().item<double>();
      flat[i] = x - eps;
      const double down = loss_fn().item<double>();
      flat[i] = x;
      num[i] = (up - down) / (2 * eps);
    }
    const double err = (analytic - numeric * scale(name)).abs().max().item<double>();
    EXPECT_LT(err, 1e-7) << what << " " << name;
    EXPECT_GT(numeric.abs().max().item<double>(), 1e-3) << what << " " << name << " is flat";
  }
}

TEST(SkipGram, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  auto tree = HuffmanTree::build(kCounts);
  for (const auto& c : kLossCases) {
    SkipGram model(word2vec_options_for(c), tree);
    model->to(torch::kDouble);
    randomize(model);
    // every word appears, with repeats, and negative 2 of row 1 equals its center
    Tensor center = longs({0, 3, 6, 2, 5, 4, 1});
    Tensor context = longs({1, 1, 5, 2, 0, 6, 3});
    Tensor negatives =
        longs2({{4, 5, 3}, {2, 3, 0}, {1, 1, 6}, {3, 4, 2}, {0, 6, 1}, {2, 6, 4}, {5, 0, 2}})
            .narrow(1, 0, c.negative);
    check_gradients(
        model, [&] { return model(center, context, c.negative ? negatives : Tensor()); },
        "skip-gram " + case_str(c), [](const std::string&) { return 1.0; });
  }
}

TEST(CBOW, GradientsMatchFiniteDifferences) {
  torch::manual_seed(3);
  auto tree = HuffmanTree::build(kCounts);
  for (const auto& c : kLossCases) {
    // sum: the true gradient, with padding, a repeated word and an empty window
    CBOW sum(word2vec_options_for(c).cbow_mean(false), tree);
    sum->to(torch::kDouble);
    randomize(sum);
    Tensor context = longs2({{1, 2, 4}, {0, -1, 6}, {3, 3, 1}, {-1, -1, -1}, {5, 6, 0}});
    Tensor center = longs({3, 2, 0, 5, 4});
    Tensor negatives =
        longs2({{4, 5, 3}, {2, 6, 1}, {1, 1, 0}, {3, 4, 2}, {1, 2, 4}}).narrow(1, 0, c.negative);
    check_gradients(
        sum, [&] { return sum(context, center, c.negative ? negatives : Tensor()); },
        "cbow sum " + case_str(c), [](const std::string&) { return 1.0; });

    // mean: every window has n = 3 words, so syn0's gradient is 3 times the true one
    // (word2vec.c applies neu1e undivided); the output gradients are the true ones
    CBOW mean(word2vec_options_for(c).cbow_mean(true), tree);
    mean->to(torch::kDouble);
    randomize(mean);
    Tensor full = longs2({{1, 2, 4}, {0, 3, 6}, {3, 3, 1}, {5, 6, 0}});
    Tensor center4 = center.narrow(0, 0, 4), negatives4 = negatives.narrow(0, 0, 4);
    check_gradients(
        mean, [&] { return mean(full, center4, c.negative ? negatives4 : Tensor()); },
        "cbow mean " + case_str(c),
        [](const std::string& name) { return name == "input" ? 3.0 : 1.0; });
  }
}

// A negative equal to the predicted word is skipped (word2vec.c: `if (target ==
// word) continue;`): the loss and gradients equal those without it.
TEST(SkipGram, NegativeEqualToTargetIsSkipped) {
  torch::manual_seed(4);
  SkipGram three(Word2VecOptions(7, 4).negative(3));
  SkipGram one(Word2VecOptions(7, 4).negative(1));
  three->to(torch::kDouble);
  randomize(three);
  one->to(torch::kDouble);
  {
    torch::NoGradGuard no_grad;
    one->input.copy_(three->input);
    one->output.copy_(three->output);
  }
  Tensor center = longs({2, 5}), context = longs({4, 4});
  Tensor l3 = three(center, context, longs2({{2, 6, 2}, {5, 5, 1}}));
  Tensor l1 = one(center, context, longs2({{6}, {1}}));
  EXPECT_NEAR(l3.item<double>(), l1.item<double>(), 1e-14);
  l3.backward();
  l1.backward();
  EXPECT_TRUE(torch::allclose(three->input.grad(), one->input.grad(), 0, 1e-14));
  EXPECT_TRUE(torch::allclose(three->output.grad(), one->output.grad(), 0, 1e-14));
  // a negative that differs from the center does count
  Tensor l3_other = three(center, context, longs2({{3, 6, 3}, {0, 0, 1}}));
  EXPECT_GT(std::abs(l3_other.item<double>() - l1.item<double>()), 1e-3);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~ word2vec.c's SGD update ~~~~~~~~~~~~~~~~~~~~~~~~

// word2vec.c's training of one hidden vector h against `target`, as in its
// TrainModelThread: HS then NS, each g = (label - f) * alpha, neu1e += g * syn1_row,
// syn1_row += g * h. Returns neu1e (added to syn0 by the caller).
std::vector<double> word2vec_c_update(const std::vector<double>& h, int64_t target,
                                      const std::vector<int64_t>& negatives, double alpha,
                                      Matrix& syn1neg, Matrix& syn1, const HuffmanTree& tree) {
  std::vector<double> neu1e(h.size(), 0.0);
  for (size_t d = 0; d < tree.code[target].size(); ++d) {
    auto& u = syn1[tree.point[target][d]];
    const double f = sigmoid(dot(h, u));
    const double g = (1 - tree.code[target][d] - f) * alpha;
    for (size_t c = 0; c < h.size(); ++c) neu1e[c] += g * u[c];
    for (size_t c = 0; c < h.size(); ++c) u[c] += g * h[c];
  }
  for (size_t d = 0; d < negatives.size() + 1; ++d) {
    int64_t t = target;
    double label = 1;
    if (d > 0) {
      t = negatives[d - 1];
      if (t == target) continue;
      label = 0;
    }
    auto& u = syn1neg[t];
    const double g = (label - sigmoid(dot(h, u))) * alpha;
    for (size_t c = 0; c < h.size(); ++c) neu1e[c] += g * u[c];
    for (size_t c = 0; c < h.size(); ++c) u[c] += g * h[c];
  }
  return neu1e;
}

TEST(SkipGram, OneSgdStepIsWord2VecCUpdate) {
  torch::manual_seed(5);
  auto tree = HuffmanTree::build(kCounts);
  const double alpha = 0.025;
  SkipGram model(Word2VecOptions(7, 5).negative(4).hierarchical_softmax(true), tree);
  model->to(torch::kDouble);
  randomize(model);
  Matrix syn0 = to_matrix(model->input), syn1neg = to_matrix(model->output),
         syn1 = to_matrix(model->output_hs);
  // one pair: context word 2 (syn0 row) predicts center word 4; negative 4 is skipped
  const int64_t center = 4, context = 2;
  const std::vector<int64_t> negatives = {1, 4, 6, 2};
  auto neu1e = word2vec_c_update(syn0[context], center, negatives, alpha, syn1neg, syn1, tree);
  for (size_t c = 0; c < neu1e.size(); ++c) syn0[context][c] += neu1e[c];

  torch::optim::SGD sgd(model->parameters(), alpha);
  sgd.zero_grad();
  model(longs({center}), longs({context}), longs(negatives).unsqueeze(0)).backward();
  sgd.step();
  EXPECT_LT(max_abs_diff_to_matrix(model->input, syn0), 1e-14);
  EXPECT_LT(max_abs_diff_to_matrix(model->output, syn1neg), 1e-14);
  EXPECT_LT(max_abs_diff_to_matrix(model->output_hs, syn1), 1e-14);
  EXPECT_GT(std::abs(neu1e[0]), 1e-4) << "the step must move syn0";
}

TEST(CBOW, OneSgdStepIsWord2VecCUpdate) {
  torch::manual_seed(6);
  auto tree = HuffmanTree::build(kCounts);
  const double alpha = 0.05;
  CBOW model(Word2VecOptions(7, 5).negative(3).hierarchical_softmax(true), tree);
  model->to(torch::kDouble);
  randomize(model);
  Matrix syn0 = to_matrix(model->input), syn1neg = to_matrix(model->output),
         syn1 = to_matrix(model->output_hs);
  // window: 1, 5, 5 (a repeated word gets neu1e twice), one padded slot; center 3
  const std::vector<int64_t> context = {1, 5, -1, 5};
  const int64_t center = 3;
  const std::vector<int64_t> negatives = {0, 3, 6};
  std::vector<double> neu1(5, 0.0);
  for (int64_t w : context)
    if (w >= 0)
      for (int c = 0; c < 5; ++c) neu1[c] += syn0[w][c] / 3;
  auto neu1e = word2vec_c_update(neu1, center, negatives, alpha, syn1neg, syn1, tree);
  for (int64_t w : context)
    if (w >= 0)
      for (int c = 0; c < 5; ++c) syn0[w][c] += neu1e[c];  // undivided, as word2vec.c

  torch::optim::SGD sgd(model->parameters(), alpha);
  sgd.zero_grad();
  model(longs(context).unsqueeze(0), longs({center}), longs(negatives).unsqueeze(0)).backward();
  sgd.step();
  EXPECT_LT(max_abs_diff_to_matrix(model->input, syn0), 1e-14);
  EXPECT_LT(max_abs_diff_to_matrix(model->output, syn1neg), 1e-14);
  EXPECT_LT(max_abs_diff_to_matrix(model->output_hs, syn1), 1e-14);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ learning ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

// Mean cosine similarity of the word vectors within groups {0..4}, {5..9} and between.
std::pair<double, double> group_similarity(const Tensor& vectors) {
  Tensor v = torch::nn::functional::normalize(vectors.detach(),
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
  Tensor sim = v.matmul(v.t());
  double within = 0, between = 0;
  int nw = 0, nb = 0;
  for (int64_t i = 0; i < 10; ++i)
    for (int64_t j = i + 1; j < 10; ++j) {
      const double s = sim[i][j].item<double>();
      if (i / 5 == j / 5) {
        within += s;
        ++nw;
      } else {
        between += s;
        ++nb;
      }
    }
  return {within / nw, between / nb};
}

// A corpus of two disjoint groups: words 0-4 co-occur only with each other, 5-9 too.
// Context words are drawn uniformly from the center's group, the center included: a
// context that always left the center out would tell the center apart, and the models
// would learn "the word missing from the context", which pulls a group's vectors apart
// (CBOW's within-group similarity ended below zero that way).
// `in_group(w, k)`: the word k places after w in w's group (k = 0: w itself).
Tensor in_group(const Tensor& w, const Tensor& k) {
  return w.div(5, "floor") * 5 + (w % 5 + k) % 5;
}

TEST(Word2Vec, SkipGramSeparatesTwoWordGroups) {
  torch::manual_seed(7);
  auto gen = at::detail::createCPUGenerator(7);
  const int64_t B = 16;
  SkipGram model(Word2VecOptions(10, 16).negative(5));
  NoiseDistribution noise(std::vector<int64_t>(10, 100));
  torch::optim::SGD sgd(model->parameters(), 0.05);
  const auto before = group_similarity(model->input_vectors());
  for (int step = 0; step < 300; ++step) {
    Tensor center = torch::randint(0, 10, {B}, torch::kInt64);
    Tensor context = in_group(center, torch::randint(0, 5, {B}, torch::kInt64));
    sgd.zero_grad();
    model(center, context, noise.sample({B, 5}, gen)).backward();
    sgd.step();
  }
  const auto [within, between] = group_similarity(model->input_vectors());
  EXPECT_GT(within, between + 0.3) << "within " << within << " between " << between
                                   << " (before: " << before.first << " / " << before.second << ")";
}

TEST(Word2Vec, CBOWSeparatesTwoWordGroups) {
  torch::manual_seed(8);
  const int64_t B = 16;
  CBOW model(Word2VecOptions(10, 16).negative(0).hierarchical_softmax(true),
             HuffmanTree::build(std::vector<int64_t>(10, 100)));
  torch::optim::SGD sgd(model->parameters(), 0.05);
  for (int step = 0; step < 300; ++step) {
    Tensor center = torch::randint(0, 10, {B}, torch::kInt64);
    // four words of the center's group, one slot padded at random
    Tensor context =
        in_group(center.unsqueeze(1).expand({B, 4}), torch::randint(0, 5, {B, 4}, torch::kInt64));
    context.scatter_(1, torch::randint(0, 4, {B, 1}, torch::kInt64), -1);
    sgd.zero_grad();
    model(context, center).backward();
    sgd.step();
  }
  const auto [within, between] = group_similarity(model->input_vectors());
  EXPECT_GT(within, between + 0.3) << "within " << within << " between " << between;
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ the modules ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

TEST(Word2Vec, ParametersInitialisationAndPrinting) {
  auto tree = HuffmanTree::build(kCounts);
  SkipGram ns(Word2VecOptions(7, 8));
  EXPECT_EQ(ns->named_parameters().keys(), std::vector<std::string>({"input", "output"}));
  EXPECT_LE(ns->input.abs().max().item<double>(), 0.5 / 8);
  EXPECT_GT(ns->input.abs().max().item<double>(), 0.25 / 8);
  EXPECT_EQ(ns->output.abs().max().item<double>(), 0);
  EXPECT_TRUE(ns->input_vectors().is_same(ns->input));
  SkipGram wide(Word2VecOptions(7, 8).init_range(1.0));  // gensim's and fastText's range
  EXPECT_LE(wide->input.abs().max().item<double>(), 1.0 / 8);
  EXPECT_GT(wide->input.abs().max().item<double>(), 0.5 / 8);
  CBOW hs(Word2VecOptions(7, 8).negative(0).hierarchical_softmax(true), tree);
  EXPECT_EQ(hs->named_parameters().keys(), std::vector<std::string>({"input", "output_hs"}));
  EXPECT_EQ(hs->output_hs.sizes(), torch::IntArrayRef({6, 8}));
  CBOW both(Word2VecOptions(7, 8).hierarchical_softmax(true), tree);
  EXPECT_EQ(both->named_parameters().size(), 3u);

  std::ostringstream s;
  s << *ns << " " << *hs;
  EXPECT_EQ(s.str(),
            "rnnlab::SkipGram(vocab_size=7, dim=8, negative=5, hierarchical_softmax=false, "
            "init_range=0.5) rnnlab::CBOW(vocab_size=7, dim=8, negative=0, "
            "hierarchical_softmax=true, init_range=0.5, cbow_mean=true)");

  // a clone keeps the tree and copies the parameters
  auto copy = std::dynamic_pointer_cast<CBOWImpl>(both->clone());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(torch::equal(copy->input, both->input));
  EXPECT_FALSE(copy->input.is_same(both->input));
  EXPECT_EQ(copy->tree.code, both->tree.code);
}

TEST(Word2Vec, SparseGradientsEqualDense) {
  torch::manual_seed(9);
  auto tree = HuffmanTree::build(kCounts);
  auto opts = Word2VecOptions(7, 4).negative(2).hierarchical_softmax(true);
  CBOW dense(opts, tree), sparse(Word2VecOptions(opts).sparse(true), tree);
  randomize(dense);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : sparse->named_parameters()) p.value().copy_(dense->named_parameters()[p.key()]);
  }
  Tensor context = longs2({{1, 2, -1}, {3, 3, 0}}), center = longs({4, 6}),
         negatives = longs2({{0, 5}, {6, 1}});
  dense(context, center, negatives).backward();
  sparse(context, center, negatives).backward();
  for (auto& p : sparse->named_parameters()) {
    ASSERT_TRUE(p.value().grad().is_sparse()) << p.key();
    EXPECT_TRUE(torch::allclose(p.value().grad().to_dense(),
                                dense->named_parameters()[p.key()].grad(), 1e-6, 1e-7))
        << p.key();
  }
}

TEST(Word2Vec, RejectsBadOptionsAndInputs) {
  auto tree = HuffmanTree::build(kCounts);
  EXPECT_THROW(SkipGram(Word2VecOptions(7, 4).negative(0)), std::invalid_argument);  // no loss
  EXPECT_THROW(SkipGram(Word2VecOptions(7, 4).hierarchical_softmax(true)),
               std::invalid_argument);  // no tree
  EXPECT_THROW(CBOW(Word2VecOptions(8, 4).hierarchical_softmax(true), tree),
               std::invalid_argument);  // tree of another vocabulary
  EXPECT_THROW(CBOW(Word2VecOptions(7, 0)), std::invalid_argument);

  SkipGram model(Word2VecOptions(7, 4).negative(2));
  Tensor c = longs({1, 2});
  EXPECT_THROW(model(c, c), std::invalid_argument);                                  // no negatives
  EXPECT_THROW(model(c, c, longs2({{1, 2, 3}, {1, 2, 3}})), std::invalid_argument);  // K != 2
  EXPECT_THROW(model(c, longs({1, 2, 3}), longs2({{1, 2}, {1, 2}})), std::invalid_argument);
  EXPECT_THROW(model(c.to(torch::kInt32), c, longs2({{1, 2}, {1, 2}})), std::invalid_argument);
  CBOW cbow(Word2VecOptions(7, 4).negative(2));
  EXPECT_THROW(cbow(c, c, longs2({{1, 2}, {1, 2}})), std::invalid_argument);  // context 1-dim
  try {
    model(c, c);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("rnnlab::SkipGram: expected negatives of shape [2, 2]"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace rnnlab
