// The language-modelling task (see task.h).
#include "apps/lm/task.h"

#include <yaml-cpp/yaml.h>

#include "datasets/seed.h"

#include "apps/framework/distributed.h"
#include "apps/framework/vectors.h"

#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>

#include <unistd.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "datasets/text_file.h"
#include "datasets/utf8.h"
#include "datasets/vocab.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace rnnlab::lm {

void LMConfig::bind(ConfigSchema& s) {
  s.add("data.train", &data.train, "training text file (relative to run.data_root)");
  s.add("data.text", &data.text, "inline training text instead of data.train (toys and tests)");
  s.add("data.text_repeat", &data.text_repeat, "repeat data.text this many times")
      .range(1, 1 << 24);
  s.add("data.valid", &data.valid, "validation text file (\"\": the end of data.train)");
  s.add("data.test", &data.test, "test text file (\"\": the end of data.train)");
  s.add("data.valid_fraction", &data.valid_fraction,
        "share of data.train held out for validation when data.valid is not given")
      .range(0.0, 0.5);
  s.add("data.test_fraction", &data.test_fraction,
        "share of data.train held out for testing when data.test is not given")
      .range(0.0, 0.5);
  bind_tokenizer(s, "data.tokenizer", &data.tokenizer);
  s.add("data.batch_size", &data.batch_size, "parallel streams per batch (B)").range(1, 1 << 16);
  s.add("data.bptt", &data.bptt, "truncated-BPTT length: steps per batch (T)").range(1, 1 << 16);
  s.add("data.eval_batch_size", &data.eval_batch_size, "parallel streams when evaluating")
      .range(1, 1 << 16);
  s.add("data.bpc_per", &data.bpc_per,
        "what bpc counts as a character: char (the text's characters) or token (each token, for "
        "a text of space-separated symbols such as PTB's ptb.char.*.txt, where the spaces are "
        "not characters and each line end is one)")
      .choices({"char", "token"});
  s.add("data.variable_bptt", &data.variable_bptt,
        "AWD-LSTM's variable-length BPTT: each training window's length drawn around data.bptt "
        "(N(bptt, 5), bptt halved with probability 0.05, at least 5), the learning rate scaled by "
        "length / bptt; an epoch keeps its number of updates (the lengths are scaled to cover the "
        "text exactly)");
  s.add("data.oov", &data.oov,
        "a validation or test token outside the training vocabulary: unk (scored as <unk>, with "
        "a warning) or error (a data error naming file, line and word: the benchmarks' protocol, "
        "where the data has its own <unk>)")
      .choices({"unk", "error"});
  s.add("model.embedding", &model.embedding, "token embedding size").range(1, 1 << 20);
  s.add("model.dropout", &model.dropout,
        "dropout on the recurrent output (and on the embeddings unless model.input_dropout is set)")
      .range(0.0, 0.99);
  s.add("model.input_dropout", &model.input_dropout,
        "dropout on the embeddings (AWD-LSTM's dropouti; -1: model.dropout)")
      .range(-1.0, 0.99);
  s.add("model.locked_dropout", &model.locked_dropout,
        "model.dropout and model.input_dropout draw one mask per sequence, shared by its steps "
        "(variational, Gal and Ghahramani 2016; AWD-LSTM); model.rnn.locked_dropout does the same "
        "between the layers");
  s.add("model.embedding_dropout", &model.embedding_dropout,
        "drop whole words: each training batch zeroes this share of the embedding table's rows "
        "(AWD-LSTM's dropoute)")
      .range(0.0, 0.99);
  s.add("model.tie_weights", &model.tie_weights, "share the embedding and output matrices");
  bind_init_from_pytorch(s, "model", &model.init_from_pytorch);
  s.add("model.init_from", &model.init_from,
        "an rnnlab-lm run directory whose tokenizer and weights (its best checkpoint) start this "
        "model, to go on training on this config's text: ULMFiT's language-model fine-tuning on "
        "the target task's text (the data.tokenizer keys are not used; the model keys that shape "
        "the weights must match the run's; \"\": none)");
  bind_vectors(s, "model", &model.vectors, &model.vectors_format,
               "the embedding's own initialisation; the words the file lacks keep theirs too");
  s.add("model.init_uniform", &model.init_uniform,
        "> 0: draw every parameter from U(-a, a), replacing each module's own initialisation "
        "(Zaremba et al.: 0.1, 0.05, 0.04 for small, medium, large); 0: off")
      .range(0.0, 10.0);
  s.add("model.last_hidden", &model.last_hidden,
        "hidden size of the last recurrent layer when it differs from model.rnn.hidden "
        "(AWD-LSTM: model.embedding, so that tied embeddings need no projection); 0: "
        "model.rnn.hidden")
      .range(0, 1 << 20);
  s.add("model.adaptive_softmax.cutoffs", &model.adaptive_cutoffs,
        "the adaptive softmax (Grave et al. 2017) as the output layer: the head holds the ids "
        "below the first cut-off, each tail cluster those up to the next (e.g. [2000, 10000] for "
        "WikiText-2; ids are sorted by frequency); []: the full softmax. Log-probabilities, and so "
        "perplexities, are exact either way");
  s.add("model.adaptive_softmax.div_value", &model.adaptive_div_value,
        "adaptive softmax: each tail cluster's projection is this many times smaller than the "
        "one before")
      .range(1.0, 1e3);
  s.add("model.init_embedding", &model.init_embedding,
        "> 0: draw the embedding table from U(-a, a) instead of N(0, 1) (AWD-LSTM and PyTorch's "
        "word_language_model: 0.1; a tied output layer needs small embeddings); 0: off")
      .range(0.0, 10.0);
  model.rnn.bind(s, "model.rnn");
  s.add("train.ar_alpha", &ar_alpha,
        "activation regularisation: add alpha x the mean square of the last layer's output after "
        "dropout (Merity et al. 2017: 2)")
      .range(0.0, 1e6);
  s.add("train.tar_beta", &tar_beta,
        "temporal activation regularisation: add beta x the mean square of h_t - h_{t-1} of the "
        "last layer's output before dropout (Merity et al. 2017: 1)")
      .range(0.0, 1e6);
  s.add("train.loss_sum_over_bptt", &loss_sum_over_bptt,
        "train on the sum over the batch's data.bptt steps of the mean loss per step, data.bptt "
        "times the mean per token (Zaremba et al.'s and TensorFlow's PTB convention: their "
        "learning rate 1 and clipping at norm 5 assume it); false: the mean per token. Logged "
        "losses and perplexities are per token either way");
  s.add("sample.length", &sample.length, "tokens to generate after training")
      .range(0, 1 << 24)
      .resumable();
  s.add("sample.temperature", &sample.temperature, "sampling temperature (0: greedy)")
      .range(0.0, 100.0)
      .resumable();
  s.add("sample.top_k", &sample.top_k, "sample among the k likeliest tokens (0: all)")
      .range(0, 1 << 24)
      .resumable();
  s.add("sample.prompt", &sample.prompt, "text the sample starts from").resumable();
  run.bind(s);
  train.bind(s);
  optim.bind(s);
}

