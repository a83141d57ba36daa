// word2vec: SkipGram, CBOW, the Huffman tree and the noise distribution; see
// modules/word2vec.h.
//
// Lookups use torch::embedding (optionally sparse); the loss is one batched
// product per output matrix: the B x (1+K) scores of negative sampling and the
// B x L scores of hierarchical softmax (L the longest code, shorter codes
// masked).
#include "modules/word2vec.h"

#include "modules/rnn.h"

#include <torch/autograd.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace rnnlab {

using torch::Tensor;

namespace {

std::string sizes_and_type(const Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream s;
  s << t.sizes() << " " << t.scalar_type();
  return s.str();
}

void check_counts(const std::string& who, const std::vector<int64_t>& counts) {
  for (size_t i = 0; i < counts.size(); ++i)
    detail::check(counts[i] >= 0, who,
                  "counts must be non-negative, got " + std::to_string(counts[i]) + " at word " +
                      std::to_string(i));
}

bool is_int64(const Tensor& t) {
  return t.defined() && t.scalar_type() == torch::kInt64;
}

// h = s * scale in the forward pass, dL/ds = dL/dh in the backward pass: word2vec.c's
// CBOW mean, which applies neu1e undivided to every context row.
struct ScaleForwardOnly : public torch::autograd::Function<ScaleForwardOnly> {
  static Tensor forward(torch::autograd::AutogradContext* /*ctx*/, const Tensor& s,
                        const Tensor& scale) {
    return s * scale;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* /*ctx*/,
                                                 torch::autograd::variable_list grad) {
    return {grad[0], Tensor()};
  }
};

}  // namespace

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ Huffman tree ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

HuffmanTree HuffmanTree::build(const std::vector<int64_t>& counts) {
  const std::string who = "rnnlab::HuffmanTree";
  const int64_t V = static_cast<int64_t>(counts.size());
  detail::check(V >= 2, who, "needs at least 2 words, got " + std::to_string(V));
  check_counts(who, counts);
  for (int64_t i = 1; i < V; ++i)
    detail::check(counts[i] <= counts[i - 1], who,
                  "counts must be sorted in descending order (word2vec.c's SortVocab), but word " +
                      std::to_string(i) + " has " + std::to_string(counts[i]) + " > " +
                      std::to_string(counts[i - 1]));

  // Nodes 0..V-1 are the words, V..2V-2 the merged nodes in creation order
  // (word2vec.c's count, binary, parent_node arrays; its 1e15 sentinel here is
  // the largest int64, never summed).
  std::vector<int64_t> count(2 * V, std::numeric_limits<int64_t>::max());
  std::vector<int8_t> binary(2 * V, 0);
  std::vector<int64_t> parent(2 * V, 0);
  std::copy(counts.begin(), counts.end(), count.begin());
  int64_t pos1 = V - 1, pos2 = V;
  // take the smaller of the next word (pos1, descending) and the next merged node
  // (pos2); a word only when strictly smaller
  auto take_min = [&]() {
    if (pos1 >= 0 && count[pos1] < count[pos2]) return pos1--;
    return pos2++;
  };
  for (int64_t a = 0; a < V - 1; ++a) {
    const int64_t min1 = take_min();
    const int64_t min2 = take_min();
    count[V + a] = count[min1] + count[min2];
    parent[min1] = V + a;
    parent[min2] = V + a;
    binary[min2] = 1;
  }

  // Walk each word up to the root (2V-2), then store the path root first; the
  // inner node of step d is the parent of the node at step d+1, numbered - V.
  HuffmanTree tree;
  tree.code.resize(V);
  tree.point.resize(V);
  int64_t L = 0;
  for (int64_t w = 0; w < V; ++w) {
    std::vector<int8_t> bits;
    std::vector<int64_t> nodes;  // the inner node each bit leaves from
    for (int64_t b = w; b != 2 * V - 2; b = parent[b]) {
      bits.push_back(binary[b]);
      nodes.push_back(parent[b] - V);
    }
    tree.code[w].assign(bits.rbegin(), bits.rend());
    tree.point[w].assign(nodes.rbegin(), nodes.rend());
    L = std::max<int64_t>(L, static_cast<int64_t>(bits.size()));
  }

  tree.codes = torch::zeros({V, L}, torch::kFloat);
  tree.points = torch::zeros({V, L}, torch::kInt64);
  tree.lengths = torch::zeros({V}, torch::kInt64);
  auto codes = tree.codes.accessor<float, 2>();
  auto points = tree.points.accessor<int64_t, 2>();
  auto lengths = tree.lengths.accessor<int64_t, 1>();
  for (int64_t w = 0; w < V; ++w) {
    lengths[w] = static_cast<int64_t>(tree.code[w].size());
    for (int64_t d = 0; d < lengths[w]; ++d) {
      codes[w][d] = tree.code[w][d];
      points[w][d] = tree.point[w][d];
    }
  }
  return tree;
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~ noise distribution ~~~~~~~~~~~~~~~~~~~~~~~~~~~

NoiseDistribution::NoiseDistribution(const std::vector<int64_t>& counts, double power) {
  const std::string who = "rnnlab::NoiseDistribution";
  detail::check(!counts.empty(), who, "counts are empty");
  check_counts(who, counts);
  detail::check(std::isfinite(power) && power >= 0, who,
                "power must be finite and non-negative, got " + std::to_string(power));
  // P(w) = count_w^power / sum_v count_v^power (a zero count stays at zero)
  probs_ = torch::empty({static_cast<int64_t>(counts.size())}, torch::kDouble);
  auto p = probs_.accessor<double, 1>();
  double z = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    p[i] = counts[i] > 0 ? std::pow(static_cast<double>(counts[i]), power) : 0.0;
    z += p[i];
  }
  detail::check(z > 0, who, "all counts are zero");
  probs_.div_(z);
}

