// Sequence to sequence with attention (see seq2seq.h).
#include "modules/seq2seq.h"

#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace rnnlab {

namespace {

void check_seq2seq(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("Seq2Seq: " + message);
}

/// Number of directions of a stack.
int64_t directions(const RecurrentOptions& o) {
  return o.bidirectional() ? 2 : 1;
}

/// The final states of the encoder, per decoder layer, with the directions
/// side by side: (layers*dirs, B, H) -> (decoder layers, B, dirs*H). When the
/// layer counts differ, every decoder layer gets the encoder's top layer.
torch::Tensor per_layer(const torch::Tensor& h, int64_t enc_layers, int64_t dirs,
                        int64_t dec_layers) {
  const int64_t B = h.size(1);
  torch::Tensor x = h.view({enc_layers, dirs, B, h.size(2)})
                        .permute({0, 2, 1, 3})
                        .reshape({enc_layers, B, dirs * h.size(2)});
  if (enc_layers == dec_layers) return x;
  return x[enc_layers - 1].unsqueeze(0).expand({dec_layers, B, x.size(2)}).contiguous();
}

}  // namespace

Seq2SeqImpl::Seq2SeqImpl(Seq2SeqOptions options_) : options(std::move(options_)) {
  reset();
}

int64_t Seq2SeqImpl::attentional_size() const {
  return options.attentional_size() > 0 ? options.attentional_size()
                                        : options.decoder().hidden_size();
}

void Seq2SeqImpl::reset() {
  const auto& o = options;
  const std::string& att = o.attention();
  check_seq2seq(att == "none" || att == "bahdanau" || att == "luong_dot" || att == "luong_general",
                "attention must be none, bahdanau, luong_dot or luong_general, got '" + att + "'");
  check_seq2seq((o.src_vocab() >= 2 || o.src_vocab() == 0) && o.tgt_vocab() >= 4,
                "vocabularies too small (src_vocab 0: a source of feature vectors)");
  check_seq2seq(o.encoder().type() == o.decoder().type(),
                "encoder and decoder cells must be of one type (the state is bridged), got " +
                    to_string(o.encoder().type()) + " and " + to_string(o.decoder().type()));
  check_seq2seq(!o.decoder().bidirectional(), "the decoder cannot be bidirectional");
  check_seq2seq(o.decoder().proj_size() == 0 && o.encoder().proj_size() == 0,
                "proj_size is not supported here");

  const int64_t E_src = o.encoder().input_size(), E_tgt = o.decoder().input_size();
  src_embedding = nullptr;  // src_vocab 0: the source is features, not tokens
  if (o.src_vocab() > 0)
    src_embedding = register_module(
        "src_embedding",
        torch::nn::Embedding(torch::nn::EmbeddingOptions(o.src_vocab(), E_src).padding_idx(0)));
  tgt_embedding = register_module(
      "tgt_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(o.tgt_vocab(), E_tgt).padding_idx(0)));
  encoder = register_module("encoder", Recurrent(o.encoder()));

  const int64_t D = encoder->output_size();
  const int64_t H = o.decoder().hidden_size();
  const int64_t A = attentional_size();
  int64_t dec_in = E_tgt + (o.input_feeding() ? A : 0) + (att == "none" ? D : 0);
  decoder = register_module("decoder", Recurrent(RecurrentOptions(o.decoder()).input_size(dec_in)));

  const int64_t bridge_in = directions(o.encoder()) * o.encoder().hidden_size();
  bridge_h = register_module("bridge_h", torch::nn::Linear(bridge_in, H));
  if (o.decoder().type() == CellType::kLSTM)
    bridge_c = register_module("bridge_c", torch::nn::Linear(bridge_in, H));

  if (att == "bahdanau") {
    key_proj =
        register_module("key_proj", torch::nn::Linear(torch::nn::LinearOptions(D, H).bias(false)));
    query_proj = register_module("query_proj", torch::nn::Linear(H, H));
    score_v =
        register_module("score_v", torch::nn::Linear(torch::nn::LinearOptions(H, 1).bias(false)));
  } else if (att == "luong_general") {
    key_proj =
        register_module("key_proj", torch::nn::Linear(torch::nn::LinearOptions(D, H).bias(false)));
  } else if (att == "luong_dot") {
    check_seq2seq(D == H, "luong_dot scores h . o, so the decoder's hidden size (" +
                              std::to_string(H) + ") must equal the encoder's output size (" +
                              std::to_string(D) + ")");
  }
  combine =
      register_module("combine", torch::nn::Linear(torch::nn::LinearOptions(D + H, A).bias(false)));
  if (o.tie_embeddings()) {
    check_seq2seq(A == E_tgt, "tie_embeddings needs the attentional size (" + std::to_string(A) +
                                  ") equal to the target embedding size (" + std::to_string(E_tgt) +
                                  ")");
    output = nullptr;
    output_bias = register_parameter("output_bias", torch::zeros({o.tgt_vocab()}));
  } else {
    output = register_module("output", torch::nn::Linear(A, o.tgt_vocab()));
  }
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
}

void Seq2SeqImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << "rnnlab::Seq2Seq(src_vocab=" << o.src_vocab() << ", tgt_vocab=" << o.tgt_vocab() << ", "
         << o.encoder().type() << ", attention=" << o.attention()
         << ", input_feeding=" << std::boolalpha << o.input_feeding()
         << ", tie_embeddings=" << o.tie_embeddings() << ", dropout=" << o.dropout() << ")";
}

