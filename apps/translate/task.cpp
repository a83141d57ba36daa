// The translation task (see task.h).
#include "apps/translate/task.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/translate/bleu.h"
#include "core/error.h"
#include "datasets/batching.h"
#include "datasets/vocab.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace rnnlab::translate {

// ---- config ----

TranslateConfig::TranslateConfig() {
  data.tokenizer.type = "sentencepiece";
  data.tokenizer.spm_vocab_size = 8000;
  model.encoder.stack.hidden_size(256).bidirectional(true);
  model.encoder.type = "gru";
  model.decoder.stack.hidden_size(512);
  model.decoder.type = "gru";
  train.max_epochs = 20;
  train.patience = 4;
  train.early_stop_metric = "bleu";
  train.log_every = 100;
  optim.lr = 1e-3;
}

void TranslateConfig::bind(ConfigSchema& s) {
  s.add("data.train", &data.train,
        "training files: <data.train>.<data.src> and <data.train>.<data.tgt>, line-aligned, "
        "relative to run.data_root");
  s.add("data.valid", &data.valid, "validation files, as data.train");
  s.add("data.test", &data.test, "test files, as data.train (\"\": none)");
  s.add("data.src", &data.src, "source language: the files' suffix (en)");
  s.add("data.tgt", &data.tgt, "target language: the files' suffix (de)");
  s.add("data.joint_vocab", &data.joint_vocab,
        "one tokenizer trained on both sides (false: one per side)");
  bind_tokenizer(s, "data.tokenizer", &data.tokenizer);
  s.add("data.max_length", &data.max_length,
        "drop training pairs with a side longer than this many tokens (0: keep all)")
      .range(0, 1 << 20);
  s.add("data.max_ratio", &data.max_ratio,
        "drop training pairs whose longer side has more than this times the shorter's tokens "
        "(0: keep all)")
      .range(0.0, 1e6);
  s.add("data.max_tokens", &data.max_tokens,
        "token budget of a training batch: sentences x longest side (fairseq's --max-tokens)")
      .range(1, 1 << 24);
  s.add("data.max_sentences", &data.max_sentences, "cap on sentences per batch (0: none)")
      .range(0, 1 << 20);
  s.add("data.eval_batch_size", &data.eval_batch_size, "sentences per batch when decoding")
      .range(1, 1 << 16);
  s.add("data.limit_train", &data.limit_train,
        "use only the first N training pairs (0: all; for quick runs)")
      .range(0, INT64_MAX);
  s.add("model.embedding", &model.embedding, "source and target embedding size").range(1, 1 << 16);
  model.encoder.bind(s, "model.encoder");
  model.decoder.bind(s, "model.decoder");
  s.add("model.attention", &model.attention,
        "none (a fixed context, Sutskever/Cho), bahdanau (additive), luong_dot, luong_general")
      .choices({"none", "bahdanau", "luong_dot", "luong_general"});
  s.add("model.input_feeding", &model.input_feeding,
        "feed the last attentional state into the next decoder input (Luong)");
  bind_init_from_pytorch(s, "model", &model.init_from_pytorch);
  s.add("model.tie_embeddings", &model.tie_embeddings,
        "the output layer uses the target embedding table (needs model.embedding = "
        "model.decoder.hidden)");
  s.add("model.dropout", &model.dropout, "dropout on embeddings and attentional states")
      .range(0.0, 0.99);
  s.add("model.label_smoothing", &model.label_smoothing, "label smoothing of the training loss")
      .range(0.0, 0.99);
  s.add("model.teacher_forcing", &model.teacher_forcing,
        "share of gold previous tokens fed to the decoder at the first update (1: always)")
      .range(0.0, 1.0);
  s.add("model.teacher_forcing_end", &model.teacher_forcing_end,
        "... at the last update, linearly in between (scheduled sampling below 1)")
      .range(0.0, 1.0);
  s.add("decode.beam", &decode.beam, "beam size of test decoding and `translate` (1: greedy)")
      .range(1, 1000)
      .resumable();
  s.add("decode.valid_beam", &decode.valid_beam, "beam size of validation BLEU").range(1, 1000);
  s.add("decode.length_penalty", &decode.length_penalty,
        "hypotheses are compared by log-probability / length^this")
      .range(0.0, 10.0);
  s.add("decode.max_len_a", &decode.max_len_a,
        "a translation stops after a * source length + b tokens")
      .range(0.0, 100.0);
  s.add("decode.max_len_b", &decode.max_len_b, "see decode.max_len_a").range(0, 1 << 20);
  s.add("decode.max_source_len", &decode.max_source_len,
        "a longer source is cut to this many tokens, with a warning (0: twice the longest "
        "training source)")
      .range(0, 1 << 24);
  run.bind(s);
  train.bind(s);
  optim.bind(s);
}

