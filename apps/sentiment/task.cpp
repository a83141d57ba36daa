// The sentiment task (see task.h).
#include "apps/sentiment/task.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/framework/distributed.h"
#include "apps/framework/vectors.h"
#include "apps/lm/task.h"
#include "core/error.h"
#include "datasets/batching.h"
#include "datasets/vocab.h"
#include "datasets/word_vectors.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace rnnlab::sentiment {

// ---- config ----

SentimentConfig::SentimentConfig() {
  data.tokenizer.type = "word";
  data.tokenizer.split_punctuation = false;  // Kim's cleaning already spaces punctuation out
  model.rnn.stack.hidden_size(150);
  train.max_epochs = 10;
  train.patience = 3;
  train.early_stop_metric = "accuracy";
  train.log_every = 50;
  optim.lr = 1e-3;
}

void SentimentConfig::bind(ConfigSchema& s) {
  s.add("data.class_files", &data.class_files,
        "one file per class, one text per line, as \"label=path\" (MR: "
        "[neg=mr/rt-polarity.neg, pos=mr/rt-polarity.pos])");
  s.add("data.train", &data.train,
        "or: a table (TSV/CSV) of text and label, relative to run.data_root");
  s.add("data.dev", &data.dev,
        "dev table for early stopping (\"\": data.dev_fraction of the training data)");
  s.add("data.test", &data.test,
        "test table (\"\": data.test_fraction of the training data, or no test with 0)");
  s.add("data.test_class_files", &data.test_class_files,
        "or: the test part as one file per class, \"label=path\" with the labels of the "
        "training data (IMDb: [neg=imdb/imdb_test_neg.txt, pos=imdb/imdb_test_pos.txt])");
  s.add("data.delimiter", &data.delimiter, "table field separator").choices({"tab", "comma"});
  s.add("data.header", &data.header, "the table's first line names its columns");
  s.add("data.quoting", &data.quoting,
        "table fields may be quoted with \" (CSV from spreadsheets)");
  s.add("data.text_column", &data.text_column, "text column: a header name or a 1-based number");
  s.add("data.label_column", &data.label_column, "label column: a header name or a 1-based number");
  s.add("data.folds", &data.folds,
        "k-fold cross-validation, stratified (0: one split); the folds run as sub-runs "
        "RUN/fold01..")
      .range(0, 100);
  s.add("data.fold", &data.fold,
        "with data.folds: the fold that is the test part (1..k; 0: every fold, as sub-runs)")
      .range(0, 100);
  s.add("data.dev_fraction", &data.dev_fraction,
        "share of the training part held out (stratified) as dev for early stopping")
      .range(0.0, 0.5);
  s.add("data.test_fraction", &data.test_fraction,
        "without folds or data.test: share held out as test (0: no test)")
      .range(0.0, 0.5);
  s.add("data.split_seed", &data.split_seed,
        "seed of the folds and splits (fixed, so every run.seed sees the same folds)")
      .range(0, INT64_MAX);
  s.add("data.clean", &data.clean,
        "text cleaning before tokenizing: kim (Kim 2014's clean_str: lower case, clitics and "
        "punctuation split off) or none")
      .choices({"kim", "none"});
  s.add("data.max_length", &data.max_length, "truncate texts to this many tokens (0: no limit)")
      .range(0, 1 << 20);
  bind_tokenizer(s, "data.tokenizer", &data.tokenizer);
  s.add("data.batch_size", &data.batch_size, "sentences per training batch").range(1, 1 << 16);
  s.add("data.bucket", &data.bucket,
        "batch sentences of similar length (less padding: 1.5x faster on MR); false: random "
        "batches");
  s.add("data.eval_batch_size", &data.eval_batch_size, "sentences per batch when evaluating")
      .range(1, 1 << 16);
  s.add("model.embedding_dim", &model.embedding_dim,
        "word vector size (with model.vectors: the file's)")
      .range(1, 1 << 16);
  bind_init_from_pytorch(s, "model", &model.init_from_pytorch);
  s.add("model.init_from", &model.init_from,
        "an rnnlab-lm run directory (its best checkpoint) whose tokenizer, embedding and "
        "recurrent stack start the classifier: language-model pre-training, then fine-tuning "
        "(Dai and Le 2015; ULMFiT); the stack's keys must match the LM's (\"\": none)");
  s.add("model.lm_finetune.epochs", &model.lm_finetune.epochs,
        "ULMFiT's target-task LM fine-tuning: before the classifier, train model.init_from's "
        "language model for N more epochs on this run's training part (its dev part as "
        "validation; never the test part), in RUN/lm (an rnnlab-lm run); the classifier then "
        "starts from that run's best checkpoint (0: off)")
      .range(0, 1000);
  s.add("model.lm_finetune.set", &model.lm_finetune.set,
        "more key=value settings of that fine-tuning's language-model config (rnnlab-lm's keys, "
        "on top of the LM run's own config), e.g. [optim.lr=1e-3, data.batch_size=16]");
  bind_vectors(s, "model", &model.vectors, &model.vectors_format, "random U(-0.25, 0.25)");
  s.add("model.embedding_mode", &model.embedding_mode,
        "tune: fine-tune the embedding; freeze: keep it fixed; two_channels: one frozen and one "
        "tuned copy, concatenated")
      .choices({"tune", "freeze", "two_channels"});
  s.add("model.vectors_extend", &model.vectors_extend,
        "also give up to N words of model.vectors (the file's first, i.e. most frequent) that "
        "the training part lacks an id, with their pretrained vectors, so a word first seen at "
        "test time is not <unk> (no training text has them, so they are never updated; 0: off)")
      .range(0, INT64_MAX);
  s.add("model.embedding_lr_scale", &model.embedding_lr_scale,
        "learning rate of the (tuned) embedding, as a multiple of the scheduled optim.lr; below 1 "
        "keeps word2vec vectors closer to where they started")
      .greater(0.0);
  s.add("model.discriminative_lr", &model.discriminative_lr,
        "ULMFiT's discriminative fine-tuning: the pooling and output layers learn at the "
        "scheduled rate, the encoder's top layer at rate / F, each layer below F times slower "
        "again, the embedding slowest (times model.embedding_lr_scale); Howard and Ruder: 2.6; "
        "1: one rate for all")
      .range(1.0, 100.0);
  s.add("model.unfreeze_every", &model.unfreeze_every,
        "ULMFiT's gradual unfreezing, in epochs: the first N epochs train only the pooling and "
        "output layers, then every N epochs one more encoder layer from the top, then the "
        "embedding (0: everything trains from the start)")
      .range(0, 1000000);
  s.add("model.pooling", &model.pooling,
        "sentence vector from the encoder's outputs: last state, mean or max over valid steps, "
        "or attention; concat: [last; max; mean] (ULMFiT)")
      .choices({"last", "mean", "max", "attention", "concat"});
  s.add("model.chunk", &model.chunk,
        "long texts (IMDb reviews): read each text in chunks of N tokens counted from its end, "
        "the recurrent state carried from chunk to chunk, the pooling over the whole text "
        "(ULMFiT's BPT3C; unidirectional encoders, not with attention pooling; 0: each text at "
        "once)")
      .range(0, 1 << 20);
  s.add("model.grad_chunks", &model.grad_chunks,
        "with model.chunk: backpropagate through the last N chunks of a batch only, the earlier "
        "ones read without gradient, so memory is bounded by chunk x grad_chunks steps whatever "
        "the length (ULMFiT: 70 x 20 = 1400 tokens; 0: every chunk)")
      .range(0, 1 << 20);
  s.add("model.dropout", &model.dropout, "dropout on the embeddings and the pooled vector")
      .range(0.0, 0.99);
  model.rnn.bind(s, "model.rnn");
  run.bind(s);
  train.bind(s);
  optim.bind(s);
}