void LMConfig::validate(const ConfigSchema& s) const {
  if (data.train.empty() == data.text.empty())
    throw s.error(data.train.empty() ? "data.train" : "data.text",
                  "set exactly one of data.train (a text file) and data.text (inline text)");
  model.rnn.validate(s, "model.rnn");
  if (model.locked_dropout && model.dropout == 0 && model.input_dropout <= 0)
    throw s.error("model.locked_dropout",
                  "locks the masks of model.dropout and model.input_dropout, which are 0");
  if (!model.adaptive_cutoffs.empty() && model.tie_weights)
    throw s.error("model.adaptive_softmax.cutoffs",
                  "the adaptive softmax has output matrices of its own; set model.tie_weights: "
                  "false");
  for (size_t i = 0; i < model.adaptive_cutoffs.size(); ++i)
    if (model.adaptive_cutoffs[i] <= (i == 0 ? 0 : model.adaptive_cutoffs[i - 1]))
      throw s.error("model.adaptive_softmax.cutoffs",
                    "cut-offs must be positive and increasing, got " +
                        fmt::format("{}", fmt::join(model.adaptive_cutoffs, ", ")));
  if (model.last_hidden > 0 && model.rnn.stack.num_layers() < 2)
    throw s.error("model.last_hidden",
                  "sizes the last of several layers; model.rnn.layers is 1 "
                  "(set model.rnn.hidden instead)");
  if (model.init_uniform > 0 && model.init_embedding > 0)
    throw s.error("model.init_embedding",
                  "model.init_uniform already draws every parameter, the embeddings too; set one");
  if (model.init_uniform > 0 &&
      (model.rnn.hidden_init != "default" || model.rnn.forget_bias != "default"))
    throw s.error(
        "model.init_uniform",
        "it replaces every initialisation, so model.rnn." +
            std::string(model.rnn.hidden_init != "default" ? "hidden_init" : "forget_bias") +
            " would have no effect; set one of the two");
  if (model.rnn.stack.bidirectional())
    throw s.error("model.rnn.bidirectional",
                  "a language model predicts the next token; a reversed direction would read it "
                  "first (use it in classifiers and encoders)");
  if (!model.init_from.empty() && !model.init_from_pytorch.empty())
    throw s.error("model.init_from_pytorch",
                  "the weights come from model.init_from's run; set one of the two");
  validate_vectors(s, "model", model.vectors, model.vectors_format, data.tokenizer.type);
  if (!model.init_from.empty() && !model.vectors.empty())
    throw s.error("model.vectors",
                  "the embedding comes from model.init_from's run; set one of the two");
  train.validate(s);
  optim.validate(s, train);
}

// ---- data layout ----

