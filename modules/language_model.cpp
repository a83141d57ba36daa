// Recurrent language model (see language_model.h).
#include "modules/language_model.h"

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
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
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
         << ", embedding_dim=" << options.embedding_dim() << ", dropout=" << options.dropout()
         << ", tie_weights=" << std::boolalpha << options.tie_weights() << ")";
}

std::tuple<torch::Tensor, RecurrentState> LanguageModelImpl::forward(const torch::Tensor& tokens,
                                                                     RecurrentState state) {
  // tokens (T,B) -> x (T,B,E) -> h (T,B,H) -> logits (T,B,V)
  TORCH_CHECK(tokens.dim() == 2, "LanguageModel: tokens must be (T, B), got ", tokens.sizes());
  torch::Tensor x = dropout(embedding(tokens));
  auto [h, final_state] = rnn(x, std::move(state));
  h = dropout(h);
  if (projection) h = projection(h);
  // logits = h W^T + b, with W the embedding table when tied.
  torch::Tensor logits = decoder ? decoder(h) : torch::linear(h, embedding->weight, output_bias);
  return {logits, final_state};
}

}  // namespace rnnlab