void SentimentConfig::validate(const ConfigSchema& s) const {
  if (data.class_files.empty() == data.train.empty())
    throw s.error(data.train.empty() ? "data.train" : "data.class_files",
                  "set exactly one of data.class_files (one file per class) and data.train (a "
                  "table of text and label)");
  for (const char* key : {"data.class_files", "data.test_class_files"})
    for (const auto& entry :
         key == std::string("data.class_files") ? data.class_files : data.test_class_files) {
      auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size())
        throw s.error(key, "entry '" + entry + "' is not of the form label=path");
    }

  if (data.class_files.size() == 1)
    throw s.error("data.class_files", "one file gives one class; a classifier needs two or more");
  if (data.folds == 1)
    throw s.error("data.folds", "cross-validation needs at least 2 folds (0: one split)");
  if (data.folds > 0) {
    if (data.fold > data.folds)
      throw s.error("data.fold", "fold " + std::to_string(data.fold) + " of " +
                                     std::to_string(data.folds) + " does not exist");
    if (!data.dev.empty() || !data.test.empty())
      throw s.error(data.dev.empty() ? "data.test" : "data.dev",
                    "with data.folds the folds make the dev and test parts; leave it empty");
  } else if (data.fold != 0) {
    throw s.error("data.fold", "data.fold is a fold of data.folds, which is 0 (one split)");
  }
  if (!data.test_class_files.empty()) {
    if (!data.test.empty())
      throw s.error(
          "data.test_class_files",
          "set one of data.test (a table) and data.test_class_files (one file per class)");
    if (data.folds > 0)
      throw s.error("data.test_class_files",
                    "with data.folds the folds make the test part; leave it empty");
  }
  if (model.chunk > 0 && model.rnn.stack.bidirectional())
    throw s.error("model.chunk",
                  "texts read in chunks carry the state forward only; a bidirectional encoder's "
                  "backward direction cannot (set model.rnn.bidirectional: false or model.chunk: "
                  "0)");
  if (model.chunk > 0 && model.pooling == "attention")
    throw s.error("model.chunk",
                  "attention pooling's softmax spans the whole text at once; use last, mean, max "
                  "or concat pooling with chunks");
  if (model.chunk == 0 && model.grad_chunks > 0)
    throw s.error("model.grad_chunks", "counts chunks of model.chunk, which is 0 (texts at once)");
  validate_vectors(s, "model", model.vectors, model.vectors_format, data.tokenizer.type);
  if (model.vectors.empty() && model.vectors_extend > 0)
    throw s.error("model.vectors_extend", "adds words of model.vectors, which is not set");
  if (model.embedding_mode == "freeze" && model.embedding_lr_scale != 1.0)
    throw s.error("model.embedding_lr_scale",
                  "scales the rate of an embedding that model.embedding_mode: freeze keeps fixed");
  if (model.vectors.empty() && model.embedding_mode != "tune")
    throw s.error("model.embedding_mode",
                  "'" + model.embedding_mode +
                      "' keeps an embedding fixed, which needs model.vectors (a fixed random "
                      "embedding learns nothing)");
  if (!model.init_from.empty()) {
    if (!model.vectors.empty())
      throw s.error(
          "model.vectors",
          "the embedding comes from model.init_from's language model; set one of the two");
    if (!model.init_from_pytorch.empty())
      throw s.error("model.init_from_pytorch",
                    "the weights come from model.init_from's language model; set one of the two");
    if (model.rnn.stack.bidirectional())
      throw s.error("model.rnn.bidirectional",
                    "model.init_from's language model reads left to right only; a bidirectional "
                    "classifier's backward direction would have no weights to start from");
  }
  if (model.lm_finetune.epochs > 0 && model.init_from.empty())
    throw s.error("model.lm_finetune.epochs",
                  "fine-tunes model.init_from's language model, which is not set");
  if (!model.lm_finetune.set.empty() && model.lm_finetune.epochs == 0)
    throw s.error("model.lm_finetune.set",
                  "sets keys of the language-model fine-tuning, which model.lm_finetune.epochs: 0 "
                  "turns off");
  model.rnn.validate(s, "model.rnn");
  train.validate(s);
  optim.validate(s, train);
}