int64_t StreamBatches::size() const {
  return (inputs.size(0) + bptt - 1) / bptt;
}

std::pair<torch::Tensor, torch::Tensor> StreamBatches::get(int64_t i) const {
  int64_t start = i * bptt;
  int64_t len = std::min(bptt, inputs.size(0) - start);
  return {inputs.narrow(0, start, len), targets.narrow(0, start, len)};
}

StreamBatches batchify(const std::vector<int64_t>& ids, int64_t batch_size, int64_t bptt,
                       int64_t pad_id, int64_t bos_id) {
  // stream = <bos> ids...; inputs = stream[0..N), targets = stream[1..N]
  auto n = static_cast<int64_t>(ids.size());
  int64_t rows = (n + batch_size - 1) / batch_size;  // L
  torch::Tensor inputs = torch::full({batch_size * rows}, pad_id, torch::kLong);
  torch::Tensor targets = torch::full({batch_size * rows}, pad_id, torch::kLong);
  auto in = inputs.accessor<int64_t, 1>();
  auto out = targets.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    in[i] = i == 0 ? bos_id : ids[i - 1];
    out[i] = ids[i];
  }
  // (B*L) -> (B, L) -> (L, B): column b is the b-th slice of the stream.
  StreamBatches s;
  s.inputs = inputs.view({batch_size, rows}).t().contiguous();
  s.targets = targets.view({batch_size, rows}).t().contiguous();
  s.bptt = bptt;
  s.tokens = n;
  return s;
}

StreamBatches layout_text(const datasets::Tokenizer& tokenizer, const std::string& text,
                          int64_t batch_size, int64_t bptt, const std::string& source) {
  StreamBatches s = batchify(tokenizer.encode(text), batch_size, bptt, datasets::Vocab::kPad,
                             datasets::Vocab::kBos);
  s.chars = static_cast<int64_t>(datasets::split_utf8(text, source).size());
  return s;
}

namespace {

/// How often each of `words` occurs among a word tokenizer's pieces of
/// `text`; the pieces are computed only when one of them appears in the text
/// at all (the usual case is no second pass).
std::vector<int64_t> count_words(const datasets::Tokenizer& tokenizer, const std::string& text,
                                 const std::vector<std::string>& words) {
  std::vector<int64_t> counts(words.size(), 0);
  if (tokenizer.type() != "word") return counts;
  std::vector<std::string> pieces;
  for (size_t i = 0; i < words.size(); ++i) {
    if (text.find(words[i]) == std::string::npos) continue;
    if (pieces.empty()) pieces = tokenizer.pieces(text);
    counts[i] = std::count(pieces.begin(), pieces.end(), words[i]);
  }
  return counts;
}

}  // namespace

void warn_literal_specials(const datasets::Tokenizer& tokenizer, const std::string& text,
                           const std::string& source) {
  const std::vector<std::string> specials = {"<pad>", "<bos>", "<eos>"};
  const auto counts = count_words(tokenizer, text, specials);
  std::string found;
  for (size_t i = 0; i < specials.size(); ++i)
    if (counts[i] > 0)
      found += fmt::format("{}{} {}", found.empty() ? "" : ", ", counts[i], specials[i]);
  if (!found.empty())
    logger()->warn("{}: the text holds the words {}, read as the special tokens of that name",
                   source, found);
}

StreamBatches layout_eval_text(const datasets::Tokenizer& tokenizer, const std::string& text,
                               int64_t batch_size, int64_t bptt, const std::string& source,
                               bool oov_error) {
  // Encoded once: the layout and the count of unknown tokens share the ids.
  std::vector<int64_t> ids;
  if (oov_error) {
    try {
      ids = tokenizer.encode_strict(text, source);
    } catch (const DataError& e) {
      throw DataError(std::string(e.what()) + " of the training split (data.oov: error)");
    }
  } else {
    ids = tokenizer.encode(text);
  }
  StreamBatches s = batchify(ids, batch_size, bptt, datasets::Vocab::kPad, datasets::Vocab::kBos);
  s.chars = static_cast<int64_t>(datasets::split_utf8(text, source).size());
  warn_literal_specials(tokenizer, text, source);
  // Tokens the vocabulary lacks are scored as <unk>: said with their number
  // (a word corpus's own literal <unk>, PTB's, is not counted).
  int64_t unknown = std::count(ids.begin(), ids.end(), datasets::Vocab::kUnk);
  if (unknown > 0) unknown -= count_words(tokenizer, text, {"<unk>"})[0];
  if (unknown > 0)
    logger()->warn("{}: {} of {} tokens are outside the vocabulary and scored as <unk>", source,
                   unknown, ids.size());
  // Each stream starts from a zero state: streams shorter than bptt score the
  // text quite differently from one long stream.
  const int64_t length = (s.tokens + batch_size - 1) / batch_size;
  if (s.tokens > 0 && length < bptt)
    logger()->warn(
        "{}: {} tokens in {} streams of about {} tokens, shorter than data.bptt {}: each stream "
        "starts from a zero state, so the loss is not the model's over one stream "
        "(data.eval_batch_size 1 scores it as one)",
        source, s.tokens, batch_size, length, bptt);
  return s;
}