void TranslateConfig::validate(const ConfigSchema& s) const {
  if (data.src == data.tgt)
    throw s.error("data.tgt", "source and target are both '" + data.src + "'");
  for (const auto& [key, prefix] :
       {std::pair<std::string, std::string>{"data.train", data.train}, {"data.valid", data.valid}})
    if (prefix.empty())
      throw s.error(key,
                    "needs the files' common prefix (data/multi30k/train for train.en and "
                    "train.de); it is empty");
  model.encoder.validate(s, "model.encoder");
  model.decoder.validate(s, "model.decoder");
  if (model.encoder.type != model.decoder.type)
    throw s.error("model.decoder.type",
                  "the decoder starts from the encoder's bridged state, so "
                  "its cell must be the encoder's (" +
                      model.encoder.type + ")");
  if (model.decoder.stack.bidirectional())
    throw s.error("model.decoder.bidirectional", "a decoder writes left to right");
  if (model.encoder.stack.proj_size() > 0 || model.decoder.stack.proj_size() > 0)
    throw s.error(
        model.encoder.stack.proj_size() > 0 ? "model.encoder.proj_size" : "model.decoder.proj_size",
        "not supported by the translation model");
  const int64_t enc_out = model.encoder.stack.output_size();
  const int64_t dec_hidden = model.decoder.stack.hidden_size();
  if (model.attention == "luong_dot" && enc_out != dec_hidden)
    throw s.error("model.attention",
                  "luong_dot needs model.decoder.hidden (" + std::to_string(dec_hidden) +
                      ") equal to the encoder's output size (" + std::to_string(enc_out) + ")");
  if (model.tie_embeddings && model.embedding != dec_hidden)
    throw s.error("model.tie_embeddings",
                  "needs model.embedding (" + std::to_string(model.embedding) +
                      ") equal to model.decoder.hidden (" + std::to_string(dec_hidden) + ")");
  if (model.teacher_forcing_end != model.teacher_forcing && train.max_steps == 0 &&
      train.max_epochs == 0)
    throw s.error("model.teacher_forcing_end",
                  "a decaying teacher-forcing ratio needs train.max_steps or train.max_epochs");
  if (decode.max_len_a == 0 && decode.max_len_b == 0)
    throw s.error("decode.max_len_b",
                  "with decode.max_len_a 0 too, every translation would be empty (a translation "
                  "stops after max_len_a x source length + max_len_b tokens)");
  train.validate(s);
  optim.validate(s, train);
}

DecodeOptions TranslateConfig::decode_options(int64_t beam, int64_t longest_train_source) const {
  DecodeOptions o;
  o.beam = beam;
  o.length_penalty = decode.length_penalty;
  o.max_len_a = decode.max_len_a;
  o.max_len_b = decode.max_len_b;
  o.max_source_len = decode.max_source_len > 0  ? decode.max_source_len
                     : longest_train_source > 0 ? kDefaultSourceBound * longest_train_source
                                                : kUnknownSourceBound;
  o.bos_id = datasets::Vocab::kBos;
  o.eos_id = datasets::Vocab::kEos;
  return o;
}

// ---- tokenizers ----

Tokenizers Tokenizers::load(const fs::path& run_dir) {
  Tokenizers t;
  if (fs::exists(run_dir / "tokenizer")) {
    t.src = datasets::load_tokenizer((run_dir / "tokenizer").string());
    t.tgt = t.src;
  } else {
    t.src = datasets::load_tokenizer((run_dir / "tokenizer_src").string());
    t.tgt = datasets::load_tokenizer((run_dir / "tokenizer_tgt").string());
  }
  return t;
}

void Tokenizers::save(const fs::path& run_dir) const {
  if (src == tgt) {
    src->save((run_dir / "tokenizer").string());
  } else {
    src->save((run_dir / "tokenizer_src").string());
    tgt->save((run_dir / "tokenizer_tgt").string());
  }
}

// ---- model and decoding ----