datasets::TableOptions SentimentConfig::table_options() const {
  datasets::TableOptions t;
  t.delimiter = data.delimiter == "comma" ? ',' : '\t';
  t.header = data.header;
  t.quoting = data.quoting;
  t.text_column = data.text_column;
  t.label_column = data.label_column;
  return t;
}

std::vector<SubRun> sentiment_subruns(const SentimentConfig& cfg) {
  std::vector<SubRun> seeds = cfg.run.repeats > 1 ? repeat_subruns(cfg.run) : std::vector<SubRun>{};
  if (cfg.data.folds == 0 || cfg.data.fold != 0) return seeds;
  std::vector<SubRun> out;
  for (int64_t k = 1; k <= cfg.data.folds; ++k) {
    std::string name = fmt::format("fold{:02d}", k);
    std::string set = "data.fold=" + std::to_string(k);
    if (seeds.empty()) out.push_back({name, {set}});
    for (const auto& s : seeds) {
      SubRun sub{name + "-" + s.name, s.sets};
      sub.sets.insert(sub.sets.begin(), set);
      out.push_back(sub);
    }
  }
  return out;
}

// ---- data ----

SentimentData load_data(const SentimentConfig& cfg) {
  const auto& d = cfg.data;
  SentimentData out;
  datasets::LabeledTexts all;
  datasets::TableOptions table = cfg.table_options();
  // "label=path" entries (checked by validate) as (label, path under run.data_root).
  auto class_files = [&](const std::vector<std::string>& entries, const std::string& key) {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& entry : entries) {
      auto eq = entry.find('=');
      files.emplace_back(entry.substr(0, eq), data_path(cfg.run, entry.substr(eq + 1), key));
    }
    return files;
  };
  if (!d.class_files.empty()) {
    auto files = class_files(d.class_files, "data.class_files");
    all = datasets::read_class_files(files);
    out.description = fmt::format("{} files", files.size());
  } else {
    all = datasets::read_labeled_table(data_path(cfg.run, d.train, "data.train"), table);
    out.description = d.train;
  }
  const auto seed = static_cast<uint64_t>(d.split_seed);
  datasets::Split split;
  try {
    if (d.folds > 0) {
      if (d.fold == 0)
        throw ConfigError("data.fold is 0 (every fold) in a single run; run the folds as sub-runs");
      split =
          datasets::cross_validation_split(all.labels, d.folds, d.fold - 1, d.dev_fraction, seed);
      out.description += fmt::format(", fold {}/{}", d.fold, d.folds);
    } else {
      split = datasets::random_split(
          all.labels, d.dev.empty() ? d.dev_fraction : 0.0,
          d.test.empty() && d.test_class_files.empty() ? d.test_fraction : 0.0, seed);
    }
  } catch (const std::invalid_argument& e) {
    throw DataError(out.description + ": " + e.what());
  }
  out.train = all.subset(split.train);
  out.dev = all.subset(split.dev);
  out.test = all.subset(split.test);
  if (!d.dev.empty())
    out.dev = datasets::read_labeled_table(data_path(cfg.run, d.dev, "data.dev"), table,
                                           &all.label_names);
  if (!d.test.empty())
    out.test = datasets::read_labeled_table(data_path(cfg.run, d.test, "data.test"), table,
                                            &all.label_names);
  if (!d.test_class_files.empty()) {
    out.test = datasets::read_class_files(class_files(d.test_class_files, "data.test_class_files"));
    // The training data's label ids: a test label it lacks is an error.
    std::vector<int64_t> id;
    for (const auto& label : out.test.label_names) {
      auto at = std::find(all.label_names.begin(), all.label_names.end(), label);
      if (at == all.label_names.end())
        throw ConfigError(fmt::format(
            "key 'data.test_class_files': label '{}' is not a label of the training data ({})",
            label, fmt::join(all.label_names, ", ")));
      id.push_back(at - all.label_names.begin());
    }
    for (auto& y : out.test.labels) y = id[static_cast<size_t>(y)];
    out.test.label_names = all.label_names;
  }
  if (out.dev.size() == 0)
    throw ConfigError(
        "key 'data.dev_fraction': no dev data for early stopping; set data.dev or "
        "data.dev_fraction > 0");
  return out;
}

std::vector<int64_t> encode_text(const SentimentConfig& cfg, const datasets::Tokenizer& tokenizer,
                                 const std::string& text) {
  std::vector<int64_t> ids =
      tokenizer.encode(cfg.data.clean == "kim" ? datasets::kim_clean(text) : text);
  if (cfg.data.max_length > 0 && static_cast<int64_t>(ids.size()) > cfg.data.max_length)
    ids.resize(static_cast<size_t>(cfg.data.max_length));
  if (ids.empty()) ids.push_back(datasets::Vocab::kUnk);
  return ids;
}

// ---- model ----

TorchNaming torch_naming(const SentenceClassifier& model) {
  TorchNaming n;
  n.renames.emplace_back("fixed_vectors", "");
  if (model->options.fixed_words() == 0) return n;
  // E = [trained rows; fixed_vectors]: (V, E), as one torch.nn.Embedding.
  for (auto [name, table] :
       {std::pair<std::string, torch::nn::Embedding>{"embedding", model->embedding},
        {"static_embedding", model->static_embedding}}) {
    if (!table) continue;
    torch::Tensor whole = torch::cat({table->weight, model->fixed_vectors});
    n.renames.emplace_back(name + ".weight", "");
    n.derived.emplace_back(name + ".weight", whole);
    n.modules[name] = {{"class", "Embedding"},
                       {"args",
                        {{"num_embeddings", whole.size(0)},
                         {"embedding_dim", whole.size(1)},
                         {"padding_idx", 0}}}};
  }
  return n;
}

