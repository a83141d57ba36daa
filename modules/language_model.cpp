// Recurrent language model (see language_model.h).
#include "modules/language_model.h"

#include "modules/dropout.h"

namespace rnnlab {

LanguageModelImpl::LanguageModelImpl(LanguageModelOptions options_) : options(std::move(options_)) {
  reset();
}

void LanguageModelImpl::reset() {
  options.rnn().input_size(options.embedding_dim());
  embedding = register_module(
      "embedding", torch::nn::Embedding(
                       torch::nn::EmbeddingOptions(options.vocab_size(), options.embedding_dim())
                           .padding_idx(options.padding_idx())));
  int64_t features = 0;
  const RecurrentOptions& o = options.rnn();
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  if (options.last_hidden() > 0 && options.last_hidden() != o.hidden_size()) {
    TORCH_CHECK(o.num_layers() >= 2, "LanguageModel: last_hidden needs 2 or more layers");
    // layers 1..L-1 as one stack (its own dropout between them), then the last
    RecurrentOptions first = o, last = o;
    const bool inner = o.num_layers() > 2;
    first.num_layers(o.num_layers() - 1)
        .dropout(inner ? o.dropout() : 0.0)
        .locked_dropout(inner && o.locked_dropout());
    last.num_layers(1)
        .input_size(o.output_size())
        .hidden_size(options.last_hidden())
        .proj_size(0)
        .dropout(0.0)
        .locked_dropout(false);
    rnn = register_module("rnn", Recurrent(first));
    rnn_last = register_module("rnn_last", Recurrent(last));
    features = rnn_last->output_size();
  } else {
    rnn = register_module("rnn", Recurrent(o));
    features = rnn->output_size();
  }
  if (options.tie_weights() && features != options.embedding_dim()) {
    projection =
        register_module("projection", torch::nn::Linear(features, options.embedding_dim()));
    features = options.embedding_dim();
  }
  if (!options.adaptive_cutoffs().empty()) {
    TORCH_CHECK(!options.tie_weights(),
                "LanguageModel: the adaptive softmax has output matrices of its own; "
                "tie_weights must be false");
    adaptive = register_module(
        "adaptive", torch::nn::AdaptiveLogSoftmaxWithLoss(
                        torch::nn::AdaptiveLogSoftmaxWithLossOptions(features, options.vocab_size(),
                                                                     options.adaptive_cutoffs())
                            .div_value(options.adaptive_div_value())));
  } else if (options.tie_weights()) {
    // One matrix for both: the output layer uses the embedding table, and only
    // its bias is a parameter of its own.
    output_bias = register_parameter("output_bias", torch::zeros({options.vocab_size()}));
  } else {
    decoder = register_module("decoder", torch::nn::Linear(features, options.vocab_size()));
  }
}

void LanguageModelImpl::pretty_print(std::ostream& stream) const {
  stream << "rnnlab::LanguageModel(vocab_size=" << options.vocab_size()
         << ", embedding_dim=" << options.embedding_dim() << ", dropout=" << options.dropout();
  if (options.input_dropout() >= 0) stream << ", input_dropout=" << options.input_dropout();
  if (options.locked_dropout()) stream << ", locked_dropout=true";
  if (options.embedding_dropout() > 0)
    stream << ", embedding_dropout=" << options.embedding_dropout();
  stream << ", tie_weights=" << std::boolalpha << options.tie_weights() << ")";
}

LanguageModelOutput LanguageModelImpl::run(const torch::Tensor& tokens, RecurrentState state) {
  // tokens (T,B) -> x (T,B,E) -> h (T,B,H) -> logits (T,B,V)
  TORCH_CHECK(tokens.dim() == 2, "LanguageModel: tokens must be (T, B), got ", tokens.sizes());
  const double p_in = options.input_dropout() >= 0 ? options.input_dropout() : options.dropout();
  torch::Tensor x;
  if (is_training() && options.embedding_dropout() > 0) {
    // whole words: E' = E * m / (1 - p), m (V, 1) ~ Bernoulli(1 - p)
    const double p = options.embedding_dropout();
    const torch::Tensor& E = embedding->weight;
    torch::Tensor m = torch::empty({E.size(0), 1}, E.options()).bernoulli_(1 - p).div_(1 - p);
    x = torch::embedding(E * m, tokens, options.padding_idx());
  } else {
    x = embedding(tokens);
  }
  x = sequence_dropout(x, p_in, options.locked_dropout(), is_training());
  LanguageModelOutput out;
  if (rnn_last) {
    // The state of layers 1..L-1 (width W1) and of the last (W2) travels as
    // one (L, B, max(W1, W2)) tensor, each part zero-padded to the width.
    const int64_t L = options.rnn().num_layers();
    auto split = [&](const torch::Tensor& t, int64_t first, int64_t count, int64_t width) {
      return t.defined() ? t.narrow(0, first, count).narrow(2, 0, width).contiguous() : t;
    };
    auto join = [](const torch::Tensor& a, const torch::Tensor& b) {
      if (!a.defined()) return a;
      const int64_t W = std::max(a.size(2), b.size(2));
      namespace F = torch::nn::functional;
      return torch::cat({F::pad(a, F::PadFuncOptions({0, W - a.size(2)})),
                         F::pad(b, F::PadFuncOptions({0, W - b.size(2)}))});
    };
    const RecurrentOptions& o = rnn->options;
    const int64_t h1 = rnn->output_size(), c1 = o.hidden_size(), h2 = options.last_hidden();
    RecurrentState s1{split(state.h, 0, L - 1, h1), split(state.c, 0, L - 1, c1)};
    RecurrentState s2{split(state.h, L - 1, 1, h2), split(state.c, L - 1, 1, h2)};
    auto [mid, n1] = rnn(x, s1);
    // the dropout between layers L-1 and L, as the stack would apply it
    mid = sequence_dropout(mid, options.rnn().dropout(), options.rnn().locked_dropout(),
                           is_training());
    auto [top, n2] = rnn_last(mid, s2);
    out.hidden = top;
    out.state = {join(n1.h, n2.h), join(n1.c, n2.c)};
  } else {
    std::tie(out.hidden, out.state) = rnn(x, std::move(state));
  }
  out.dropped =
      sequence_dropout(out.hidden, options.dropout(), options.locked_dropout(), is_training());
  out.features = projection ? projection(out.dropped) : out.dropped;
  // logits = h W^T + b, with W the embedding table when tied.
  if (!adaptive)
    out.logits = decoder ? decoder(out.features)
                         : torch::linear(out.features, embedding->weight, output_bias);
  return out;
}

torch::Tensor LanguageModelImpl::nll(const LanguageModelOutput& out, const torch::Tensor& targets,
                                     int64_t ignore_index, bool mean) {
  namespace F = torch::nn::functional;
  const torch::Tensor y = targets.flatten();
  if (!adaptive) {
    auto options = F::CrossEntropyFuncOptions().ignore_index(ignore_index);
    if (mean) return F::cross_entropy(out.logits.flatten(0, 1), y, options);
    return F::cross_entropy(out.logits.flatten(0, 1), y, options.reduction(torch::kSum));
  }
  // adaptive: -log p(y) of the rows whose target counts (N, F') -> (N)
  const torch::Tensor keep = (y != ignore_index).nonzero().squeeze(1);
  const torch::Tensor h = out.features.flatten(0, 1).index_select(0, keep);
  const torch::Tensor logp = adaptive(h, y.index_select(0, keep)).output;
  return mean ? -logp.mean() : -logp.sum();
}

torch::Tensor LanguageModelImpl::log_probs(const LanguageModelOutput& out) {
  if (!adaptive) return torch::log_softmax(out.logits, -1);
  const auto T = out.features.size(0), B = out.features.size(1);
  return adaptive->log_prob(out.features.flatten(0, 1)).view({T, B, -1});
}

std::tuple<torch::Tensor, RecurrentState> LanguageModelImpl::forward(const torch::Tensor& tokens,
                                                                     RecurrentState state) {
  LanguageModelOutput out = run(tokens, std::move(state));
  return {adaptive ? log_probs(out) : out.logits, out.state};
}

}  // namespace rnnlab
