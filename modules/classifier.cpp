// The recurrent sentence classifier (see classifier.h).
#include "modules/classifier.h"

#include <torch/nn/init.h>

#include <limits>
#include <optional>
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
  check_classifier(p == "last" || p == "mean" || p == "max" || p == "attention" || p == "concat",
                   "pooling must be last, mean, max, attention or concat, got '" + p + "'");
  check_classifier(o.chunk() >= 0 && o.grad_chunks() >= 0, "chunk and grad_chunks must be >= 0");
  check_classifier(o.chunk() == 0 || !o.rnn().bidirectional(),
                   "chunk (texts read in chunks, the state carried forward) needs a "
                   "unidirectional encoder");
  check_classifier(o.chunk() == 0 || p != "attention",
                   "chunk cannot be combined with attention pooling (its softmax spans the "
                   "whole text)");
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
  output = register_module("output", torch::nn::Linear(p == "concat" ? 3 * D : D, o.num_classes()));
}

void SentenceClassifierImpl::pretty_print(std::ostream& stream) const {
  stream << "rnnlab::SentenceClassifier(vocab_size=" << options.vocab_size()
         << ", embedding_dim=" << options.embedding_dim()
         << ", num_classes=" << options.num_classes() << ", pooling=" << options.pooling()
         << ", dropout=" << options.dropout() << ", freeze_embedding=" << std::boolalpha
         << options.freeze_embedding() << ", two_channels=" << options.two_channels();
  if (options.fixed_words() > 0) stream << ", fixed_words=" << options.fixed_words();
  if (options.chunk() > 0)
    stream << ", chunk=" << options.chunk() << ", grad_chunks=" << options.grad_chunks();
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

torch::Tensor SentenceClassifierImpl::embed(const torch::Tensor& tokens) {
  // x = E[w] (T, B, E), or [E_static[w]; E[w]] (T, B, 2E)
  torch::Tensor x = lookup(embedding, tokens);
  if (static_embedding) x = torch::cat({lookup(static_embedding, tokens), x}, 2);
  return dropout(x);
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
  const bool chunked =
      options.chunk() > 0 && B > 0 && lengths.max().item<int64_t>() > options.chunk();
  return output(dropout(chunked ? pool_chunked(tokens, lengths) : pool_whole(tokens, lengths)));
}

torch::Tensor SentenceClassifierImpl::pool_whole(const torch::Tensor& tokens,
                                                 const torch::Tensor& lengths) {
  const int64_t T = tokens.size(0);
  // o (T, B, D), final state h (layers * directions, B, out)
  auto [o, state] = encoder(embed(tokens), RecurrentState{}, lengths.to(torch::kCPU));
  const torch::Tensor valid =
      torch::arange(T, lengths.options()).unsqueeze(1) < lengths.unsqueeze(0);  // (T, B)
  const std::string& pooling = options.pooling();
  // The last layer's directions: rows (layers - 1) * dirs + d of h.
  auto last = [&, &state = state] {
    const int64_t dirs = options.rnn().bidirectional() ? 2 : 1;
    const int64_t first = (options.rnn().num_layers() - 1) * dirs;
    return dirs == 1 ? state.h[first] : torch::cat({state.h[first], state.h[first + 1]}, 1);
  };
  // max_{t < len} o_t
  auto max = [&, &o = o] {
    return o.masked_fill(~valid.unsqueeze(2), -std::numeric_limits<double>::infinity()).amax(0);
  };
  // sum_{t < len} o_t / len
  auto mean = [&, &o = o] {
    return (o * valid.unsqueeze(2).to(o.scalar_type())).sum(0) /
           lengths.unsqueeze(1).to(o.scalar_type());
  };
  if (pooling == "last") return last();
  if (pooling == "mean") return mean();
  if (pooling == "max") return max();
  if (pooling == "concat") return torch::cat({last(), max(), mean()}, 1);
  // a_t = softmax_t(v . tanh(W o_t + b)) over valid t;  p = sum_t a_t o_t
  torch::Tensor scores = attention_score(torch::tanh(attention_proj(o))).squeeze(2);  // (T, B)
  scores = scores.masked_fill(~valid, -std::numeric_limits<double>::infinity());
  attention_ = torch::softmax(scores, 0);
  return (attention_.unsqueeze(2) * o).sum(0);
}

torch::Tensor SentenceClassifierImpl::pool_chunked(const torch::Tensor& tokens,
                                                   const torch::Tensor& lengths) {
  const int64_t L = options.chunk(), B = tokens.size(1);
  // Longest text first: the texts still being read at any chunk are a prefix.
  torch::Tensor order = std::get<1>(lengths.to(torch::kCPU).sort(0, /*descending=*/true));
  torch::Tensor len = lengths.to(torch::kCPU).index_select(0, order);  // (B) descending
  const int64_t* n = len.data_ptr<int64_t>();
  torch::Tensor toks = tokens.index_select(1, order.to(tokens.device()));
  const int64_t J = (n[0] + L - 1) / L;  // chunks of the longest text
  const int64_t with_grad = options.grad_chunks() > 0 ? options.grad_chunks() : J;
  const std::string& pooling = options.pooling();
  const bool need_max = pooling == "max" || pooling == "concat";
  const bool need_sum = pooling == "mean" || pooling == "concat";

  RecurrentState state;  // of the texts read so far: (layers, n_prev, H)
  torch::Tensor m, s;    // running max and sum of the outputs: (n_prev, D)
  int64_t active = 0;
  // Chunk j counts from the end: text i's chunk j is its tokens
  // [max(0, n_i - (j+1)L), n_i - jL); texts with n_i > jL take part.
  for (int64_t j = J - 1; j >= 0; --j) {
    const int64_t before = active;
    while (active < B && n[active] > j * L) ++active;
    std::vector<int64_t> starts(static_cast<size_t>(active)), counts(static_cast<size_t>(active));
    int64_t rows = 0;
    for (int64_t i = 0; i < active; ++i) {
      starts[i] = std::max<int64_t>(0, n[i] - (j + 1) * L);
      counts[i] = n[i] - j * L - starts[i];
      rows = std::max(rows, counts[i]);
    }
    torch::Tensor start = torch::tensor(starts, torch::kLong);           // (active)
    torch::Tensor count = torch::tensor(counts, torch::kLong);           // (active)
    torch::Tensor r = torch::arange(rows, torch::kLong).unsqueeze(1);    // (rows, 1)
    torch::Tensor valid = r < count.unsqueeze(0);                        // (rows, active)
    torch::Tensor at = (start.unsqueeze(0) + r).masked_fill(~valid, 0);  // (rows, active)
    torch::Tensor chunk = toks.narrow(1, 0, active)
                              .gather(0, at.to(toks.device()))
                              .masked_fill(~valid.to(toks.device()), 0);  // (rows, active)
    // The texts that start in this chunk start from the zero state.
    if (state.defined() && active > before) {
      auto grow = [&](const torch::Tensor& t) {
        if (!t.defined()) return t;
        return torch::cat({t, torch::zeros({t.size(0), active - before, t.size(2)}, t.options())},
                          1);
      };
      state = {grow(state.h), grow(state.c)};
    }
    std::optional<torch::NoGradGuard> no_grad;
    if (j >= with_grad) no_grad.emplace();
    auto [o, next] = encoder(embed(chunk), state, count);  // o (rows, active, D)
    state = next;
    torch::Tensor v = valid.to(o.device()).unsqueeze(2);
    auto extend = [&](const torch::Tensor& acc, double fill) {
      if (!acc.defined()) return torch::full({active, o.size(2)}, fill, o.options());
      if (active == before) return acc;
      return torch::cat({acc, torch::full({active - before, o.size(2)}, fill, o.options())});
    };
    if (need_max)
      m = torch::maximum(extend(m, -std::numeric_limits<double>::infinity()),
                         o.masked_fill(~v, -std::numeric_limits<double>::infinity()).amax(0));
    if (need_sum) s = extend(s, 0.0) + (o * v.to(o.scalar_type())).sum(0);
  }
  // Every text has been read (active == B); back to the batch's order.
  torch::Tensor last = state.h[options.rnn().num_layers() - 1];  // (B, D)
  torch::Tensor mean;
  if (need_sum) mean = s / len.to(s.device()).unsqueeze(1).to(s.scalar_type());
  torch::Tensor p = pooling == "last"   ? last
                    : pooling == "max"  ? m
                    : pooling == "mean" ? mean
                                        : torch::cat({last, m, mean}, 1);
  torch::Tensor inverse = torch::empty_like(order);
  inverse.index_put_({order}, torch::arange(B, torch::kLong));
  return p.index_select(0, inverse.to(p.device()));
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