SentenceClassifier build_model(const SentimentConfig& cfg, int64_t vocab_size, int64_t classes,
                               int64_t fixed_words) {
  const auto& m = cfg.model;
  const bool two = m.embedding_mode == "two_channels";
  return SentenceClassifier(
      SentenceClassifierOptions(vocab_size, m.embedding_dim, classes,
                                m.rnn.options(m.embedding_dim * (two ? 2 : 1)))
          .pooling(m.pooling)
          .chunk(m.chunk)
          .grad_chunks(m.grad_chunks)
          .dropout(m.dropout)
          .freeze_embedding(m.embedding_mode == "freeze")
          .two_channels(two)
          .fixed_words(fixed_words));
}

int64_t load_vectors(SentenceClassifier& model, const datasets::Tokenizer& tokenizer,
                     const datasets::WordVectors& wv, const std::string& path) {
  const VocabularyVectors v = vocabulary_vectors(tokenizer, wv, model->options.embedding_dim(),
                                                 path, "model.embedding_dim");
  model->load_embedding(v.rows, v.covered);
  return v.count;
}

Scores score(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
             int64_t classes) {
  std::vector<std::vector<int64_t>> confusion(static_cast<size_t>(classes),
                                              std::vector<int64_t>(classes, 0));
  for (size_t i = 0; i < gold.size(); ++i)
    ++confusion[static_cast<size_t>(gold[i])][static_cast<size_t>(predicted[i])];
  return score_confusion(std::move(confusion));
}

Scores score_confusion(std::vector<std::vector<int64_t>> confusion) {
  Scores s;
  s.confusion = std::move(confusion);
  const int64_t classes = static_cast<int64_t>(s.confusion.size());
  for (int64_t c = 0; c < classes; ++c) {
    s.correct += s.confusion[c][c];
    for (int64_t o = 0; o < classes; ++o) s.total += s.confusion[c][o];
  }
  s.accuracy = s.total ? 100.0 * static_cast<double>(s.correct) / static_cast<double>(s.total) : 0;
  // Macro-F1: the mean over classes of 2 TP / (2 TP + FP + FN); a class with
  // no gold and no predicted example counts as 0 (as scikit-learn does).
  double f1_sum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    int64_t tp = s.confusion[c][c], fp = 0, fn = 0;
    for (int64_t o = 0; o < classes; ++o) {
      if (o == c) continue;
      fp += s.confusion[o][c];
      fn += s.confusion[c][o];
    }
    int64_t denom = 2 * tp + fp + fn;
    f1_sum += denom ? 2.0 * static_cast<double>(tp) / static_cast<double>(denom) : 0.0;
  }
  s.macro_f1 = classes ? 100.0 * f1_sum / static_cast<double>(classes) : 0;
  return s;
}

torch::Tensor classify(SentenceClassifier& model, const std::vector<std::vector<int64_t>>& ids,
                       int64_t batch_size, torch::Device device,
                       std::vector<std::vector<float>>* attention) {
  torch::NoGradGuard no_grad;
  model->eval();
  const auto n = static_cast<int64_t>(ids.size());
  torch::Tensor probs = torch::zeros({n, model->options.num_classes()});
  if (attention) attention->assign(ids.size(), {});
  // Batches of similar length waste little on padding: sort by length.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  for (int64_t start = 0; start < n; start += batch_size) {
    StopSignals::throw_if_requested();
    std::vector<int64_t> idx(order.begin() + start,
                             order.begin() + std::min(n, start + batch_size));
    datasets::PaddedBatch b = datasets::pad_batch(ids, idx);
    torch::Tensor p = torch::softmax(model->forward(b.tokens.to(device), b.lengths.to(device)), 1)
                          .to(torch::kCPU);
    probs.index_copy_(0, torch::tensor(idx, torch::kLong), p);
    if (attention && model->options.pooling() == "attention") {
      torch::Tensor a = model->attention_weights().to(torch::kCPU, torch::kFloat);  // (T, B)
      for (size_t j = 0; j < idx.size(); ++j) {
        auto len = static_cast<int64_t>(ids[idx[j]].size());
        torch::Tensor col = a.select(1, static_cast<int64_t>(j)).narrow(0, 0, len).contiguous();
        (*attention)[idx[j]].assign(col.data_ptr<float>(), col.data_ptr<float>() + len);
      }
    }
  }
  return probs;
}

// ---- the task ----

namespace {

/// encode_text of every text.
std::vector<std::vector<int64_t>> encode_all(const SentimentConfig& cfg,
                                             const datasets::Tokenizer& tokenizer,
                                             const std::vector<std::string>& texts) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(encode_text(cfg, tokenizer, t));
  return out;
}

}  // namespace

SentimentTask::~SentimentTask() = default;

void SentimentTask::open_lm(const SentimentConfig& cfg) {
  lm_ = lm::open_lm_start(cfg.model.init_from, "model.init_from");
  // The classifier's stack must be the language model's, key by key.
  SentimentConfig mine = cfg;
  ConfigSchema schema;
  mine.bind(schema);
  std::vector<std::pair<std::string, std::string>> keys = {
      {"model.rnn.type", "model.rnn.type"},
      {"model.rnn.hidden", "model.rnn.hidden"},
      {"model.rnn.layers", "model.rnn.layers"},
      {"model.rnn.proj_size", "model.rnn.proj_size"},
      {"model.rnn.layer_norm", "model.rnn.layer_norm"},
      {"model.embedding_dim", "model.embedding"}};
  if (cfg.model.rnn.type == "rnn")
    keys.emplace_back("model.rnn.nonlinearity", "model.rnn.nonlinearity");
  lm_->check_same(schema, keys, "model.init_from");
  if (lm_->cfg.model.last_hidden > 0)
    throw ConfigError("key 'model.init_from': the language model '" + cfg.model.init_from +
                      "' has a last layer of its own size (model.last_hidden); a classifier "
                      "cannot start from it");
}