TorchNaming torch_naming(const Seq2Seq& model) {
  TorchNaming n;
  if (model->output_bias.defined()) {
    // logits = a W_tgt^T + b: torch.nn.Linear(A, V) with weight W_tgt.
    const auto& w = model->tgt_embedding->weight;
    n.renames.emplace_back("output_bias", "output.bias");
    n.derived.emplace_back("output.weight", w);
    n.modules["output"] = {
        {"class", "Linear"},
        {"args", {{"in_features", w.size(1)}, {"out_features", w.size(0)}, {"bias", true}}}};
  }
  return n;
}

Seq2Seq build_model(const TranslateConfig& cfg, int64_t src_vocab, int64_t tgt_vocab) {
  const auto& m = cfg.model;
  return Seq2Seq(Seq2SeqOptions(src_vocab, tgt_vocab, m.encoder.options(m.embedding),
                                m.decoder.options(m.embedding))
                     .attention(m.attention)
                     .input_feeding(m.input_feeding)
                     .tie_embeddings(m.tie_embeddings)
                     .dropout(m.dropout));
}

std::vector<std::string> translate_texts(Seq2Seq& model, const Tokenizers& tok,
                                         const std::vector<std::string>& texts,
                                         const DecodeOptions& options, int64_t batch_size,
                                         torch::Device device,
                                         std::vector<Hypothesis>* hypotheses) {
  std::vector<std::string> out(texts.size());
  if (hypotheses) hypotheses->assign(texts.size(), {});
  std::vector<std::vector<int64_t>> ids;
  std::vector<int64_t> which;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].find_first_not_of(" \t\r\n") == std::string::npos) continue;
    ids.push_back(tok.src->encode(texts[i]));
    if (ids.back().empty()) ids.back().push_back(datasets::Vocab::kUnk);
    const auto n = static_cast<int64_t>(ids.back().size());
    if (options.max_source_len > 0 && n > options.max_source_len) {
      logger()->warn(
          "line {}: the source has {} tokens; cut to its first {} (decode.max_source_len)", i + 1,
          n, options.max_source_len);
      ids.back().resize(static_cast<size_t>(options.max_source_len));
    }
    which.push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    StopSignals::throw_if_requested();
    std::vector<int64_t> idx(
        order.begin() + static_cast<int64_t>(start),
        order.begin() + static_cast<int64_t>(std::min(order.size(), start + batch_size)));
    datasets::PaddedBatch b = datasets::pad_batch(ids, idx);
    std::vector<Hypothesis> hyps =
        translate_batch(model, b.tokens.to(device), b.lengths.to(device), options);
    for (size_t j = 0; j < idx.size(); ++j) {
      auto i = static_cast<size_t>(which[static_cast<size_t>(idx[j])]);
      out[i] = tok.tgt->decode(hyps[j].tokens);
      if (hypotheses) (*hypotheses)[i] = std::move(hyps[j]);
    }
  }
  return out;
}

void check_references(const std::vector<std::string>& refs, const std::string& name) {
  for (size_t i = 0; i < refs.size(); ++i)
    if (refs[i].empty())
      throw DataError(name + ":" + std::to_string(i + 1) + ": empty reference line");
}

// ---- the task ----

