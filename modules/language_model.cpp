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
  rnn = register_module("rnn", Recurrent(options.rnn()));
  int64_t features = rnn->output_size();
  if (options.tie_weights() && features != options.embedding_dim()) {
    projection =
        register_module("projection", torch::nn::Linear(features, options.embedding_dim()));
    features = options.embedding_dim();
  }
  if (options.tie_weights()) {
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

namespace {

// Dropout at rate p in training, per element or locked (one mask for all steps).
torch::Tensor drop(const torch::Tensor& x, double p, bool locked, bool training) {
  if (!training || p <= 0) return x;
  return locked ? locked_dropout(x, p, training) : torch::dropout(x, p, true);
}

}  // namespace

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
  x = drop(x, p_in, options.locked_dropout(), is_training());
  LanguageModelOutput out;
  std::tie(out.hidden, out.state) = rnn(x, std::move(state));
  out.dropped = drop(out.hidden, options.dropout(), options.locked_dropout(), is_training());
  torch::Tensor h = projection ? projection(out.dropped) : out.dropped;
  // logits = h W^T + b, with W the embedding table when tied.
  out.logits = decoder ? decoder(h) : torch::linear(h, embedding->weight, output_bias);
  return out;
}

std::tuple<torch::Tensor, RecurrentState> LanguageModelImpl::forward(const torch::Tensor& tokens,
                                                                     RecurrentState state) {
  LanguageModelOutput out = run(tokens, std::move(state));
  return {out.logits, out.state};
}

}  // namespace rnnlab