void SentimentTask::init_from_lm(const lm::LmStart& start) {
  const std::string& path = start.path;
  const lm::LMConfig& lcfg = start.cfg;
  const TrainedRun& lrun = start.run;
  const RecurrentOptions& mine = cfg_.model.rnn.stack;
  LanguageModel lmodel = lm::build_model(lcfg, tokenizer_->vocab_size());
  load_trained_model(*lmodel, lrun);
  // Its embedding and stack under torch.nn's names, the stack renamed to the
  // classifier's: rnn.weight_ih_l0 -> encoder.weight_ih_l0.
  NamedTensors tensors;
  for (auto& [name, t] : torch_export(*lmodel).tensors) {
    if (name == "embedding.weight")
      tensors.emplace_back(name, t);
    else if (name.rfind("rnn.", 0) == 0)
      tensors.emplace_back("encoder." + name.substr(4), t);
  }
  auto missing = load_named(*model_, tensors, "model.init_from '" + path + "'",
                            [&] { return torch_naming(model_); });
  init_note_ = fmt::format(
      "model.init_from: the tokenizer (vocabulary {}), embedding and {}-layer {} encoder of the "
      "language model {} ({}){}",
      tokenizer_->vocab_size(), mine.num_layers(), cfg_.model.rnn.type, lrun.dir.string(),
      lrun.checkpoint.filename().string(),
      missing.empty() ? "" : fmt::format("; trained from scratch: {}", fmt::join(missing, ", ")));
}

SentimentTask::SentimentTask(const SentimentConfig& cfg, const std::string& tokenizer_dir,
                             torch::Device device)
    : cfg_(cfg), device_(device) {
  data_ = load_data(cfg);
  if (!tokenizer_dir.empty()) {
    tokenizer_ = datasets::load_tokenizer(tokenizer_dir);
  } else if (!cfg.model.init_from.empty()) {
    // The language model's tokenizer: its ids are its embedding's rows.
    open_lm(cfg);
    tokenizer_ = datasets::load_tokenizer((lm_->run.dir / "tokenizer").string());
  } else {
    // The vocabulary comes from the training part only.
    std::vector<std::string> texts;
    texts.reserve(data_.train.texts.size());
    for (const auto& t : data_.train.texts)
      texts.push_back(cfg.data.clean == "kim" ? datasets::kim_clean(t) : t);
    tokenizer_ = train_tokenizer_for(cfg.data.tokenizer, "data.tokenizer", texts);
  }
  // The vectors are read once, before the model; a resumed run takes its
  // weights (and its extended vocabulary) from the run directory.
  datasets::WordVectors wv;
  if (!cfg.model.vectors.empty() && tokenizer_dir.empty()) {
    wv = datasets::read_word2vec(cfg.model.vectors,
                                 datasets::parse_vectors_format(cfg.model.vectors_format));
    if (cfg.model.vectors_extend > 0) {
      const auto n = static_cast<size_t>(std::min<int64_t>(cfg.model.vectors_extend, wv.size()));
      std::vector<std::string> words(wv.words.begin(), wv.words.begin() + n);
      tokenizer_ = datasets::extend_vocabulary(*tokenizer_, words);
    }
  }
  train_ids_ = encode_all(cfg, *tokenizer_, data_.train.texts);
  for (const auto& t : train_ids_) train_lengths_.push_back(static_cast<int64_t>(t.size()));
  dev_ids_ = encode_all(cfg, *tokenizer_, data_.dev.texts);
  test_ids_ = encode_all(cfg, *tokenizer_, data_.test.texts);

  extended_ = datasets::extension_size(*tokenizer_);
  model_ = build_model(cfg, tokenizer_->vocab_size(),
                       static_cast<int64_t>(data_.train.label_names.size()), extended_);
  // A resumed run takes its weights from the checkpoint; the file is read once.
  if (wv.size() > 0) covered_ = load_vectors(model_, *tokenizer_, wv, cfg.model.vectors);
  if (lm_) init_from_lm(*lm_);
  // After the vectors: the file's tensors win where it has them.
  if (!lm_)
    init_note_ =
        apply_init_from_pytorch(*model_, "model.init_from_pytorch", cfg.model.init_from_pytorch,
                                !tokenizer_dir.empty(), [&] { return torch_naming(model_); });
  model_->to(device_);
}

void SentimentTask::save_tokenizer(const fs::path& dir) const {
  fs::create_directories(dir);
  tokenizer_->save(dir.string());
}

namespace {
/// The encoder layer of a classifier parameter ("encoder.rnn.weight_ih_l2",
/// "encoder.rnn.bias_hh_l2_reverse", "encoder.rnn.ln_ih_l2": 2), or -1.
int64_t encoder_layer(const std::string& name) {
  const size_t at = name.rfind("_l");
  if (name.rfind("encoder.", 0) != 0 || at == std::string::npos) return -1;
  return std::stoll(name.substr(at + 2));
}
}  // namespace