std::vector<std::string> split_by_fraction(const std::string& text, double valid_fraction,
                                           double test_fraction) {
  // Cut points at character boundaries (never inside a UTF-8 sequence).
  auto boundary = [&](double fraction) {
    auto pos = static_cast<size_t>(static_cast<double>(text.size()) * fraction);
    while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
    return pos;
  };
  size_t train_end = boundary(1.0 - valid_fraction - test_fraction);
  size_t valid_end = boundary(1.0 - test_fraction);
  return {text.substr(0, train_end), text.substr(train_end, valid_end - train_end),
          text.substr(valid_end)};
}

LanguageModel build_model(const LMConfig& cfg, int64_t vocab_size) {
  LanguageModel model(LanguageModelOptions(vocab_size, cfg.model.rnn.options(cfg.model.embedding))
                          .embedding_dim(cfg.model.embedding)
                          .dropout(cfg.model.dropout)
                          .input_dropout(cfg.model.input_dropout)
                          .locked_dropout(cfg.model.locked_dropout)
                          .embedding_dropout(cfg.model.embedding_dropout)
                          .tie_weights(cfg.model.tie_weights)
                          .last_hidden(cfg.model.last_hidden)
                          .adaptive_cutoffs(cfg.model.adaptive_cutoffs)
                          .adaptive_div_value(cfg.model.adaptive_div_value)
                          .padding_idx(datasets::Vocab::kPad));
  if (cfg.model.init_uniform > 0) {
    // Zaremba et al. (2014): every parameter ~ U(-a, a); the padding row stays 0.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.uniform_(-cfg.model.init_uniform, cfg.model.init_uniform);
    model->embedding->weight[datasets::Vocab::kPad].zero_();
  }
  if (cfg.model.init_embedding > 0) {
    torch::NoGradGuard no_grad;
    model->embedding->weight.uniform_(-cfg.model.init_embedding, cfg.model.init_embedding);
    model->embedding->weight[datasets::Vocab::kPad].zero_();
  }
  return model;
}

TorchNaming torch_naming(const LanguageModel& model) {
  TorchNaming n;
  if (model->output_bias.defined()) {
    // logits = features W_E^T + b: torch.nn.Linear(E, V) with weight W_E.
    n.renames.emplace_back("output_bias", "decoder.bias");
    n.derived.emplace_back("decoder.weight", model->embedding->weight);
    const auto& w = model->embedding->weight;
    n.modules["decoder"] = {
        {"class", "Linear"},
        {"args", {{"in_features", w.size(1)}, {"out_features", w.size(0)}, {"bias", true}}}};
  }
  return n;
}

// ---- evaluation and generation ----

double stream_nats(LanguageModel& model, const StreamBatches& stream, torch::Device device,
                   int64_t first, int64_t count) {
  torch::NoGradGuard no_grad;
  model->eval();
  RecurrentState state;
  double nats = 0;
  if (count <= 0) return 0;
  const bool all = first == 0 && count == stream.inputs.size(1);
  for (int64_t i = 0; i < stream.size(); ++i) {
    StopSignals::throw_if_requested();
    auto [x, y] = stream.get(i);
    if (!all) {
      x = x.narrow(1, first, count);
      y = y.narrow(1, first, count);
    }
    LanguageModelOutput out = model->run(x.to(device), state);
    state = out.state;
    nats += model->nll(out, y.to(device), datasets::Vocab::kPad, /*mean=*/false).item<double>();
  }
  return nats;
}

Metrics stream_metrics(const StreamBatches& stream, double nats) {
  double loss = nats / static_cast<double>(stream.tokens);
  return {{"loss", loss},
          {"ppl", std::exp(loss)},
          {"bpc", nats / std::log(2.0) / static_cast<double>(std::max<int64_t>(1, stream.chars))}};
}

Metrics evaluate_stream(LanguageModel& model, const StreamBatches& stream, torch::Device device) {
  if (!stream.inputs.defined() || stream.tokens == 0) return {};
  return stream_metrics(stream, stream_nats(model, stream, device, 0, stream.inputs.size(1)));
}