EncoderOutput Seq2SeqImpl::encode(const torch::Tensor& src, const torch::Tensor& src_lengths) {
  if (src_embedding)
    check_seq2seq(src.dim() == 2 && src.scalar_type() == torch::kLong, "src must be (S, B) int64");
  else
    check_seq2seq(
        src.dim() == 3 && src.is_floating_point() && src.size(2) == options.encoder().input_size(),
        "src must be (S, B, " + std::to_string(options.encoder().input_size()) +
            ") features (src_vocab 0)");
  const int64_t S = src.size(0), B = src.size(1);
  check_seq2seq(src_lengths.dim() == 1 && src_lengths.size(0) == B, "src_lengths must be (B)");
  check_seq2seq(
      B == 0 || (src_lengths.min().item<int64_t>() >= 1 && src_lengths.max().item<int64_t>() <= S),
      "every source length must be in [1, S]");
  EncoderOutput enc;
  // x (S, B, E) -> o (S, B, D), final states (layers*dirs, B, H_enc)
  torch::Tensor x = dropout(src_embedding ? src_embedding(src) : src);
  auto [o, final_state] = encoder(x, RecurrentState{}, src_lengths.to(torch::kCPU));
  enc.outputs = o;
  enc.mask = torch::arange(S, src_lengths.options()).unsqueeze(1) <
             src_lengths.to(src.device()).unsqueeze(0);  // (S, B)
  torch::Tensor m = enc.mask.unsqueeze(2).to(o.scalar_type());
  enc.summary = (o * m).sum(0) / m.sum(0);  // (B, D)
  enc.keys = key_proj ? key_proj(o) : o;    // W_k o, W o, or o

  // s_0 = tanh(W_b [h_fwd; h_bwd] + b) per decoder layer (c_0 without tanh).
  const int64_t Le = options.encoder().num_layers(), dirs = directions(options.encoder());
  const int64_t Ld = options.decoder().num_layers();
  enc.state.h = torch::tanh(bridge_h(per_layer(final_state.h, Le, dirs, Ld)));
  if (bridge_c) enc.state.c = bridge_c(per_layer(final_state.c, Le, dirs, Ld));
  return enc;
}

DecoderState Seq2SeqImpl::start(const EncoderOutput& enc) const {
  DecoderState s;
  s.rnn = enc.state;
  if (options.input_feeding())
    s.feed = torch::zeros({enc.outputs.size(1), attentional_size()}, enc.outputs.options());
  return s;
}

std::pair<torch::Tensor, torch::Tensor> Seq2SeqImpl::attend(const torch::Tensor& h,
                                                            const EncoderOutput& enc) {
  // h (..., B, H) with any leading dims L (steps); keys (S, B, K).
  const std::string& att = options.attention();
  const bool stepped = h.dim() == 2;
  if (att == "none") {  // no attention: the fixed summary c, weights 0
    const int64_t S = enc.outputs.size(0), B = enc.outputs.size(1);
    if (stepped) return {torch::zeros({S, B}, h.options()), enc.summary};
    const int64_t L = h.size(0);
    return {torch::zeros({L, S, B}, h.options()), enc.summary.unsqueeze(0).expand({L, B, -1})};
  }
  torch::Tensor q = stepped ? h.unsqueeze(0) : h;  // (L, B, H)
  torch::Tensor scores;                            // (L, S, B)
  if (att == "bahdanau") {
    // v . tanh(W_q h_t + W_k o_s): (L, 1, B, H) + (1, S, B, H)
    torch::Tensor e = torch::tanh(query_proj(q).unsqueeze(1) + enc.keys.unsqueeze(0));
    scores = score_v(e).squeeze(-1);
  } else {
    // h_t . k_s summed over features: (L, B, H) x (S, B, H) -> (L, S, B)
    scores = torch::einsum("lbh,sbh->lsb", {q, enc.keys});
  }
  scores = scores.masked_fill(~enc.mask.unsqueeze(0), -std::numeric_limits<float>::infinity());
  torch::Tensor a = torch::softmax(scores, 1);                        // (L, S, B)
  torch::Tensor c = torch::einsum("lsb,sbd->lbd", {a, enc.outputs});  // (L, B, D)
  if (stepped) return {a.squeeze(0), c.squeeze(0)};
  return {a, c};
}