std::vector<ParamGroup> SentimentTask::param_groups() {
  const double scale = cfg_.model.embedding_lr_scale, f = cfg_.model.discriminative_lr;
  if (scale == 1.0 && f == 1.0) return Task::param_groups();
  // ULMFiT: rate(head) = lr, rate(layer l of L) = lr / f^(L - l), rate(embedding) = lr / f^(L + 1).
  const int64_t L = cfg_.model.rnn.stack.num_layers();
  const torch::Tensor& emb = model_->embedding->weight;
  std::vector<ParamGroup> groups{{"rest", {}, 1.0}};
  for (int64_t l = 0; l < L && f != 1.0; ++l)
    groups.push_back({"encoder layer " + std::to_string(l), {}, std::pow(f, -(L - l))});
  groups.push_back({"embedding", {emb}, scale * (f == 1.0 ? 1.0 : std::pow(f, -(L + 1)))});
  for (const auto& p : model_->named_parameters()) {
    if (p.value().is_same(emb)) continue;
    const int64_t layer = encoder_layer(p.key());
    if (f != 1.0 && layer >= 0) {
      groups[1 + layer].params.push_back(p.value());
    } else {
      groups[0].params.push_back(p.value());
    }
  }
  return groups;
}

int64_t SentimentTask::batches_per_epoch() const {
  return static_cast<int64_t>(epoch_batches(0).size());
}

std::vector<std::vector<int64_t>> SentimentTask::epoch_batches(int64_t epoch) const {
  const uint64_t seed = datasets::epoch_seed(static_cast<uint64_t>(cfg_.run.seed), epoch);
  if (!cfg_.data.bucket)
    return datasets::make_batches(data_.train.size(), cfg_.data.batch_size, /*shuffle=*/true, seed);
  // Length buckets: batch_size sentences of about the same length (ties in a
  // random order), the batches shuffled.
  datasets::TokenBudgetOptions o;
  o.max_tokens = INT64_MAX / 2;
  o.max_sentences = cfg_.data.batch_size;
  o.seed = seed;
  return datasets::batch_by_tokens(train_lengths_, o);
}

void SentimentTask::start_epoch(int64_t epoch) {
  batches_ = epoch_batches(epoch);
  if (cfg_.model.unfreeze_every > 0) unfreeze(epoch / cfg_.model.unfreeze_every);
}

void SentimentTask::unfreeze(int64_t stage) {
  // Stage 0: the head only; stage s: also the top s encoder layers; stage
  // L + 1: the embedding too (unless model.embedding_mode keeps it fixed).
  const int64_t L = cfg_.model.rnn.stack.num_layers();
  const bool embedding_tuned = cfg_.model.embedding_mode != "freeze";
  for (auto& p : model_->named_parameters()) {
    const int64_t layer = encoder_layer(p.key());
    bool trains = true;
    if (layer >= 0)
      trains = layer >= L - stage;
    else if (p.value().is_same(model_->embedding->weight))
      trains = embedding_tuned && stage > L;
    else if (model_->static_embedding && p.value().is_same(model_->static_embedding->weight))
      trains = false;
    p.value().set_requires_grad(trains);
  }
}

StepOutput SentimentTask::train_step(int64_t index) {
  // Data-parallel: this rank's sentences of the batch, balanced by tokens.
  const std::vector<int64_t> idx = share(batches_[static_cast<size_t>(index)], [&](int64_t i) {
    return train_lengths_[static_cast<size_t>(i)];
  });
  if (idx.empty()) return no_examples();
  datasets::PaddedBatch b = datasets::pad_batch(train_ids_, idx);
  std::vector<int64_t> y;
  y.reserve(idx.size());
  for (int64_t i : idx) y.push_back(data_.train.labels[static_cast<size_t>(i)]);
  torch::Tensor logits = model_->forward(b.tokens.to(device_), b.lengths.to(device_));
  torch::Tensor loss = F::cross_entropy(logits, torch::tensor(y, torch::kLong).to(device_));
  return {loss, static_cast<int64_t>(idx.size())};
}

Metrics SentimentTask::evaluate(const std::string& split) {
  const bool test = split == "test";
  const auto& ids = test ? test_ids_ : dev_ids_;
  const auto& part = test ? data_.test : data_.dev;
  if (ids.empty()) return {};
  // Data-parallel: this rank's part of the sentences; the summed loss and
  // the confusion matrix add up over the ranks.
  const auto [first, last] = eval_part(static_cast<int64_t>(ids.size()));
  const int64_t classes = static_cast<int64_t>(data_.train.label_names.size());
  std::vector<double> sums(static_cast<size_t>(1 + classes * classes), 0.0);
  if (last > first) {
    std::vector<std::vector<int64_t>> mine(ids.begin() + first, ids.begin() + last);
    torch::Tensor probs = classify(model_, mine, cfg_.data.eval_batch_size, device_);
    std::vector<int64_t> gold(part.labels.begin() + first, part.labels.begin() + last);
    sums[0] = F::nll_loss(probs.clamp_min(1e-12).log(), torch::tensor(gold, torch::kLong),
                          F::NLLLossFuncOptions().reduction(torch::kSum))
                  .item<double>();
    torch::Tensor pred = probs.argmax(1).contiguous();
    for (size_t i = 0; i < gold.size(); ++i)
      sums[static_cast<size_t>(1 + gold[i] * classes + pred.data_ptr<int64_t>()[i])] += 1;
  }
  sums = sum_over_ranks(sums);
  const double loss = sums[0] / static_cast<double>(ids.size());
  std::vector<std::vector<int64_t>> confusion(static_cast<size_t>(classes),
                                              std::vector<int64_t>(classes, 0));
  for (int64_t g = 0; g < classes; ++g)
    for (int64_t p = 0; p < classes; ++p)
      confusion[g][p] = static_cast<int64_t>(sums[static_cast<size_t>(1 + g * classes + p)]);
  Scores s = score_confusion(std::move(confusion));
  if (test) last_test_ = s;
  return {{"loss", loss}, {"accuracy", s.accuracy}, {"macro_f1", s.macro_f1}};
}

std::vector<MetricInfo> SentimentTask::metrics() const {
  return {{"accuracy", true}, {"macro_f1", true}, {"loss", false}};
}