std::string generate(LanguageModel& model, const datasets::Tokenizer& tokenizer,
                     const std::string& prompt, int64_t length, double temperature, int64_t top_k,
                     int64_t seed, torch::Device device,
                     const std::function<void(const std::string&)>& on_text) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<int64_t> ids = {datasets::Vocab::kBos};
  const std::vector<int64_t> prompt_ids = tokenizer.encode_strict(prompt, "prompt");
  ids.insert(ids.end(), prompt_ids.begin(), prompt_ids.end());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));

  // Never drawn: <pad>, <unk>, <bos>, and <eos> where it prints as nothing
  // (the char tokenizer), so that N tokens are N visible pieces.
  std::vector<int64_t> banned = {datasets::Vocab::kPad, datasets::Vocab::kUnk,
                                 datasets::Vocab::kBos};
  if (tokenizer.decode({datasets::Vocab::kEos}).empty()) banned.push_back(datasets::Vocab::kEos);
  const torch::Tensor banned_ids = torch::tensor(banned, torch::kLong);

  // The text a token adds after the one before it: what decode() puts
  // between tokens (a word tokenizer's space) included, so that a word
  // prompt is followed by " big", not "big".
  int64_t previous = ids.back();
  auto piece_after = [&](int64_t id) {
    const std::string before = tokenizer.decode({previous});
    const std::string both = tokenizer.decode({previous, id});
    return both.compare(0, before.size(), before) == 0 ? both.substr(before.size())
                                                       : tokenizer.decode({id});
  };

  // Read the prompt (with <bos> in front), then feed back one sampled token at a time.
  torch::Tensor x = torch::tensor(ids, torch::kLong).view({-1, 1}).to(device);
  RecurrentState state;
  std::string text = prompt;
  if (on_text) on_text(prompt);
  for (int64_t step = 0; step < length; ++step) {
    auto [logits, next] = model->forward(x, state);
    state = next;
    torch::Tensor last = logits[-1][0].to(torch::kCPU, torch::kDouble);  // (V)
    last.index_fill_(0, banned_ids, -INFINITY);
    int64_t id;
    if (temperature == 0) {
      id = last.argmax().item<int64_t>();
    } else {
      torch::Tensor scores = last / temperature;
      if (top_k > 0 && top_k < scores.size(0)) {
        torch::Tensor kth = std::get<0>(scores.topk(top_k)).min();
        scores = scores.masked_fill(scores < kth, -INFINITY);
      }
      id = torch::multinomial(torch::softmax(scores, 0), 1, false, gen).item<int64_t>();
    }
    const std::string piece = piece_after(id);
    text += piece;
    if (on_text) on_text(piece);
    previous = id;
    x = torch::full({1, 1}, id, torch::kLong).to(device);
  }
  return text;
}

// ---- starting from a trained language model ----

std::unique_ptr<LmStart> open_lm_start(const std::string& path, const std::string& key) {
  auto lm = std::make_unique<LmStart>();
  lm->path = path;
  lm->cfg.bind(lm->schema);
  try {
    lm->run = open_trained_run(lm->schema, lm->cfg.run, RunChoice{path, "", ""}, "rnnlab-lm");
  } catch (const Error& e) {
    throw ConfigError("key '" + key + "': " + std::string(e.what()));
  }
  return lm;
}

void LmStart::check_same(const ConfigSchema& mine,
                         const std::vector<std::pair<std::string, std::string>>& keys,
                         const std::string& key) const {
  auto value = [](const ConfigSchema& s, const std::string& k) {
    const ConfigField* f = s.find(k);
    if (!f) throw std::logic_error("LmStart::check_same: no key '" + k + "'");
    YAML::Emitter out;
    out << YAML::Flow << f->to_node();
    return std::string(out.c_str());
  };
  for (const auto& [k, theirs] : keys) {
    std::string a = value(mine, k), b = value(schema, theirs);
    if (a != b)
      throw ConfigError(
          fmt::format("key '{}': {} here, {} in {}'s language model '{}'; they must "
                      "match",
                      k, a, b, key, path));
  }
}

// ---- the task ----