TranslateTask::TranslateTask(const TranslateConfig& cfg, const fs::path& resume_dir,
                             torch::Device device)
    : cfg_(cfg), device_(device) {
  const auto& d = cfg.data;
  auto read = [&](const std::string& prefix, const std::string& key) {
    std::string src = data_path(cfg.run, prefix + "." + d.src, key);  // source first
    std::string tgt = data_path(cfg.run, prefix + "." + d.tgt, key);
    return datasets::read_parallel(src, tgt);
  };
  train_.text = read(d.train, "data.train");
  if (d.limit_train > 0 && d.limit_train < train_.text.size()) {
    train_.text.src.resize(static_cast<size_t>(d.limit_train));
    train_.text.tgt.resize(static_cast<size_t>(d.limit_train));
  }
  valid_.text = read(d.valid, "data.valid");
  check_references(valid_.text.tgt, valid_.text.tgt_path);
  if (!d.test.empty()) {
    test_.text = read(d.test, "data.test");
    check_references(test_.text.tgt, test_.text.tgt_path);
  }

  if (!resume_dir.empty()) {
    tok_ = Tokenizers::load(resume_dir);
  } else {
    if (d.joint_vocab) {
      std::vector<std::string> both = train_.text.src;
      both.insert(both.end(), train_.text.tgt.begin(), train_.text.tgt.end());
      tok_.src = train_tokenizer_for(d.tokenizer, "data.tokenizer", both);
      tok_.tgt = tok_.src;
    } else {
      tok_.src = train_tokenizer_for(d.tokenizer, "data.tokenizer", train_.text.src);
      tok_.tgt = train_tokenizer_for(d.tokenizer, "data.tokenizer", train_.text.tgt);
    }
  }
  auto encode = [&](Split& s) {
    for (const auto& t : s.text.src) s.src.push_back(tok_.src->encode(t));
    for (const auto& t : s.text.tgt) s.tgt.push_back(tok_.tgt->encode(t));
  };
  encode(train_);
  encode(valid_);
  encode(test_);

  // Length filter of the training pairs (the target counts its <eos>).
  std::vector<int64_t> sl, tl;
  for (size_t i = 0; i < train_.src.size(); ++i) {
    sl.push_back(static_cast<int64_t>(train_.src[i].size()));
    tl.push_back(static_cast<int64_t>(train_.tgt[i].size()) + 1);
  }
  datasets::LengthFilter filter;
  filter.min_length = 1;
  filter.max_length = d.max_length;
  filter.max_ratio = d.max_ratio;
  std::vector<int64_t> keep = datasets::filter_by_length(sl, tl, filter);
  // A pair with an empty side teaches nothing (an empty source cannot even be
  // encoded; an empty target teaches to stop at once): dropped, and counted.
  keep.erase(std::remove_if(keep.begin(), keep.end(),
                            [&](int64_t i) { return sl[i] == 0 || train_.tgt[i].empty(); }),
             keep.end());
  dropped_ = train_.text.size() - static_cast<int64_t>(keep.size());
  Split kept;
  kept.text.src_path = train_.text.src_path;
  kept.text.tgt_path = train_.text.tgt_path;
  for (int64_t i : keep) {
    kept.text.src.push_back(train_.text.src[i]);
    kept.text.tgt.push_back(train_.text.tgt[i]);
    kept.src.push_back(std::move(train_.src[i]));
    kept.tgt.push_back(std::move(train_.tgt[i]));
  }
  train_ = std::move(kept);
  for (const auto& s : train_.src)
    longest_src_ = std::max(longest_src_, static_cast<int64_t>(s.size()));
  if (train_.src.empty())
    throw DataError(train_.text.src_path +
                    ": no training pair is left after the length filter "
                    "(data.max_length, data.max_ratio)");
  model_ = build_model(cfg, tok_.src->vocab_size(), tok_.tgt->vocab_size());
  init_note_ =
      apply_init_from_pytorch(*model_, "model.init_from_pytorch", cfg.model.init_from_pytorch,
                              !resume_dir.empty(), [&] { return torch_naming(model_); });
  model_->to(device_);
  batches_ = epoch_batches(0);
}

std::string TranslateTask::loss_label() const {
  if (cfg_.model.label_smoothing > 0)
    return fmt::format("cross-entropy, labels smoothed by {} (nats per target token)",
                       cfg_.model.label_smoothing);
  return "cross-entropy (nats per target token)";
}

std::string TranslateTask::describe() const {
  return fmt::format(
      "data: {} -> {}; {} training pairs ({} dropped by the length filter), {} valid, {} test; "
      "{} tokenizer{}, vocabulary {} / {}; {} batches of at most {} tokens",
      cfg_.data.src, cfg_.data.tgt, train_.src.size(), dropped_, valid_.src.size(),
      test_.src.size(), tok_.src->type(), tok_.src == tok_.tgt ? " (joint)" : "s (per side)",
      tok_.src->vocab_size(), tok_.tgt->vocab_size(), batches_.size(), cfg_.data.max_tokens);
}

std::vector<std::vector<int64_t>> TranslateTask::epoch_batches(int64_t epoch) const {
  std::vector<int64_t> sl, tl;
  for (size_t i = 0; i < train_.src.size(); ++i) {
    sl.push_back(static_cast<int64_t>(train_.src[i].size()));
    tl.push_back(static_cast<int64_t>(train_.tgt[i].size()) + 1);
  }
  datasets::TokenBudgetOptions o;
  o.max_tokens = cfg_.data.max_tokens;
  o.max_sentences = cfg_.data.max_sentences;
  o.seed = datasets::epoch_seed(static_cast<uint64_t>(cfg_.run.seed), epoch);
  return datasets::batch_by_tokens(datasets::max_lengths(sl, tl), o);
}

void TranslateTask::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  batches_ = epoch_batches(epoch);
}