void SentimentTask::add_summary(nlohmann::json& summary, double) const {
  summary["labels"] = data_.train.label_names;
  if (!last_test_.confusion.empty()) summary["test_confusion"] = last_test_.confusion;
  summary["train_sentences"] = data_.train.size();
  summary["dev_sentences"] = data_.dev.size();
  summary["test_sentences"] = data_.test.size();
  summary["vocab_size"] = tokenizer_->vocab_size();
  if (covered_ >= 0) summary["vectors_covered"] = covered_ - extended_;
  if (extended_ > 0) summary["vectors_added"] = extended_;
  for (const auto& [key, value] : figures_) summary[key] = value;
  // The names: dev_accuracy is val_accuracy.
  if (summary.contains("val_accuracy")) summary["dev_accuracy"] = summary["val_accuracy"];
}

// ---- the job ----

struct SentimentJob::LmFinetune {
  lm::LMConfig cfg;
  ConfigSchema schema;  // bound to cfg
  std::string from;     // the language model's run directory
};

namespace {

/// A YAML single-quoted scalar: a path read back as it is written.
std::string yaml_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// The fine-tuning's settings on top of the language model's own config:
/// start from its weights (not from the vectors or the Python file it
/// started from), read `train_file` (and `valid_file`, or a tenth of the
/// training text when there is no dev part), no test, every word outside
/// the vocabulary as <unk>, validate each epoch, no sample; then the user's.
std::vector<std::string> finetune_sets(const SentimentConfig& cfg, const std::string& from,
                                       const std::string& train_file,
                                       const std::string& valid_file) {
  std::vector<std::string> sets = {"model.init_from=" + yaml_quoted(from),
                                   "model.vectors=",
                                   "model.init_from_pytorch=",
                                   "data.text=",
                                   "data.text_repeat=1",
                                   "data.train=" + yaml_quoted(train_file),
                                   "data.valid=" + yaml_quoted(valid_file),
                                   "data.valid_fraction=0.1",
                                   "data.test=",
                                   "data.test_fraction=0",
                                   "data.oov=unk",
                                   fmt::format("train.max_epochs={}", cfg.model.lm_finetune.epochs),
                                   "train.max_steps=0",
                                   "train.max_minutes=0",
                                   "train.eval_every=0",
                                   "train.patience=0",
                                   "sample.length=0",
                                   "run.repeats=1",
                                   fmt::format("run.seed={}", cfg.run.seed),
                                   fmt::format("run.threads={}", cfg.run.threads),
                                   "run.device=" + cfg.run.device};
  sets.insert(sets.end(), cfg.model.lm_finetune.set.begin(), cfg.model.lm_finetune.set.end());
  return sets;
}

/// The texts as the classifier reads them (cleaned as data.clean says), one per line.
std::string text_lines(const SentimentConfig& cfg, const std::vector<std::string>& texts) {
  std::string out;
  for (const auto& t : texts) {
    std::string line = cfg.data.clean == "kim" ? datasets::kim_clean(t) : t;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::replace(line.begin(), line.end(), '\r', ' ');
    out += line + "\n";
  }
  return out;
}

}  // namespace

SentimentJob::SentimentJob(const SentimentConfig& cfg, const ConfigSchema& schema,
                           const fs::path& resume_dir)
    : cfg_(cfg), device_(resolve_device(cfg.run.device)) {
  task_ = std::make_unique<SentimentTask>(
      cfg, resume_dir.empty() ? "" : (resume_dir / "tokenizer").string(), device_);
  trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema);
  // A run with a checkpoint has its weights; else the fine-tuning's config is
  // made and checked now, before any directory exists.
  if (cfg.model.lm_finetune.epochs > 0 && resume_dir.empty()) {
    if (process_collective() != nullptr)
      throw schema.error("model.lm_finetune.epochs",
                         "the language-model fine-tuning trains in one process; train this run "
                         "without --nproc (folds and seeds may still run side by side: "
                         "run.subruns_parallel)");
    finetune_ = std::make_unique<LmFinetune>();
    finetune_->from = fs::absolute(task_->language_model()->run.dir).lexically_normal().string();
    finetune_->cfg.bind(finetune_->schema);
    try {
      load_run_config(finetune_->schema, RunDir::open(finetune_->from),
                      finetune_sets(cfg, finetune_->from, "RUN/lm_train.txt",
                                    task_->data().dev.texts.empty() ? "" : "RUN/lm_valid.txt"),
                      "rnnlab-lm");
      finetune_->cfg.validate(finetune_->schema);
    } catch (const Error& e) {
      throw schema.error("model.lm_finetune.set",
                         std::string("the language model's config: ") + e.what());
    }
  }
}

SentimentJob::~SentimentJob() = default;