torch::Tensor Seq2SeqImpl::step(const torch::Tensor& prev, DecoderState& state,
                                const EncoderOutput& enc, torch::Tensor* attention) {
  // u_t = [E y_{t-1}; h~_{t-1}] (input feeding) or [E y_{t-1}; c] (none)
  std::vector<torch::Tensor> parts = {dropout(tgt_embedding(prev))};  // (B, E)
  if (options.input_feeding()) parts.push_back(state.feed);
  if (options.attention() == "none") parts.push_back(enc.summary);
  torch::Tensor u = torch::cat(parts, 1).unsqueeze(0);  // (1, B, in)
  auto [out, next] = decoder(u, state.rnn);
  state.rnn = next;
  torch::Tensor h = out.squeeze(0);  // (B, H)
  auto [a, c] = attend(h, enc);
  // h~_t = tanh(W_c [c_t; h_t]); logits = W_o dropout(h~_t) + b_o
  torch::Tensor ht = torch::tanh(combine(torch::cat({c, h}, 1)));
  if (options.input_feeding()) state.feed = ht;
  if (attention) *attention = a;
  torch::Tensor z = dropout(ht);
  return output ? output(z) : torch::linear(z, tgt_embedding->weight, output_bias);
}

torch::Tensor Seq2SeqImpl::forward(const torch::Tensor& src, const torch::Tensor& src_lengths,
                                   const torch::Tensor& tgt_in, double sampling_ratio,
                                   c10::optional<at::Generator> generator) {
  check_seq2seq(
      tgt_in.dim() == 2 && tgt_in.scalar_type() == torch::kLong && tgt_in.size(1) == src.size(1),
      "tgt_in must be (T, B) int64 with the batch of src");
  EncoderOutput enc = encode(src, src_lengths);
  const int64_t T = tgt_in.size(0);
  if (!options.input_feeding() && sampling_ratio <= 0) {
    // Every input is known: run the decoder over all steps at once.
    torch::Tensor x = dropout(tgt_embedding(tgt_in));  // (T, B, E)
    if (options.attention() == "none")
      x = torch::cat({x, enc.summary.unsqueeze(0).expand({T, -1, -1})}, 2);
    auto [h, last] = decoder(x, enc.state);  // (T, B, H)
    (void)last;
    auto [a, c] = attend(h, enc);
    torch::Tensor ht = torch::tanh(combine(torch::cat({c, h}, 2)));
    torch::Tensor z = dropout(ht);
    return output ? output(z) : torch::linear(z, tgt_embedding->weight, output_bias);
  }
  DecoderState state = start(enc);
  std::vector<torch::Tensor> logits;
  torch::Tensor prev = tgt_in[0];
  for (int64_t t = 0; t < T; ++t) {
    if (t > 0) {
      prev = tgt_in[t];
      if (sampling_ratio > 0) {
        // Per sentence, with probability sampling_ratio, the model's own last guess.
        torch::Tensor own = logits.back().detach().argmax(1);
        torch::Tensor coin =
            torch::rand({prev.size(0)}, generator, torch::TensorOptions().device(prev.device())) <
            sampling_ratio;
        prev = torch::where(coin & (prev != 0), own, prev);
      }
    }
    logits.push_back(step(prev, state, enc));
  }
  return torch::stack(logits, 0);
}

// ---- decoding ----