Tensor NoiseDistribution::sample(torch::IntArrayRef shape,
                                 c10::optional<torch::Generator> generator) const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return torch::empty(shape, torch::kInt64);
  return torch::multinomial(probs_, n, /*replacement=*/true, generator).view(shape);
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ shared base ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

namespace detail {

template <typename Derived>
Word2VecImplBase<Derived>::Word2VecImplBase(const Word2VecOptions& options_, HuffmanTree tree_)
    : options(options_), tree(std::move(tree_)) {
  const std::string who = Derived::kName;
  detail::check(options.vocab_size() >= 1, who,
                "vocab_size must be positive, got " + std::to_string(options.vocab_size()));
  detail::check(options.dim() >= 1, who,
                "dim must be positive, got " + std::to_string(options.dim()));
  detail::check(options.negative() >= 0, who,
                "negative must be >= 0, got " + std::to_string(options.negative()));
  detail::check(options.negative() > 0 || options.hierarchical_softmax(), who,
                "no loss: set negative > 0 or hierarchical_softmax(true)");
  if (options.hierarchical_softmax()) {
    detail::check(tree.vocab_size() == options.vocab_size() && tree.codes.defined(), who,
                  "hierarchical_softmax needs the HuffmanTree of the " +
                      std::to_string(options.vocab_size()) + " words, got one of " +
                      std::to_string(tree.vocab_size()));
  } else {
    tree = HuffmanTree();
  }
}

template <typename Derived>
void Word2VecImplBase<Derived>::reset() {
  const int64_t V = options.vocab_size(), D = options.dim();
  input = this->register_parameter("input", torch::empty({V, D}));
  output =
      options.negative() > 0 ? this->register_parameter("output", torch::empty({V, D})) : Tensor();
  output_hs = options.hierarchical_softmax()
                  ? this->register_parameter("output_hs", torch::empty({V - 1, D}))
                  : Tensor();
  reset_parameters();
}

template <typename Derived>
void Word2VecImplBase<Derived>::reset_parameters() {
  torch::NoGradGuard no_grad;
  const double r = options.init_range() / static_cast<double>(options.dim());
  input.uniform_(-r, r);
  if (output.defined()) output.zero_();
  if (output_hs.defined()) output_hs.zero_();
}

template <typename Derived>
void Word2VecImplBase<Derived>::pretty_print(std::ostream& stream) const {
  stream << Derived::kName << "(vocab_size=" << options.vocab_size() << ", dim=" << options.dim()
         << ", negative=" << options.negative() << ", hierarchical_softmax=" << std::boolalpha
         << options.hierarchical_softmax() << ", init_range=" << options.init_range();
  if (std::is_same<Derived, CBOWImpl>::value) stream << ", cbow_mean=" << options.cbow_mean();
  if (options.sparse()) stream << ", sparse=true";
  stream << ")";
}

template <typename Derived>
void Word2VecImplBase<Derived>::check_targets(const Tensor& target, const Tensor& negatives) const {
  const std::string who = Derived::kName;
  detail::check(
      is_int64(target) && target.dim() == 1, who,
      "expected the predicted words as a (B) int64 tensor, got " + sizes_and_type(target));
  const int64_t B = target.size(0), K = options.negative();
  if (K > 0) {
    detail::check(is_int64(negatives) && negatives.dim() == 2 && negatives.size(0) == B &&
                      negatives.size(1) == K,
                  who,
                  "expected negatives of shape [" + std::to_string(B) + ", " + std::to_string(K) +
                      "] int64, got " + sizes_and_type(negatives));
  } else {
    detail::check(!negatives.defined() || negatives.numel() == 0, who,
                  "negative is 0 but negatives " + sizes_and_type(negatives) + " were given");
  }
}

template <typename Derived>
Tensor Word2VecImplBase<Derived>::loss(const Tensor& h, const Tensor& target,
                                       const Tensor& negatives, const Tensor& keep) const {
  // h is (B, D), target (B), negatives (B, K), keep (B); per-example loss (B) summed at the end
  namespace F = torch::nn::functional;
  const bool sparse = options.sparse();
  const int64_t B = h.size(0);
  Tensor per = torch::zeros({B}, h.options());

  if (options.hierarchical_softmax()) {
    // -sum_j log s((1 - 2 code_j) u_{point_j} . h) over the L_w steps of the target's path
    const Tensor codes = tree.codes.to(h.device(), h.scalar_type()).index_select(0, target);
    const Tensor points = tree.points.to(h.device()).index_select(0, target);  // (B, L)
    const Tensor lengths = tree.lengths.to(h.device()).index_select(0, target);
    const int64_t L = codes.size(1);
    const Tensor on = (torch::arange(L, target.options()).unsqueeze(0) < lengths.unsqueeze(1))
                          .to(h.scalar_type());                               // (B, L)
    const Tensor u = torch::embedding(output_hs, points, -1, false, sparse);  // (B, L, D)
    const Tensor f = (u * h.unsqueeze(1)).sum(2);                             // (B, L)
    per = per - (F::logsigmoid((1 - 2 * codes) * f) * on).sum(1);
  }

  if (options.negative() > 0) {
    // -log s(u_w . h) - sum_k [n_k != w] log s(-u_{n_k} . h)
    const Tensor targets = torch::cat({target.unsqueeze(1), negatives}, 1);  // (B, 1+K)
    Tensor sign = torch::full({1 + options.negative()}, -1.0, h.options());
    sign[0] = 1.0;
    // word2vec.c: `if (target == word) continue;`
    const Tensor on = torch::cat(
        {torch::ones({B, 1}, h.options()), (negatives != target.unsqueeze(1)).to(h.scalar_type())},
        1);                                                                 // (B, 1+K)
    const Tensor u = torch::embedding(output, targets, -1, false, sparse);  // (B, 1+K, D)
    // (a broadcast product and a sum: bmm of B tiny matrices is B BLAS calls)
    const Tensor f = (u * h.unsqueeze(1)).sum(2);  // (B, 1+K)
    per = per - (F::logsigmoid(sign * f) * on).sum(1);
  }

  if (keep.defined()) per = per * keep.to(h.scalar_type());
  return per.sum();
}

template class Word2VecImplBase<SkipGramImpl>;
template class Word2VecImplBase<CBOWImpl>;

}  // namespace detail

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ SkipGram ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