void SentimentJob::finetune_lm(const RunDir& dir, const std::string& label) {
  LmFinetune& f = *finetune_;
  const fs::path lm_dir = dir.file("lm");
  std::error_code ec;
  if (!fs::exists(lm_dir / "summary.json", ec)) {
    // The training part (never dev or test) as the language model's text;
    // the dev part as its validation text.
    const SentimentData& d = task_->data();
    const fs::path train_file = fs::absolute(dir.file("lm_train.txt")),
                   valid_file = fs::absolute(dir.file("lm_valid.txt"));
    write_file_atomic(train_file, text_lines(cfg_, d.train.texts));
    if (!d.dev.texts.empty()) write_file_atomic(valid_file, text_lines(cfg_, d.dev.texts));
    for (const auto& s : finetune_sets(cfg_, f.from, train_file.string(),
                                       d.dev.texts.empty() ? "" : valid_file.string()))
      f.schema.apply_override(s);
    f.schema.finalize();
    f.cfg.validate(f.schema);
    const bool resume =
        fs::exists(lm_dir / "config.yaml", ec) && !RunDir::open(lm_dir).resume_checkpoint().empty();
    const std::string lm_label = label.empty() ? "lm" : label + " lm";
    logger()->info(
        "--- model.lm_finetune: the language model {} trained {} more epochs on the "
        "training part, in {}{} ---",
        f.from, cfg_.model.lm_finetune.epochs, lm_dir.string(), resume ? " (resumed)" : "");
    seed_run(f.cfg.run);
    lm::LMJob job(f.cfg, f.schema, resume ? lm_dir : fs::path());
    if (!resume) {
      // What the fine-tuning starts from, on the same validation text.
      const Metrics before = job.task().evaluate("valid");
      if (before.count("ppl")) {
        logger()->info("the language model before fine-tuning: val_loss {:.4f}, val_ppl {:.2f}",
                       before.at("loss"), before.at("ppl"));
        write_file_atomic(
            dir.file("lm_start.json"),
            nlohmann::json{{"val_loss", before.at("loss")}, {"val_ppl", before.at("ppl")}}.dump(2) +
                "\n");
      }
    }
    if (resume) {
      RunDir lm_run = RunDir::open(lm_dir);
      RunDirLock lock(lm_dir);
      LogFile log(lm_run.file("log.txt"));
      job.run(lm_run, true, lm_label, {});
    } else {
      // Stopped before its first checkpoint, or never started: from the beginning.
      fs::remove_all(lm_dir, ec);
      NewRun made = create_run(lm_dir, run_config_text(f.schema, "rnnlab-lm"));
      LogFile log(made.dir.file("log.txt"));
      job.save_assets(made.dir);
      job.run(made.dir, false, lm_label, {});
    }
    logger()->info("--- the classifier ---");
  }
  auto start = lm::open_lm_start(lm_dir.string(), "model.lm_finetune");
  task_->init_from_lm(*start);
  seed_run(cfg_.run);
}

void SentimentJob::save_assets(const RunDir& dir) {
  task_->save_tokenizer(dir.file("tokenizer"));
  // predict and eval name the classes as the training data did.
  write_file_atomic(dir.file("labels.json"),
                    nlohmann::json(task_->data().train.label_names).dump() + "\n");
}

nlohmann::json SentimentJob::run(const RunDir& dir, bool resume, const std::string& label,
                                 const std::function<void(int64_t)>& on_resumed) {
  if (finetune_) finetune_lm(dir, label);
  // The language model's validation perplexity before and after its
  // fine-tuning, into the summary (a parent's has their means over folds).
  for (const auto& [file, key] :
       {std::pair<const char*, const char*>{"lm_start.json", "lm_start_val_ppl"},
        {"lm/summary.json", "lm_val_ppl"}}) {
    const fs::path path = dir.file(file);
    std::error_code ec;
    if (!fs::exists(path, ec)) continue;
    const auto j = nlohmann::json::parse(read_file(path), nullptr, false);
    if (j.is_object() && j.contains("val_ppl") && j["val_ppl"].is_number())
      task_->set_summary_figure(key, j["val_ppl"].get<double>());
  }
  const auto& d = task_->data();
  const auto& m = cfg_.model;
  int64_t n_params = 0;
  for (const auto& p : task_->model().parameters()) n_params += p.numel();
  std::vector<std::string> intro = {
      fmt::format("data: {}; classes {}; {} train / {} dev / {} test sentences; vocabulary {} "
                  "({}, {} tokenizer, clean {}){}",
                  d.description, fmt::join(d.train.label_names, ", "), d.train.size(), d.dev.size(),
                  d.test.size(), task_->tokenizer().vocab_size() - task_->extended(),
                  m.init_from.empty() ? "training part" : "the language model's",
                  task_->tokenizer().type(), cfg_.data.clean,
                  m.chunk > 0 ? fmt::format("; texts read in chunks of {} tokens, the gradient "
                                            "through the last {}",
                                            m.chunk,
                                            m.grad_chunks > 0 ? std::to_string(m.grad_chunks)
                                                              : std::string("all"))
                              : ""),
      fmt::format(
          "model: embedding {} ({}, {}{}), {} {}{} x{} hidden {}, {} pooling, dropout {}{}; "
          "{} parameters, device {}, seed {}",
          m.embedding_dim,
          !m.init_from.empty() ? "language model"
          : m.vectors.empty()  ? "random"
                               : m.vectors,
          m.embedding_mode,
          m.embedding_lr_scale != 1.0 ? fmt::format(", lr x{}", m.embedding_lr_scale) : "",
          m.rnn.impl, m.rnn.stack.bidirectional() ? "bi-" : "", m.rnn.type,
          m.rnn.stack.num_layers(), m.rnn.stack.hidden_size(), m.pooling, m.dropout,
          m.discriminative_lr != 1.0
              ? fmt::format(", rates / {} per layer down (discriminative)", m.discriminative_lr)
              : "",
          n_params, device_.str(), cfg_.run.seed)};
  if (task_->covered() >= 0) {
    // Of the training part's words (less <pad> <unk> <bos> <eos>) and the added ones.
    const int64_t added = task_->extended();
    const int64_t words = task_->tokenizer().vocab_size() - 4 - added;
    const int64_t covered = task_->covered() - added;
    intro.push_back(fmt::format(
        "word vectors {}: {} of {} vocabulary words covered ({:.1f}%){}", m.vectors, covered, words,
        100.0 * static_cast<double>(covered) / static_cast<double>(std::max<int64_t>(1, words)),
        added > 0 ? fmt::format("; {} more words of the file added "
                                "(model.vectors_extend)",
                                added)
                  : ""));
  }
  if (!task_->init_note().empty()) intro.push_back(task_->init_note());
  trainer_->set_intro(intro);
  trainer_->set_label(label);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  nlohmann::json summary = trainer_->fit(dir, resume);
  for (const char* key : {"val_accuracy", "test_accuracy", "test_macro_f1"})
    if (summary.contains(key)) logger()->info("{} {:.2f}", key, summary[key].get<double>());
  return summary;
}

}  // namespace rnnlab::sentiment