LMTask::LMTask(const LMConfig& cfg, const std::string& tokenizer_dir, torch::Device device)
    : cfg_(cfg), device_(device) {
  const auto& d = cfg.data;
  if (d.train.empty() == d.text.empty())
    throw ConfigError("set exactly one of data.train (a text file) and data.text (inline text)");
  std::string train_file = d.text.empty() ? data_path(cfg.run, d.train, "data.train") : "data.text";
  std::string text;
  if (d.text.empty()) {
    text = datasets::read_text_file(train_file);
  } else {
    datasets::check_utf8(d.text, train_file);
    for (int64_t i = 0; i < d.text_repeat; ++i) text += d.text;
  }
  std::vector<std::string> parts = split_by_fraction(text, d.valid.empty() ? d.valid_fraction : 0.0,
                                                     d.test.empty() ? d.test_fraction : 0.0);
  if (!d.valid.empty())
    parts[1] = datasets::read_text_file(data_path(cfg.run, d.valid, "data.valid"));
  if (!d.test.empty()) parts[2] = datasets::read_text_file(data_path(cfg.run, d.test, "data.test"));

  std::unique_ptr<LmStart> start;
  if (!tokenizer_dir.empty()) {
    tokenizer_ = datasets::load_tokenizer(tokenizer_dir);
  } else if (!cfg.model.init_from.empty()) {
    // Fine-tuning: the run's tokenizer (its ids are its embedding's rows).
    start = open_lm_start(cfg.model.init_from, "model.init_from");
    LMConfig mine = cfg;
    ConfigSchema schema;
    mine.bind(schema);
    std::vector<std::pair<std::string, std::string>> keys;
    for (const char* k : {"model.embedding", "model.tie_weights", "model.last_hidden",
                          "model.adaptive_softmax.cutoffs", "model.adaptive_softmax.div_value",
                          "model.rnn.type", "model.rnn.hidden", "model.rnn.layers",
                          "model.rnn.proj_size", "model.rnn.layer_norm", "model.rnn.nonlinearity"})
      keys.emplace_back(k, k);
    start->check_same(schema, keys, "model.init_from");
    tokenizer_ = datasets::load_tokenizer((start->run.dir / "tokenizer").string());
  } else {
    // Trained on the training split only.
    if (parts[0].empty())
      throw DataError(train_file + ": no training text is left (" + std::to_string(text.size()) +
                      " bytes, with data.valid_fraction " + fmt::format("{}", d.valid_fraction) +
                      " and data.test_fraction " + fmt::format("{}", d.test_fraction) +
                      " held out)");
    tokenizer_ = train_tokenizer_for(d.tokenizer, "data.tokenizer", {parts[0]});
  }

  auto layout = [&](const std::string& part, int64_t batch_size) {
    return layout_text(*tokenizer_, part, batch_size, d.bptt, train_file);
  };
  train_ = layout(parts[0], d.batch_size);
  warn_literal_specials(*tokenizer_, parts[0], train_file);
  if (train_.tokens < d.batch_size * d.bptt)
    throw DataError(train_file + ": the training text has " + std::to_string(train_.tokens) +
                    " tokens, too few for data.batch_size " + std::to_string(d.batch_size) +
                    " x data.bptt " + std::to_string(d.bptt) + " (" +
                    std::to_string(d.batch_size * d.bptt) + " needed)");
  // Validation and test: a warning where their layout misleads (layout_eval_text).
  auto held_out = [&](const std::string& file, const std::string& key, const std::string& split) {
    return file.empty() ? "the " + split + " part of " + train_file : file + " (" + key + ")";
  };
  if (!parts[1].empty())
    valid_ = layout_eval_text(*tokenizer_, parts[1], d.eval_batch_size, d.bptt,
                              held_out(d.valid, "data.valid", "validation"), d.oov == "error");
  if (!parts[2].empty())
    test_ = layout_eval_text(*tokenizer_, parts[2], d.eval_batch_size, d.bptt,
                             held_out(d.test, "data.test", "test"), d.oov == "error");
  if (d.bpc_per == "token")  // each token is one character (PTB's character files)
    for (StreamBatches* s : {&train_, &valid_, &test_}) s->chars = s->tokens;
  train_chars_per_token_ = static_cast<double>(train_.chars) / train_.tokens;

  const auto& cutoffs = cfg.model.adaptive_cutoffs;
  if (!cutoffs.empty() && cutoffs.back() >= tokenizer_->vocab_size() - 1)
    throw ConfigError(
        fmt::format("key 'model.adaptive_softmax.cutoffs': the last cut-off, {}, must be below the "
                    "vocabulary size less one ({} - 1)",
                    cutoffs.back(), tokenizer_->vocab_size()));
  model_ = build_model(cfg, tokenizer_->vocab_size());
  // A new run's embedding from word vectors (a resumed run's comes from its
  // checkpoint); the words the file lacks keep their initialisation.
  if (!cfg.model.vectors.empty() && tokenizer_dir.empty()) {
    const auto wv = datasets::read_word2vec(
        cfg.model.vectors, datasets::parse_vectors_format(cfg.model.vectors_format));
    const VocabularyVectors v = vocabulary_vectors(*tokenizer_, wv, cfg.model.embedding,
                                                   cfg.model.vectors, "model.embedding");
    torch::NoGradGuard no_grad;
    for (int64_t id = 0; id < tokenizer_->vocab_size(); ++id)
      if (v.covered[static_cast<size_t>(id)]) model_->embedding->weight[id].copy_(v.rows[id]);
    init_note_ =
        fmt::format("model.vectors: {} of the vocabulary's {} words from '{}'", v.count,
                    tokenizer_->vocab_size() - datasets::Vocab::kEos - 1, cfg.model.vectors);
  }
  // After the vectors: the file's tensors win where it has them.
  const std::string pytorch_note =
      apply_init_from_pytorch(*model_, "model.init_from_pytorch", cfg.model.init_from_pytorch,
                              !tokenizer_dir.empty(), [&] { return torch_naming(model_); });
  if (!pytorch_note.empty()) init_note_ += (init_note_.empty() ? "" : "; ") + pytorch_note;
  if (start) {
    load_trained_model(*model_, start->run);
    init_note_ = fmt::format(
        "model.init_from: the tokenizer (vocabulary {}) and every weight of the language model {} "
        "({})",
        tokenizer_->vocab_size(), start->run.dir.string(),
        start->run.checkpoint.filename().string());
  }
  model_->to(device_);
}