SkipGramImpl::SkipGramImpl(const Word2VecOptions& options_, HuffmanTree tree_)
    : Word2VecImplBase(options_, std::move(tree_)) {
  reset();
}

Tensor SkipGramImpl::forward(const Tensor& center, const Tensor& context, const Tensor& negatives) {
  // v = syn0[context] (B, D) predicts center (B): word2vec.c's l1 = last_word (the
  // context word), its targets word (the center) and the negatives (B, K)
  check_targets(center, negatives);
  detail::check(is_int64(context) && context.sizes() == center.sizes(), kName,
                "expected context of shape " + sizes_and_type(center) +
                    " int64 (like center), got " + sizes_and_type(context));
  const Tensor v = torch::embedding(input, context, -1, false, options.sparse());  // (B, D)
  return loss(v, center, negatives, {});
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~ CBOW ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~

CBOWImpl::CBOWImpl(const Word2VecOptions& options_, HuffmanTree tree_)
    : Word2VecImplBase(options_, std::move(tree_)) {
  reset();
}

Tensor CBOWImpl::forward(const Tensor& context, const Tensor& center, const Tensor& negatives) {
  // h = (1/n) sum_i syn0[c_i] (or the sum) over the n valid context words (B, D);
  // context (B, W) padded with -1, center (B), negatives (B, K)
  check_targets(center, negatives);
  detail::check(is_int64(context) && context.dim() == 2 && context.size(0) == center.size(0), kName,
                "expected context of shape [" + std::to_string(center.size(0)) +
                    ", W] int64 (padded with -1), got " + sizes_and_type(context));
  const Tensor valid = context >= 0;  // (B, W)
  const Tensor rows = torch::embedding(input, context.clamp_min(0), -1, false, options.sparse());
  const Tensor s = (rows * valid.unsqueeze(2).to(rows.scalar_type())).sum(1);  // (B, D)
  const Tensor n = valid.sum(1);                                               // (B)
  Tensor h = s;
  if (options.cbow_mean()) {
    // forward: s / n; backward: dL/dh to every row undivided, as word2vec.c's neu1e
    const Tensor scale = 1.0 / n.clamp_min(1).to(s.scalar_type()).unsqueeze(1);
    h = ScaleForwardOnly::apply(s, scale);
  }
  // word2vec.c skips a window without context words (cw == 0)
  return loss(h, center, negatives, n > 0);
}

}  // namespace rnnlab
