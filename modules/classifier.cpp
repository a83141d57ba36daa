// The recurrent sentence classifier (see classifier.h).
#include "modules/classifier.h"

#include <torch/nn/init.h>

#include <limits>
#include <stdexcept>

namespace rnnlab {

namespace {

void check_classifier(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("SentenceClassifier: " + message);
}

std::string shape(const torch::Tensor& t) {
  if (!t.defined()) return "an undefined tensor";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "] " + std::string(c10::toString(t.scalar_type()));
}

}  // namespace

SentenceClassifierImpl::SentenceClassifierImpl(SentenceClassifierOptions options_)
    : options(std::move(options_)) {
  reset();
}

void SentenceClassifierImpl::reset() {
  const auto& o = options;
  check_classifier(o.vocab_size() >= 2 && o.embedding_dim() >= 1 && o.num_classes() >= 2,
                   "vocab_size >= 2, embedding_dim >= 1 and num_classes >= 2 are required");
  const std::string& p = o.pooling();
  check_classifier(p == "last" || p == "mean" || p == "max" || p == "attention",
                   "pooling must be last, mean, max or attention, got '" + p + "'");
  const int64_t input = o.embedding_dim() * (o.two_channels() ? 2 : 1);
  check_classifier(o.rnn().input_size() == input,
                   "the encoder's input_size is " + std::to_string(o.rnn().input_size()) +
                       ", the embedding gives " + std::to_string(input));
  check_classifier(!(o.two_channels() && o.freeze_embedding()),
                   "two_channels already has a frozen channel; freeze_embedding would freeze both");
  check_classifier(
      o.fixed_words() >= 0 && o.fixed_words() <= o.vocab_size() - 2,
      "fixed_words must be in [0, vocab_size - 2] (padding and one trained word stay)");
  const int64_t trained = o.vocab_size() - o.fixed_words();  // rows of the tables

  // Word vectors ~ U(-0.25, 0.25) (Kim 2014's unknown words), padding row zero.
  auto make_embedding = [&](const char* name, bool frozen) {
    auto e = register_module(
        name, torch::nn::Embedding(
                  torch::nn::EmbeddingOptions(trained, o.embedding_dim()).padding_idx(0)));
    torch::NoGradGuard no_grad;
    e->weight.uniform_(-0.25, 0.25);
    e->weight[0].zero_();
    e->weight.set_requires_grad(!frozen);
    return e;
  };
  embedding = make_embedding("embedding", o.freeze_embedding());
  if (o.two_channels()) static_embedding = make_embedding("static_embedding", true);
  // The fixed words start random too, until load_embedding gives them their vectors.
  fixed_vectors = register_buffer(
      "fixed_vectors", torch::empty({o.fixed_words(), o.embedding_dim()}).uniform_(-0.25, 0.25));
  encoder = register_module("encoder", Recurrent(o.rnn()));
  const int64_t D = encoder->output_size();
  if (p == "attention") {
    attention_proj = register_module("attention_proj", torch::nn::Linear(D, D));
    attention_score = register_module(
        "attention_score", torch::nn::Linear(torch::nn::LinearOptions(D, 1).bias(false)));
  }
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  output = register_module("output", torch::nn::Linear(D, o.num_classes()));
}

void SentenceClassifierImpl::pretty_print(std::ostream& stream) const {
  stream << "rnnlab::SentenceClassifier(vocab_size=" << options.vocab_size()
         << ", embedding_dim=" << options.embedding_dim()
         << ", num_classes=" << options.num_classes() << ", pooling=" << options.pooling()
         << ", dropout=" << options.dropout() << ", freeze_embedding=" << std::boolalpha
         << options.freeze_embedding() << ", two_channels=" << options.two_channels();
  if (options.fixed_words() > 0) stream << ", fixed_words=" << options.fixed_words();
  stream << ")";
}

void SentenceClassifierImpl::load_embedding(const torch::Tensor& vectors,
                                            const std::vector<bool>& covered) {
  check_classifier(vectors.dim() == 2 && vectors.size(0) == options.vocab_size() &&
                       vectors.size(1) == options.embedding_dim() &&
                       static_cast<int64_t>(covered.size()) == options.vocab_size(),
                   "load_embedding expects vectors [" + std::to_string(options.vocab_size()) +
                       ", " + std::to_string(options.embedding_dim()) +
                       "] and one flag per word, got " + shape(vectors));
  torch::NoGradGuard no_grad;
  torch::Tensor src = vectors.to(embedding->weight.dtype());
  const int64_t trained = options.vocab_size() - options.fixed_words();
  for (int64_t i = 1; i < options.vocab_size(); ++i) {
    if (!covered[static_cast<size_t>(i)]) continue;
    if (i >= trained) {
      fixed_vectors[i - trained].copy_(src[i]);
      continue;
    }
    embedding->weight[i].copy_(src[i]);
    if (static_embedding) static_embedding->weight[i].copy_(src[i]);
  }
}

torch::Tensor SentenceClassifierImpl::lookup(torch::nn::Embedding& table,
                                             const torch::Tensor& tokens) {
  if (options.fixed_words() == 0) return table(tokens);
  // x = E[w] for w < V_trained; fixed_vectors[w - V_trained] for the others,
  // whose table lookup reads the zero padding row (and gives it no gradient).
  const int64_t trained = table->weight.size(0);
  torch::Tensor fixed = tokens >= trained;                // (T, B)
  torch::Tensor x = table(tokens.masked_fill(fixed, 0));  // (T, B, E)
  torch::Tensor rows = (tokens - trained).clamp_min(0).flatten();
  torch::Tensor f = fixed_vectors.index_select(0, rows).view_as(x);  // (T, B, E)
  return x + f * fixed.unsqueeze(2).to(f.scalar_type());
}

torch::Tensor SentenceClassifierImpl::forward(const torch::Tensor& tokens,
                                              const torch::Tensor& lengths) {
  check_classifier(tokens.dim() == 2 && tokens.scalar_type() == torch::kLong,
                   "expected tokens (T, B) int64, got " + shape(tokens));
  const int64_t T = tokens.size(0), B = tokens.size(1);
  check_classifier(
      lengths.dim() == 1 && lengths.size(0) == B && lengths.scalar_type() == torch::kLong,
      "expected lengths (" + std::to_string(B) + ") int64, got " + shape(lengths));
  check_classifier(
      B == 0 || (lengths.min().item<int64_t>() >= 1 && lengths.max().item<int64_t>() <= T),
      "every length must be in [1, " + std::to_string(T) + "]");

  // x = E[w] (T, B, E), or [E_static[w]; E[w]] (T, B, 2E)
  torch::Tensor x = lookup(embedding, tokens);
  if (static_embedding) x = torch::cat({lookup(static_embedding, tokens), x}, 2);
  x = dropout(x);
  // o (T, B, D), final state h (layers * directions, B, out)
  auto [o, state] = encoder(x, RecurrentState{}, lengths.to(torch::kCPU));
  const torch::Tensor valid =
      torch::arange(T, lengths.options()).unsqueeze(1) < lengths.unsqueeze(0);  // (T, B)
  const std::string& pooling = options.pooling();
  torch::Tensor p;
  if (pooling == "last") {
    // The last layer's directions: rows (layers - 1) * dirs + d of h.
    const int64_t dirs = options.rnn().bidirectional() ? 2 : 1;
    const int64_t first = (options.rnn().num_layers() - 1) * dirs;
    p = dirs == 1 ? state.h[first] : torch::cat({state.h[first], state.h[first + 1]}, 1);
  } else if (pooling == "mean") {
    // sum_{t < len} o_t / len
    p = (o * valid.unsqueeze(2).to(o.scalar_type())).sum(0) /
        lengths.unsqueeze(1).to(o.scalar_type());
  } else if (pooling == "max") {
    p = o.masked_fill(~valid.unsqueeze(2), -std::numeric_limits<double>::infinity()).amax(0);
  } else {
    // a_t = softmax_t(v . tanh(W o_t + b)) over valid t;  p = sum_t a_t o_t
    torch::Tensor scores = attention_score(torch::tanh(attention_proj(o))).squeeze(2);  // (T, B)
    scores = scores.masked_fill(~valid, -std::numeric_limits<double>::infinity());
    attention_ = torch::softmax(scores, 0);
    p = (attention_.unsqueeze(2) * o).sum(0);
  }
  return output(dropout(p));
}

// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~ SequenceClassifier ~~~~~~~~~~~~~~~~~~~~~~~~~~~~

SequenceClassifierImpl::SequenceClassifierImpl(SequenceClassifierOptions options_)
    : options(std::move(options_)) {
  reset();
}

void SequenceClassifierImpl::reset() {
  const auto& o = options;
  if (o.num_classes() < 2)
    throw std::invalid_argument("SequenceClassifier: num_classes >= 2 is required, got " +
                                std::to_string(o.num_classes()));
  if (!(o.dropout() >= 0 && o.dropout() < 1))
    throw std::invalid_argument("SequenceClassifier: dropout must lie in [0, 1)");
  if (o.rnn().batch_first())
    throw std::invalid_argument("SequenceClassifier: the encoder must be time-major");
  encoder = register_module("encoder", Recurrent(o.rnn()));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  output = register_module("output", torch::nn::Linear(encoder->output_size(), o.num_classes()));
}

void SequenceClassifierImpl::pretty_print(std::ostream& stream) const {
  stream << "rnnlab::SequenceClassifier(num_classes=" << options.num_classes()
         << ", dropout=" << options.dropout() << ")";
}

torch::Tensor SequenceClassifierImpl::forward(const torch::Tensor& x) {
  if (!x.defined() || x.dim() != 3 || x.size(2) != options.rnn().input_size())
    throw std::invalid_argument("SequenceClassifier: expected input (T, B, " +
                                std::to_string(options.rnn().input_size()) + "), got " + shape(x));
  auto [out, state] = encoder->forward(x);
  (void)out;
  // h_T: (L*D, B, H); the last layer's directions are its last D rows.
  const int64_t D = options.rnn().bidirectional() ? 2 : 1;
  const int64_t LD = state.h.size(0), B = state.h.size(1);
  torch::Tensor last = state.h.narrow(0, LD - D, D).transpose(0, 1).reshape({B, -1});  // (B, D*H)
  return output(dropout(last));
}

}  // namespace rnnlab