namespace {

/// tgt_in = <bos> y and tgt_out = y <eos> for the examples of `idx`, (T, B).
std::pair<torch::Tensor, torch::Tensor> target_batch(const std::vector<std::vector<int64_t>>& tgt,
                                                     const std::vector<int64_t>& idx) {
  std::vector<std::vector<int64_t>> in, out;
  for (int64_t i : idx) {
    std::vector<int64_t> a = {datasets::Vocab::kBos};
    a.insert(a.end(), tgt[i].begin(), tgt[i].end());
    std::vector<int64_t> b = tgt[i];
    b.push_back(datasets::Vocab::kEos);
    in.push_back(std::move(a));
    out.push_back(std::move(b));
  }
  std::vector<int64_t> all(idx.size());
  std::iota(all.begin(), all.end(), 0);
  return {datasets::pad_batch(in, all).tokens, datasets::pad_batch(out, all).tokens};
}

}  // namespace

StepOutput TranslateTask::train_step(int64_t index) {
  // Data-parallel: this rank's sentence pairs of the batch, balanced by
  // source and target tokens.
  const std::vector<int64_t> idx = share(batches_[static_cast<size_t>(index)], [&](int64_t i) {
    return static_cast<int64_t>(train_.src[static_cast<size_t>(i)].size() +
                                train_.tgt[static_cast<size_t>(i)].size() + 1);
  });
  if (idx.empty()) return no_examples();
  datasets::PaddedBatch src = datasets::pad_batch(train_.src, idx);
  auto [tin, tout] = target_batch(train_.tgt, idx);
  // Teacher forcing decays linearly from its start to its end value.
  double ratio = cfg_.model.teacher_forcing;
  if (cfg_.model.teacher_forcing_end != cfg_.model.teacher_forcing) {
    const int64_t per_epoch = batches_per_epoch();
    const int64_t total =
        cfg_.train.max_steps > 0 ? cfg_.train.max_steps : cfg_.train.max_epochs * per_epoch;
    double progress = std::min(1.0, static_cast<double>(epoch_ * per_epoch + index) /
                                        static_cast<double>(std::max<int64_t>(1, total)));
    ratio += (cfg_.model.teacher_forcing_end - cfg_.model.teacher_forcing) * progress;
  }
  torch::Tensor logits = model_->forward(src.tokens.to(device_), src.lengths.to(device_),
                                         tin.to(device_), 1.0 - ratio);
  torch::Tensor target = tout.to(device_);
  torch::Tensor loss = F::cross_entropy(logits.flatten(0, 1), target.flatten(),
                                        F::CrossEntropyFuncOptions()
                                            .ignore_index(datasets::Vocab::kPad)
                                            .label_smoothing(cfg_.model.label_smoothing));
  return {loss, (target != datasets::Vocab::kPad).sum().item<int64_t>()};
}

Metrics TranslateTask::evaluate(const std::string& split) {
  const bool test = split == "test";
  Split& s = test ? test_ : valid_;
  if (s.src.empty()) return {};
  torch::NoGradGuard no_grad;
  model_->eval();
  // Loss and perplexity by teacher forcing (no smoothing), over non-empty sources.
  // Data-parallel: this rank's part of the sentences; the summed loss and
  // its tokens add up over the ranks, the decoded parts are joined.
  const auto [first, last] = eval_part(static_cast<int64_t>(s.src.size()));
  std::vector<int64_t> usable;
  for (int64_t i = first; i < last; ++i)
    if (!s.src[static_cast<size_t>(i)].empty()) usable.push_back(i);
  double nats = 0;
  int64_t tokens = 0;
  for (size_t start = 0; start < usable.size(); start += cfg_.data.eval_batch_size) {
    StopSignals::throw_if_requested();
    std::vector<int64_t> idx(
        usable.begin() + static_cast<int64_t>(start),
        usable.begin() +
            static_cast<int64_t>(std::min(usable.size(), start + cfg_.data.eval_batch_size)));
    datasets::PaddedBatch src = datasets::pad_batch(s.src, idx);
    auto [tin, tout] = target_batch(s.tgt, idx);
    torch::Tensor logits =
        model_->forward(src.tokens.to(device_), src.lengths.to(device_), tin.to(device_));
    torch::Tensor target = tout.to(device_);
    nats +=
        F::cross_entropy(
            logits.flatten(0, 1), target.flatten(),
            F::CrossEntropyFuncOptions().ignore_index(datasets::Vocab::kPad).reduction(torch::kSum))
            .item<double>();
    tokens += (target != datasets::Vocab::kPad).sum().item<int64_t>();
  }
  std::vector<double> sums = sum_over_ranks({nats, static_cast<double>(tokens)});
  double loss = sums[0] / std::max(1.0, sums[1]);
  // BLEU and chrF of decoded output against the raw reference lines.
  std::vector<std::string> part(s.text.src.begin() + first, s.text.src.begin() + last);
  std::vector<std::string> hyps = gather_over_ranks(translate_texts(
      model_, tok_, part,
      cfg_.decode_options(test ? cfg_.decode.beam : cfg_.decode.valid_beam, longest_src_),
      cfg_.data.eval_batch_size, device_));
  BleuResult bleu = corpus_bleu(hyps, {s.text.tgt});
  ChrfResult chrf = corpus_chrf(hyps, {s.text.tgt});
  if (test) test_hyps_ = hyps;
  return {{"loss", loss}, {"ppl", std::exp(loss)}, {"bleu", bleu.score}, {"chrf", chrf.score}};
}