void LMTask::save_tokenizer(const fs::path& dir) const {
  fs::create_directories(dir);
  tokenizer_->save(dir.string());
}

std::vector<int64_t> variable_windows(int64_t rows, int64_t windows, int64_t bptt, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::vector<double> lengths(windows);
  double total = 0;
  for (auto& l : lengths) {
    // Merity et al.: bptt w.p. 0.95 else bptt / 2, then max(5, N(that, 5))
    const double base = coin(gen) < 0.95 ? static_cast<double>(bptt) : bptt / 2.0;
    l = std::max(5.0, std::round(std::normal_distribution<double>(base, 5.0)(gen)));
    total += l;
  }
  // starts at round(rows x cumulative share), each window at least one row
  std::vector<int64_t> starts(windows + 1, rows);
  double cumulative = 0;
  for (int64_t i = 0; i < windows; ++i) {
    starts[i] = std::min<int64_t>(std::llround(rows * cumulative / total), rows - (windows - i));
    if (i > 0) starts[i] = std::max(starts[i], starts[i - 1] + 1);
    cumulative += lengths[i];
  }
  return starts;
}

void LMTask::start_epoch(int64_t epoch) {
  hidden_ = RecurrentState();
  if (cfg_.data.variable_bptt)
    windows_ = variable_windows(train_.inputs.size(0), train_.size(), cfg_.data.bptt,
                                datasets::derive_seed(cfg_.run.seed, "bptt", {uint64_t(epoch)}));
}

void LMTask::shard(Collective& collective) {
  const int64_t B = cfg_.data.batch_size, W = collective.size();
  if (B % W != 0)
    throw ConfigError(fmt::format(
        "key 'data.batch_size': {} parallel streams cannot be shared by {} processes; use a "
        "multiple of {}",
        B, W, W));
  collective_ = &collective;
  streams_ = B / W;
  first_stream_ = collective.rank() * streams_;
}

StepOutput LMTask::train_step(int64_t index) {
  auto [x, y] = train_.get(index);
  double lr_scale = 1.0;
  if (!windows_.empty()) {  // variable_bptt: this epoch's window `index`
    const int64_t start = windows_[index], length = windows_[index + 1] - start;
    x = train_.inputs.narrow(0, start, length);
    y = train_.targets.narrow(0, start, length);
    lr_scale = static_cast<double>(length) / cfg_.data.bptt;
  }
  if (streams_ > 0) {  // [T, B] -> this rank's [T, B/W]
    x = x.narrow(1, first_stream_, streams_);
    y = y.narrow(1, first_stream_, streams_);
  }
  y = y.to(device_);
  // Truncated BPTT: start from the carried state, cut off from the last batch's graph.
  LanguageModelOutput run = model_->run(x.to(device_), hidden_.detach());
  hidden_ = run.state.detach();
  torch::Tensor ce = model_->nll(run, y, datasets::Vocab::kPad, /*mean=*/true);
  StepOutput out{ce, (y != datasets::Vocab::kPad).sum().item<int64_t>()};
  const bool regularised = cfg_.ar_alpha > 0 || cfg_.tar_beta > 0;
  if (regularised || cfg_.loss_sum_over_bptt) out.reported_loss = ce.item<double>();
  // AR: alpha mean(h_drop^2); TAR: beta mean((h_t - h_{t-1})^2), h (T, B, F) the last layer's
  if (cfg_.ar_alpha > 0) out.loss = out.loss + cfg_.ar_alpha * run.dropped.pow(2).mean();
  if (cfg_.tar_beta > 0 && run.hidden.size(0) > 1) {
    const int64_t T = run.hidden.size(0);
    torch::Tensor dh = run.hidden.narrow(0, 1, T - 1) - run.hidden.narrow(0, 0, T - 1);
    out.loss = out.loss + cfg_.tar_beta * dh.pow(2).mean();
  }
  // sum_t mean_b loss(t, b) = T x the mean per token (pads aside).
  if (cfg_.loss_sum_over_bptt) out.loss = out.loss * static_cast<double>(x.size(0));
  out.lr_scale = lr_scale;
  return out;
}

Metrics LMTask::evaluate(const std::string& split) {
  const StreamBatches& stream = split == "test" ? test_ : valid_;
  if (!collective_) return evaluate_stream(model_, stream, device_);
  // Data-parallel: rank r scores streams [r B/W, (r+1) B/W) of the B
  // evaluation streams (B need not be a multiple of W); the sum of the
  // ranks' nats is the one-process figure.
  if (!stream.inputs.defined() || stream.tokens == 0) return {};
  const int64_t B = stream.inputs.size(1), W = collective_->size(), r = collective_->rank();
  const int64_t first = B * r / W, last = B * (r + 1) / W;
  double nats = stream_nats(model_, stream, device_, first, last - first);
  return stream_metrics(stream, collective_->sum({nats})[0]);
}