std::vector<Hypothesis> translate_batch(Seq2Seq& model, const torch::Tensor& src,
                                        const torch::Tensor& src_lengths,
                                        const DecodeOptions& opt) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t B = src.size(1), K = std::max<int64_t>(1, opt.beam), S = src.size(0);
  const int64_t V = model->options.tgt_vocab();
  const float kNeg = -std::numeric_limits<float>::infinity();
  EncoderOutput enc = model->encode(src, src_lengths);

  // Beams b*K .. b*K+K-1 belong to sentence b: expand the encoder's tensors.
  torch::Tensor rep = torch::arange(B, torch::kLong).repeat_interleave(K).to(src.device());
  enc.outputs = enc.outputs.index_select(1, rep);
  enc.keys = enc.keys.index_select(1, rep);
  enc.mask = enc.mask.index_select(1, rep);
  enc.summary = enc.summary.index_select(0, rep);
  enc.state.h = enc.state.h.index_select(1, rep);
  if (enc.state.c.defined()) enc.state.c = enc.state.c.index_select(1, rep);
  DecoderState state = model->start(enc);

  std::vector<int64_t> max_len(static_cast<size_t>(B));
  auto lens = src_lengths.to(torch::kCPU);
  for (int64_t b = 0; b < B; ++b)
    max_len[b] = std::max<int64_t>(
        1, static_cast<int64_t>(opt.max_len_a * static_cast<double>(lens[b].item<int64_t>())) +
               opt.max_len_b);
  const int64_t longest = *std::max_element(max_len.begin(), max_len.end());

  struct Beam {
    std::vector<int64_t> tokens;
    std::vector<std::vector<float>> attention;
    double score = 0;
  };
  std::vector<std::vector<Beam>> beams(static_cast<size_t>(B), std::vector<Beam>(K));
  std::vector<std::vector<std::pair<double, Hypothesis>>> finished(static_cast<size_t>(B));
  std::vector<bool> done(static_cast<size_t>(B), false);
  // Only the first beam of each sentence is live at the start.
  for (auto& bs : beams)
    for (int64_t k = 1; k < K; ++k) bs[k].score = kNeg;

  torch::Tensor prev = torch::full({B * K}, opt.bos_id, torch::kLong).to(src.device());
  for (int64_t t = 0; t < longest; ++t) {
    torch::Tensor attn;
    torch::Tensor logp = torch::log_softmax(model->step(prev, state, enc, &attn), 1)
                             .to(torch::kCPU, torch::kFloat);                  // (BK, V)
    logp.select(1, 0).fill_(kNeg);                                             // never <pad>
    logp.select(1, opt.bos_id).fill_(kNeg);                                    // never <bos>
    torch::Tensor att = attn.to(torch::kCPU, torch::kFloat).t().contiguous();  // (BK, S)
    std::vector<float> scores(static_cast<size_t>(B * K));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) scores[b * K + k] = static_cast<float>(beams[b][k].score);
    torch::Tensor total = logp + torch::tensor(scores).unsqueeze(1);  // (BK, V)
    std::vector<int64_t> origin(static_cast<size_t>(B * K)), next(static_cast<size_t>(B * K));
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t k = 0; k < K; ++k) {
        origin[b * K + k] = b * K + k;
        next[b * K + k] = opt.eos_id;
      }
      if (done[b]) continue;
      const bool last = t + 1 >= max_len[b];
      torch::Tensor cand = total.narrow(0, b * K, K);  // (K, V)
      if (last) {                                      // only <eos> may follow
        torch::Tensor keep = cand.select(1, opt.eos_id).clone();
        cand = torch::full_like(cand, kNeg);
        cand.select(1, opt.eos_id).copy_(keep);
      }
      auto [vals, idx] = cand.reshape({-1}).topk(std::min<int64_t>(2 * K, K * V));
      std::vector<Beam> kept;
      std::vector<int64_t> kept_from;
      for (int64_t j = 0; j < vals.size(0) && static_cast<int64_t>(kept.size()) < K; ++j) {
        double v = vals[j].item<double>();
        if (!std::isfinite(v)) break;
        int64_t flat = idx[j].item<int64_t>(), from = flat / V, tok = flat % V;
        const Beam& parent = beams[b][from];
        std::vector<float> a(att[b * K + from].data_ptr<float>(),
                             att[b * K + from].data_ptr<float>() + S);
        if (tok == opt.eos_id) {
          Hypothesis h;
          h.tokens = parent.tokens;
          h.log_prob = v;
          h.attention = parent.attention;
          h.attention.push_back(std::move(a));
          double len = static_cast<double>(h.tokens.size() + 1);
          finished[b].emplace_back(v / std::pow(len, opt.length_penalty), std::move(h));
          continue;
        }
        Beam nb = parent;
        nb.tokens.push_back(tok);
        nb.attention.push_back(std::move(a));
        nb.score = v;
        kept.push_back(std::move(nb));
        kept_from.push_back(from);
      }
      if (static_cast<int64_t>(finished[b].size()) >= K || kept.empty() || last) {
        done[b] = true;
        continue;
      }
      for (int64_t k = 0; k < K; ++k) {
        if (k < static_cast<int64_t>(kept.size())) {
          origin[b * K + k] = b * K + kept_from[k];
          next[b * K + k] = kept[k].tokens.back();
          beams[b][k] = std::move(kept[k]);
        } else {
          beams[b][k].score = kNeg;
        }
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    torch::Tensor o = torch::tensor(origin).to(src.device());
    state.rnn.h = state.rnn.h.index_select(1, o);
    if (state.rnn.c.defined()) state.rnn.c = state.rnn.c.index_select(1, o);
    if (state.feed.defined()) state.feed = state.feed.index_select(0, o);
    prev = torch::tensor(next).to(src.device());
  }

  std::vector<Hypothesis> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    if (finished[b].empty()) continue;  // cannot happen: the last step forces <eos>
    auto best = std::max_element(finished[b].begin(), finished[b].end(),
                                 [](const auto& x, const auto& y) { return x.first < y.first; });
    out[b] = best->second;
  }
  return out;
}

}  // namespace rnnlab