std::vector<MetricInfo> TranslateTask::metrics() const {
  return {{"bleu", true}, {"chrf", true}, {"loss", false}, {"ppl", false}};
}

Metrics TranslateTask::loss_metrics(double mean_loss) const {
  return {{"ppl", std::exp(mean_loss)}};
}

void TranslateTask::add_summary(nlohmann::json& summary, double) const {
  summary["train_pairs"] = train_.src.size();
  summary["train_pairs_dropped"] = dropped_;
  summary["src_vocab"] = tok_.src->vocab_size();
  summary["tgt_vocab"] = tok_.tgt->vocab_size();
  summary["beam"] = cfg_.decode.beam;
}

// ---- the job ----

TranslateJob::TranslateJob(const TranslateConfig& cfg, const ConfigSchema& schema,
                           const fs::path& resume_dir)
    : cfg_(cfg), device_(resolve_device(cfg.run.device)) {
  task_ = std::make_unique<TranslateTask>(cfg, resume_dir, device_);
  trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema);
}

int64_t read_longest_train_source(const fs::path& run_dir) {
  fs::path file = run_dir / "limits.json";
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return 0;
  auto j = nlohmann::json::parse(read_file(file), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("longest_train_source") ||
      !j["longest_train_source"].is_number_integer())
    throw DataError("'" + file.string() + "' is not a limits file (longest_train_source)");
  return j["longest_train_source"].get<int64_t>();
}

void TranslateJob::save_assets(const RunDir& dir) {
  task_->tokenizers().save(dir.path());
  // The default bound of a source when the run translates later.
  write_file_atomic(
      dir.file("limits.json"),
      nlohmann::json{{"longest_train_source", task_->longest_train_source()}}.dump() + "\n");
}

nlohmann::json TranslateJob::run(const RunDir& dir, bool resume, const std::string& label,
                                 const std::function<void(int64_t)>& on_resumed) {
  const auto& m = cfg_.model;
  int64_t n_params = 0;
  for (const auto& p : task_->model().parameters()) n_params += p.numel();
  trainer_->set_intro(
      {task_->describe(),
       fmt::format(
           "model: {} {} encoder {}x{}{}, decoder {}x{}, attention {}{}{}, embedding {}, "
           "dropout {}, label smoothing {}; {} parameters, device {}, seed {}",
           m.encoder.impl, m.encoder.type, m.encoder.stack.num_layers(),
           m.encoder.stack.hidden_size(), m.encoder.stack.bidirectional() ? " bidirectional" : "",
           m.decoder.stack.num_layers(), m.decoder.stack.hidden_size(), m.attention,
           m.input_feeding ? ", input feeding" : "", m.tie_embeddings ? ", tied" : "", m.embedding,
           m.dropout, m.label_smoothing, n_params, device_.str(), cfg_.run.seed)});
  if (!task_->init_note().empty()) trainer_->add_intro(task_->init_note());
  trainer_->set_label(label);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  trainer_->on_finish([&](nlohmann::json&) {
    if (task_->test_hypotheses().empty()) return;
    std::string text;
    for (const auto& h : task_->test_hypotheses()) text += h + "\n";
    write_file_atomic(dir.file("test.hyp"), text);
  });
  nlohmann::json summary = trainer_->fit(dir, resume);
  for (const char* key : {"val_bleu", "val_ppl", "test_bleu", "test_chrf"})
    if (summary.contains(key)) logger()->info("{} {:.2f}", key, summary[key].get<double>());
  return summary;
}

}  // namespace rnnlab::translate