std::vector<MetricInfo> LMTask::metrics() const {
  return {{"loss", false}, {"ppl", false}, {"bpc", false}};
}

Metrics LMTask::loss_metrics(double mean_loss) const {
  return {{"ppl", std::exp(mean_loss)},
          {"bpc", mean_loss / std::log(2.0) / train_chars_per_token_}};
}

void LMTask::add_summary(nlohmann::json& summary, double units_per_sec) const {
  // Training throughput in characters of text, whatever the tokenizer.
  summary["chars_per_sec"] = units_per_sec * train_chars_per_token_;
  summary["tokenizer"] = tokenizer_->type();
  summary["vocab_size"] = tokenizer_->vocab_size();
}

std::string LMTask::unit_name() const {
  return tokenizer_->type() == "char" ? "chars" : "tokens";
}

void LMTask::save_state(torch::serialize::OutputArchive& archive) const {
  // The state of all B streams ([layers, B, H]), whatever the world size.
  auto whole = [&](const torch::Tensor& t) {
    return collective_ ? collective_->all_gather(t.cpu(), 1) : t;
  };
  if (hidden_.h.defined()) archive.write("hidden_h", whole(hidden_.h));
  if (hidden_.c.defined()) archive.write("hidden_c", whole(hidden_.c));
}

void LMTask::load_state(torch::serialize::InputArchive& archive) {
  auto mine = [&](const torch::Tensor& t) {
    return (streams_ > 0 ? t.narrow(1, first_stream_, streams_).contiguous() : t).to(device_);
  };
  torch::Tensor h, c;
  if (archive.try_read("hidden_h", h)) hidden_.h = mine(h);
  if (archive.try_read("hidden_c", c)) hidden_.c = mine(c);
}

// ---- the job ----

LMJob::LMJob(const LMConfig& cfg, const ConfigSchema& schema, const fs::path& resume_dir)
    : cfg_(cfg), device_(resolve_device(cfg.run.device)) {
  task_ = std::make_unique<LMTask>(
      cfg, resume_dir.empty() ? "" : (resume_dir / "tokenizer").string(), device_);
  // The sample's prompt must be readable before hours of training, not after.
  if (cfg.sample.length > 0) {
    try {
      task_->tokenizer().encode_strict(cfg.sample.prompt, "prompt");
    } catch (const DataError& e) {
      throw schema.error("sample.prompt",
                         std::string(e.what()) + " (the sample after training could not start)");
    }
  }
  trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema);
}

void LMJob::save_assets(const RunDir& dir) {
  task_->save_tokenizer(dir.file("tokenizer"));
}

nlohmann::json LMJob::run(const RunDir& dir, bool resume, const std::string& label,
                          const std::function<void(int64_t)>& on_resumed) {
  const LMConfig& cfg = cfg_;
  int64_t n_params = 0;
  for (const auto& p : task_->model().parameters()) n_params += p.numel();
  trainer_->set_intro(
      {fmt::format("{} tokenizer, vocabulary {}; {} train / {} valid / {} test tokens; {} batches "
                   "of {}x{} per "
                   "epoch",
                   task_->tokenizer().type(), task_->tokenizer().vocab_size(),
                   task_->tokens("train"), task_->tokens("valid"), task_->tokens("test"),
                   task_->batches_per_epoch(), cfg.data.batch_size, cfg.data.bptt),
       fmt::format("model: {} {} x{} hidden {}{} ({}), {} parameters, device {}, seed {}",
                   cfg.model.rnn.impl, cfg.model.rnn.type, cfg.model.rnn.stack.num_layers(),
                   cfg.model.rnn.stack.hidden_size(),
                   cfg.model.last_hidden > 0 ? fmt::format(", last {}", cfg.model.last_hidden) : "",
                   cfg.model.tie_weights ? "tied" : "untied", n_params, device_.str(),
                   cfg.run.seed)});
  if (!task_->init_note().empty()) trainer_->add_intro(task_->init_note());
  trainer_->set_label(label);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  trainer_->on_finish([&](nlohmann::json&) {
    // sample.length 0: an empty sample.txt, so that every finished run has one.
    std::string text =
        cfg.sample.length <= 0
            ? std::string()
            : generate(task_->lm(), task_->tokenizer(), cfg.sample.prompt, cfg.sample.length,
                       cfg.sample.temperature, cfg.sample.top_k, cfg.run.seed, device_);
    write_file_atomic(dir.file("sample.txt"), text.empty() ? text : text + "\n");
    if (!text.empty()) logger()->info("sample (temperature {}):\n{}", cfg.sample.temperature, text);
  });
  nlohmann::json summary = trainer_->fit(dir, resume);
  for (const char* key : {"val_loss", "val_bpc", "val_ppl", "test_loss", "test_bpc", "test_ppl"})
    if (summary.contains(key)) logger()->info("{} {:.4f}", key, summary[key].get<double>());
  return summary;
}

}  // namespace rnnlab::lm
