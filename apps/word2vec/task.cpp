// `rnnlab-word2vec train` (see task.h).
#include "apps/word2vec/task.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "apps/framework/checkpoint.h"
#include "apps/framework/progress.h"
#include "apps/framework/signals.h"
#include "apps/word2vec/evaluate.h"
#include "apps/word2vec/hogwild.h"
#include "datasets/seed.h"
#include "datasets/word_vectors.h"

namespace fs = std::filesystem;

namespace rnnlab::word2vec {

namespace {

int64_t thread_count(const RunSection& run) {
  if (run.threads > 0) return run.threads;
  return std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency()));
}

using Clock = std::chrono::steady_clock;

}  // namespace

W2VConfig::W2VConfig() {
  // word2vec.c's training: plain SGD, alpha 0.025 decaying linearly to
  // alpha * 1e-4 over all epochs (-iter 5); no clipping.
  optim.name = "sgd";
  optim.lr = 0.025;
  optim.schedule = "linear";
  optim.min_lr = 0.025 * 1e-4;
  train.max_epochs = 5;
  train.clip_norm = 0;
  // A logged step is data.batch_words corpus words: a line per million words.
  train.log_every = 5000;
}

void W2VConfig::bind(ConfigSchema& s) {
  s.add("data.corpus", &data.corpus,
        "text files (relative to run.data_root): one sentence per line, words split on white "
        "space")
      .required();
  s.add("data.normalize", &data.normalize,
        "lower-case and turn every character outside [a-z0-9] into a space before splitting");
  s.add("data.min_count", &data.min_count, "drop words seen fewer times (word2vec -min-count)")
      .range(1, INT64_MAX);
  s.add("data.max_vocab", &data.max_vocab, "keep only the N most frequent words (0: all)")
      .range(0, INT64_MAX);
  s.add("data.max_sentence", &data.max_sentence,
        "cut longer lines into sentences of this many words (word2vec.c: 1000)")
      .range(1, 1 << 30);
  s.add("data.batch_words", &data.batch_words,
        "corpus words per update of the autograd engine (all pairs of a batch are computed "
        "from the same weights: large batches train worse), and per logged step of both "
        "engines")
      .range(1, 1 << 30);
  s.add("model.arch", &model.arch,
        "predict the context from the word, or the word from its "
        "context")
      .choices({"skipgram", "cbow"});
  s.add("model.dim", &model.dim, "size of the word vectors (word2vec -size)").range(1, 1 << 16);
  s.add("model.window", &model.window,
        "maximum distance to a context word; each position draws 1..window (word2vec -window)")
      .range(1, 1000);
  s.add("model.negative", &model.negative,
        "negative samples per predicted word, from the unigram^0.75 distribution (0: none)")
      .range(0, 1000);
  s.add("model.hs", &model.hs, "hierarchical softmax over a Huffman tree (autograd engine)");
  s.add("model.sample", &model.sample,
        "subsampling threshold t: a word of frequency f is kept with probability "
        "(sqrt(f/t)+1)*t/f (0: off)")
      .range(0.0, 1.0);
  s.add("model.cbow_mean", &model.cbow_mean, "cbow: average the context vectors (else sum them)");
  s.add("model.init_range", &model.init_range,
        "word vectors start uniform in [-r/dim, r/dim] (word2vec.c: 0.5; gensim and fastText: 1)")
      .greater(0.0);
  s.add("train.engine", &engine,
        "hogwild: the fast lock-free multi-threaded trainer; autograd: the module's loss, "
        "autograd and the shared trainer")
      .choices({"hogwild", "autograd"});
  s.add("eval.analogy", &eval.analogy,
        "analogy questions (questions-words.txt format) evaluated after training (\"\": skip)")
      .resumable();
  s.add("eval.analogy_restrict", &eval.analogy_restrict,
        "analogies use the N most frequent words, as word2vec's compute-accuracy (0: all)")
      .range(0, INT64_MAX)
      .resumable();
  s.add("eval.wordsim353", &eval.wordsim353, "WordSim-353 pairs (csv) (\"\": skip)").resumable();
  s.add("eval.simlex999", &eval.simlex999, "SimLex-999.txt (score in column 4) (\"\": skip)")
      .resumable();
  s.add("eval.rarewords", &eval.rarewords, "Stanford Rare Words rw.txt (\"\": skip)").resumable();
  s.add("eval.similarity_restrict", &eval.similarity_restrict,
        "similarity sets use the N most frequent words (0: all)")
      .range(0, INT64_MAX)
      .resumable();
  s.add("output.text", &output.text, "write vectors.txt (word2vec text format)").resumable();
  s.add("output.binary", &output.binary, "write vectors.bin (word2vec binary format)").resumable();
  run.bind(s);
  train.bind(s);
  optim.bind(s);
}

void W2VConfig::validate(const ConfigSchema& s) const {
  if (data.corpus.empty()) throw s.error("data.corpus", "needs at least one file");
  if (model.negative == 0 && !model.hs)
    throw s.error("model.negative",
                  "0 negatives and no hierarchical softmax leave nothing to train; set "
                  "model.negative > 0 or model.hs: true");
  if (!output.text && !output.binary)
    throw s.error("output.binary",
                  "with output.text false too, the trained vectors would be thrown away");
  if (train.max_epochs == 0)
    throw s.error("train.max_epochs",
                  "word2vec's learning rate decays over all epochs: set train.max_epochs");
  optim.validate(s, train);
  if (engine == "hogwild") {
    const std::string why = " (train.engine hogwild; train.engine: autograd has it)";
    if (model.hs) throw s.error("model.hs", "the fast trainer has no hierarchical softmax" + why);
    if (model.negative == 0)
      throw s.error("model.negative", "the fast trainer needs negative sampling" + why);
    if (optim.name != "sgd")
      throw s.error("optim.name", "the fast trainer is plain SGD, as word2vec.c" + why);
    if (optim.schedule != "linear")
      throw s.error("optim.schedule",
                    "the fast trainer decays the rate linearly to optim.min_lr" + why);
    if (optim.momentum != 0 || optim.weight_decay != 0 || optim.warmup_steps != 0)
      throw s.error(optim.momentum != 0       ? "optim.momentum"
                    : optim.weight_decay != 0 ? "optim.weight_decay"
                                              : "optim.warmup_steps",
                    "the fast trainer is plain SGD without it" + why);
    if (train.max_steps != 0 || train.max_minutes != 0)
      throw s.error(train.max_steps != 0 ? "train.max_steps" : "train.max_minutes",
                    "the fast trainer runs whole epochs: use train.max_epochs" + why);
    if (train.patience != 0)
      throw s.error("train.patience", "word2vec has no validation split to stop early on");
  }
  if (run.device == "cuda")
    throw s.error("run.device", "word2vec trains on the CPU (both engines); set run.device: cpu");
  if (optim.min_lr > optim.lr)
    throw s.error("optim.min_lr", fmt::format("is above optim.lr ({})", optim.lr));
}

Word2VecModel build_model(const W2VConfig& cfg, const datasets::WordVocab& vocab) {
  if (vocab.size() < 2)
    throw DataError(
        fmt::format("the vocabulary has {} word; word2vec needs at least 2 (lower data.min_count?)",
                    vocab.size()));
  Word2VecOptions o(vocab.size(), cfg.model.dim);
  o.negative(cfg.model.negative)
      .hierarchical_softmax(cfg.model.hs)
      .cbow_mean(cfg.model.cbow_mean)
      .init_range(cfg.model.init_range)
      // Sparse gradients (rows of the batch's words only) for plain SGD; the
      // other optimizers, and clipping (libtorch's clip_grad_norm_ scales
      // sparse gradients in a copy), get dense ones.
      .sparse(cfg.engine == "autograd" && cfg.optim.name == "sgd" && cfg.optim.momentum == 0 &&
              cfg.optim.weight_decay == 0 && cfg.train.clip_norm == 0);
  HuffmanTree tree;
  if (cfg.model.hs) tree = HuffmanTree::build(vocab.counts);
  Word2VecModel m;
  if (cfg.model.arch == "cbow")
    m.cbow = CBOW(o, std::move(tree));
  else
    m.skipgram = SkipGram(o, std::move(tree));
  return m;
}

// ---------------------------------------------------------------------------
// The autograd engine

W2VTask::W2VTask(const W2VConfig& cfg, const datasets::WordVocab& vocab,
                 const datasets::EncodedCorpus& corpus, Word2VecModel& model)
    : cfg_(cfg),
      corpus_(corpus),
      model_(model),
      keep_(datasets::keep_probabilities(vocab, cfg.model.sample)),
      noise_(vocab.counts) {
  // Batch boundaries: whole sentences, about batch_words corpus words each.
  batch_bounds_.push_back(0);
  int64_t words = 0;
  for (int64_t s = 0; s < corpus.sentences(); ++s) {
    words += corpus.offsets[static_cast<size_t>(s) + 1] - corpus.offsets[static_cast<size_t>(s)];
    if (words >= cfg.data.batch_words) {
      batch_bounds_.push_back(s + 1);
      words = 0;
    }
  }
  if (batch_bounds_.back() != corpus.sentences()) batch_bounds_.push_back(corpus.sentences());
}

StepOutput W2VTask::train_step(int64_t index) {
  const uint64_t seed = datasets::splitmix64(static_cast<uint64_t>(cfg_.run.seed) * 1000003ULL +
                                             static_cast<uint64_t>(epoch_) * 7919ULL) ^
                        datasets::splitmix64(static_cast<uint64_t>(index) + 1);
  datasets::Word2VecRandom rng(seed);
  const int64_t W = cfg_.model.window;
  const bool cbow = static_cast<bool>(model_.cbow);
  // Skip-gram: (centre, context) pairs; CBOW: (centre, context words padded with -1).
  std::vector<int64_t> centre, context;
  std::vector<int32_t> sent;
  int64_t words = 0;
  for (int64_t s = batch_bounds_[static_cast<size_t>(index)];
       s < batch_bounds_[static_cast<size_t>(index) + 1]; ++s) {
    const int32_t* begin = corpus_.ids.data() + corpus_.offsets[static_cast<size_t>(s)];
    const int32_t* end = corpus_.ids.data() + corpus_.offsets[static_cast<size_t>(s) + 1];
    words += end - begin;
    if (cfg_.model.sample > 0)
      datasets::subsample(begin, end, keep_, rng, sent);
    else
      sent.assign(begin, end);
    const int64_t len = static_cast<int64_t>(sent.size());
    for (int64_t i = 0; i < len; ++i) {
      const int64_t b = datasets::dynamic_window(W, rng);
      const int64_t lo = std::max<int64_t>(0, i - b), hi = std::min(len - 1, i + b);
      if (hi == lo) continue;  // no context word
      if (cbow) {
        centre.push_back(sent[static_cast<size_t>(i)]);
        int64_t n = 0;
        for (int64_t j = lo; j <= hi; ++j)
          if (j != i) context.push_back(sent[static_cast<size_t>(j)]), ++n;
        for (; n < 2 * W; ++n) context.push_back(-1);
      } else {
        for (int64_t j = lo; j <= hi; ++j)
          if (j != i) {
            centre.push_back(sent[static_cast<size_t>(i)]);
            context.push_back(sent[static_cast<size_t>(j)]);
          }
      }
    }
  }
  const int64_t B = static_cast<int64_t>(centre.size());
  StepOutput out;
  out.units = words;
  if (B == 0) {
    // Everything was subsampled away: a zero loss that still has a graph.
    out.loss = model_.input().sum() * 0;
    out.reported_loss = 0;
    return out;
  }
  torch::Tensor c = torch::tensor(centre, torch::kLong);
  torch::Tensor negatives;
  if (cfg_.model.negative > 0) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x5DEECE66DULL);
    negatives = noise_.sample({B, cfg_.model.negative}, gen);
  }
  if (cbow) {
    torch::Tensor ctx = torch::tensor(context, torch::kLong).view({B, 2 * W});
    out.loss = model_.cbow->forward(ctx, c, negatives);
  } else {
    out.loss = model_.skipgram->forward(c, torch::tensor(context, torch::kLong), negatives);
  }
  // Logged as a mean per predicted word and target (the centre word and each
  // negative), as the fast engine logs it.
  int64_t targets = B * (cfg_.model.negative + (cfg_.model.hs ? 1 : 0) + 1);
  out.reported_loss = out.loss.item<double>() / static_cast<double>(targets);
  return out;
}

// ---------------------------------------------------------------------------
// The job

W2VJob::W2VJob(const W2VConfig& cfg, const ConfigSchema& schema, const std::filesystem::path&)
    : cfg_(cfg) {
  std::vector<std::string> files;
  for (const auto& f : cfg.data.corpus) files.push_back(data_path(cfg.run, f, "data.corpus"));
  // The evaluation files are checked now, not after hours of training.
  auto eval_path = [&](const std::string& path, const std::string& key) {
    return path.empty() ? std::string() : data_path(cfg.run, path, key);
  };
  analogy_path_ = eval_path(cfg.eval.analogy, "eval.analogy");
  for (auto [name, path, column] :
       {std::tuple<std::string, std::string, int64_t>{"wordsim353", cfg.eval.wordsim353, 3},
        {"simlex999", cfg.eval.simlex999, 4},
        {"rarewords", cfg.eval.rarewords, 3}})
    if (!path.empty()) similarity_.push_back({name, eval_path(path, "eval." + name), column});
  // ... and read through now (against a one-word vocabulary), so that an
  // empty, malformed or unreadable file fails before training, not after.
  {
    datasets::WordVectors probe = datasets::make_word_vectors({"the"}, torch::ones({1, 1}));
    if (!analogy_path_.empty()) evaluate_analogies(probe, analogy_path_, 0);
    for (const auto& e : similarity_) {
      SimilarityOptions so;
      so.score_column = e.score_column;
      so.restrict_vocab = 0;
      evaluate_similarity(probe, e.path, so);
    }
  }

  auto t0 = Clock::now();
  datasets::WordVocabOptions vo;
  vo.min_count = cfg.data.min_count;
  vo.max_size = cfg.data.max_vocab;
  vo.normalize = cfg.data.normalize;
  vocab_ = datasets::build_word_vocab(files, vo);
  corpus_ = datasets::encode_word_corpus(files, vocab_, cfg.data.normalize, cfg.data.max_sentence);
  double read_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  model_ = build_model(cfg, vocab_);
  intro_.push_back(fmt::format(
      "corpus: {} file(s), {} words in vocabulary ({} sentences), vocabulary {} (min count {}); "
      "read in {:.1f} s",
      files.size(), corpus_.ids.size(), corpus_.sentences(), vocab_.size(), cfg.data.min_count,
      read_seconds));
  std::string engine = fmt::format("hogwild, {} threads", thread_count(cfg.run));
  if (cfg.engine == "autograd") {
    task_ = std::make_unique<W2VTask>(cfg, vocab_, corpus_, model_);
    trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema);
    engine = fmt::format("autograd, {} updates of about {} words per epoch, optimizer {}",
                         task_->batches_per_epoch(), cfg.data.batch_words, cfg.optim.name);
  }
  intro_.push_back(fmt::format(
      "model: {} dim {} window {} negative {}{} sample {:g}; {} epochs, lr {:g} -> {:g}; engine {}",
      cfg.model.arch, cfg.model.dim, cfg.model.window, cfg.model.negative,
      cfg.model.hs ? " hs" : "", cfg.model.sample, cfg.train.max_epochs, cfg.optim.lr,
      cfg.optim.min_lr, engine));
}

nlohmann::json W2VJob::run(const RunDir& dir, bool resume, const std::string& label,
                           const std::function<void(int64_t)>& on_resumed) {
  nlohmann::json summary;
  if (trainer_) {
    trainer_->set_label(label);
    trainer_->set_intro(intro_);
    if (on_resumed) trainer_->on_resumed(on_resumed);
    trainer_->on_finish([&](nlohmann::json& s) { finish(dir, s); });
    summary = trainer_->fit(dir, resume);
  } else {
    summary = run_hogwild(dir, resume, label, on_resumed);
  }
  return summary;
}

nlohmann::json W2VJob::run_hogwild(const RunDir& dir, bool resume, const std::string& label,
                                   const std::function<void(int64_t)>& on_resumed) {
  const W2VConfig& cfg = cfg_;
  HogwildOptions o;
  o.cbow = cfg.model.arch == "cbow";
  o.cbow_mean = cfg.model.cbow_mean;
  o.window = cfg.model.window;
  o.negative = cfg.model.negative;
  o.sample = cfg.model.sample;
  o.lr = cfg.optim.lr;
  o.min_lr = cfg.optim.min_lr;
  o.epochs = cfg.train.max_epochs;
  o.threads = thread_count(cfg.run);
  o.seed = static_cast<uint64_t>(cfg.run.seed);
  const int64_t words_per_epoch = static_cast<int64_t>(corpus_.ids.size());
  const double batch = static_cast<double>(cfg.data.batch_words);
  auto step_of = [&](int64_t words) {
    return static_cast<int64_t>(std::floor(static_cast<double>(words) / batch));
  };

  // Position: epochs finished, corpus words trained, training seconds; and
  // where a stopped epoch stands.
  int64_t epoch = 0, words_trained = 0;
  double last_loss = 0;  // the last epoch's mean loss (the summary's train_loss)
  double train_seconds = 0;
  HogwildCursor cursor;
  const fs::path last = dir.file("checkpoint_last.pt");
  auto save = [&](int64_t epochs_done) {
    torch::serialize::OutputArchive archive, model;
    model_.module().save(model);
    archive.write("model", model);
    archive.write("position", torch::tensor({epochs_done, words_trained}, torch::kLong));
    archive.write("train_seconds", torch::tensor({train_seconds}, torch::kDouble));
    archive.write("last_loss", torch::tensor({last_loss}, torch::kDouble));
    if (!cursor.empty()) {
      std::vector<int64_t> rng(cursor.rng.begin(), cursor.rng.end());
      archive.write("cursor_next_sentence", torch::tensor(cursor.next_sentence, torch::kLong));
      archive.write("cursor_local_words", torch::tensor(cursor.local_words, torch::kLong));
      archive.write("cursor_window_no", torch::tensor(cursor.window_no, torch::kLong));
      archive.write("cursor_rng", torch::tensor(rng, torch::kLong));
      archive.write("cursor_alpha", torch::tensor(cursor.alpha, torch::kDouble));
      archive.write("cursor_words_done", torch::tensor({cursor.words_done}, torch::kLong));
    }
    save_rng_state(archive);
    save_archive_atomic(archive, last);
  };
  if (resume) dir.remove_temporaries();
  if (resume && !fs::exists(last)) {
    // Stopped before its first checkpoint (the end of the first epoch).
    dir.truncate_metrics_after(-1);
    if (on_resumed) on_resumed(0);
    logger()->info("{} has no checkpoint (stopped before the first one): training from the start",
                   dir.path().string());
    resume = false;
  }
  if (resume) {
    torch::serialize::InputArchive archive, model;
    read_archive(archive, last);
    if (!archive.try_read("model", model))
      throw DataError("checkpoint '" + last.string() + "' has no model in it");
    load_module(model_.module(), model, last);
    torch::Tensor pos, secs;
    auto vec = [](const torch::Tensor& x) {
      torch::Tensor c = x.to(torch::kLong).contiguous();
      return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
    };
    try {
      archive.read("position", pos);
      archive.read("train_seconds", secs);
      torch::Tensor loss;
      if (archive.try_read("last_loss", loss)) last_loss = loss.item<double>();
      // (a fresh tensor per read: reading into a defined tensor set_()s it)
      auto read = [&](const char* key) {
        torch::Tensor x;
        archive.read(key, x);
        return x;
      };
      torch::Tensor t;
      if (archive.try_read("cursor_next_sentence", t)) {
        cursor.next_sentence = vec(t);
        cursor.local_words = vec(read("cursor_local_words"));
        cursor.window_no = vec(read("cursor_window_no"));
        for (int64_t v : vec(read("cursor_rng"))) cursor.rng.push_back(static_cast<uint64_t>(v));
        torch::Tensor alpha = read("cursor_alpha").to(torch::kDouble).contiguous();
        cursor.alpha.assign(alpha.data_ptr<double>(), alpha.data_ptr<double>() + alpha.numel());
        cursor.words_done = read("cursor_words_done").item<int64_t>();
      }
      load_rng_state(archive);
    } catch (const c10::Error& e) {
      std::string msg = e.what_without_backtrace();
      throw DataError("checkpoint '" + last.string() +
                      "' cannot be resumed (written by another version or engine?): " +
                      msg.substr(0, msg.find('\n')));
    }
    if (pos.numel() != 2 || secs.numel() != 1)
      throw DataError("checkpoint '" + last.string() +
                      "' cannot be resumed: it was written by another engine or version");
    epoch = pos[0].item<int64_t>(), words_trained = pos[1].item<int64_t>();
    train_seconds = secs.item<double>();
    if (!cursor.empty() && cursor.next_sentence.size() != static_cast<size_t>(o.threads))
      throw DataError(fmt::format(
          "checkpoint '{}' stopped an epoch with {} threads; resume with --set run.threads={}",
          last.string(), cursor.next_sentence.size(), cursor.next_sentence.size()));
    if (epoch >= cfg.train.max_epochs) {
      if (auto done = dir.completed_summary()) {
        logger()->info("run {} is complete ({} epochs, {} words trained); nothing to do",
                       dir.path().string(), epoch, words_trained);
        return *done;
      }
    }
    // Training again (or finishing): the old summary no longer describes the run.
    dir.mark_incomplete();
    dir.truncate_metrics_after(step_of(words_trained));
    if (on_resumed) on_resumed(step_of(words_trained));
  }
  for (const auto& line : intro_) logger()->info("{}", line);
  if (resume && epoch < cfg.train.max_epochs)
    logger()->info("resumed from {} at epoch {}, {} words trained", last.string(), epoch + 1,
                   words_trained);
  else if (resume)
    logger()->info(
        "resumed from {} after epoch {}: training is over; finishing the run (vectors, "
        "evaluation and summary)",
        last.string(), epoch);

  // Built after a resumed model is loaded: loading replaces the tensors' storage.
  torch::NoGradGuard no_grad;
  HogwildTrainer hw(model_.input(), model_.output(), vocab_, corpus_, o);
  Progress progress(dir, "words", cfg.run.progress, label);
  StopSignals signals;
  StopSignals::clear();
  // The open logging window.
  int64_t next_log = (step_of(words_trained) / cfg.train.log_every + 1) * cfg.train.log_every;
  int64_t win_words_start = words_trained;
  double win_start_seconds = train_seconds, win_loss_sum = 0, win_loss_words = 0;
  const double total_words = static_cast<double>(cfg.train.max_epochs * words_per_epoch);

  auto interrupted = [&](int sig) {
    const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    logger()->info("{} in epoch {} after {} words; checkpoint saved", name, epoch + 1,
                   words_trained);
    return Interrupted(fmt::format("stopped by {} in epoch {}; continue with: train --resume {}",
                                   name, epoch + 1, dir.path().string()),
                       sig);
  };
  for (; epoch < cfg.train.max_epochs; ++epoch) {
    if (int sig = StopSignals::requested()) {  // between two epochs
      save(epoch);
      throw interrupted(sig);
    }
    const int64_t words_before = words_trained;
    const double seconds_before = train_seconds;
    auto t0 = Clock::now();
    // The trainer reports words published by its threads (every 10k words).
    int64_t published = cursor.empty() ? epoch * words_per_epoch : cursor.words_done;
    int64_t seen = words_before;
    auto report = [&](const HogwildProgress& p) {
      double now = seconds_before + std::chrono::duration<double>(Clock::now() - t0).count();
      double dw = static_cast<double>(p.words_done - published);
      seen += p.words_done - published;
      published = p.words_done;
      win_loss_sum += p.loss * dw, win_loss_words += dw;
      double wps =
          static_cast<double>(seen - win_words_start) / std::max(1e-9, now - win_start_seconds);
      if (step_of(seen) >= next_log) {
        TrainRecord r;
        r.step = step_of(seen);
        r.epoch = static_cast<double>(p.words_done) / static_cast<double>(words_per_epoch);
        r.loss = win_loss_words > 0 ? win_loss_sum / win_loss_words : last_loss;
        r.units_per_sec = wps;
        r.lr = p.lr;
        r.train_seconds = now;
        progress.log(r);
        last_loss = r.loss;
        next_log = (r.step / cfg.train.log_every + 1) * cfg.train.log_every;
        win_words_start = seen, win_start_seconds = now;
        win_loss_sum = 0, win_loss_words = 0;
      }
      progress.bar(static_cast<double>(p.words_done) / total_words, step_of(seen),
                   win_loss_words > 0 ? win_loss_sum / win_loss_words : last_loss, wps, p.lr, now);
      return StopSignals::requested() == 0;
    };
    EpochStats st = hw.train_epoch(epoch, report, 0.02, &cursor);
    train_seconds = seconds_before + st.seconds;
    words_trained = words_before + st.words;
    progress.clear();
    if (hw.stopped()) {
      save(epoch);
      throw interrupted(StopSignals::requested());
    }
    logger()->info("[epoch {}] loss {:.4f} : {} words/s : {} words : {}", epoch + 1, st.loss,
                   compact_number(static_cast<double>(st.words) / std::max(1e-9, st.seconds)),
                   words_trained, hms(train_seconds));
    last_loss = st.loss;
    save(epoch + 1);
  }
  nlohmann::json summary;
  summary["steps"] = step_of(words_trained);
  summary["epochs"] = cfg.train.max_epochs;
  summary["seed"] = cfg.run.seed;
  summary["train_seconds"] = train_seconds;
  summary["words_per_sec"] = static_cast<double>(words_trained) / std::max(1e-9, train_seconds);
  summary["train_loss"] = last_loss;
  summary["threads"] = o.threads;
  summary["stop_reason"] = "done";
  // The vectors and their evaluation; a signal here leaves the run to finish
  // on --resume (its checkpoint is at the end of the last epoch).
  finish(dir, summary);
  if (int sig = StopSignals::requested()) {
    const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    logger()->info("{} while finishing the run; nothing lost", name);
    throw Interrupted(fmt::format("stopped by {} while finishing the run; continue with: train "
                                  "--resume {}",
                                  name, dir.path().string()),
                      sig);
  }
  dir.plot_learning_curve();
  dir.write_summary(summary);
  return summary;
}

void W2VJob::finish(const RunDir& dir, nlohmann::json& summary) {
  torch::Tensor vectors = model_.input().detach().contiguous();
  datasets::WordVectors wv = datasets::make_word_vectors(vocab_.words, vectors);
  if (cfg_.output.text) datasets::write_word2vec(wv, dir.file("vectors.txt").string(), false);
  if (cfg_.output.binary) datasets::write_word2vec(wv, dir.file("vectors.bin").string(), true);
  summary["vocab_size"] = vocab_.size();
  summary["corpus_words"] = static_cast<int64_t>(corpus_.ids.size());
  int64_t parameters = 0;
  for (const auto& p : model_.module().parameters()) parameters += p.numel();
  summary["parameters"] = parameters;
  if (!analogy_path_.empty()) {
    AnalogyResult a = evaluate_analogies(wv, analogy_path_, cfg_.eval.analogy_restrict);
    summary["analogy_accuracy"] = a.overall.accuracy();
    summary["analogy_semantic"] = a.semantic.accuracy();
    summary["analogy_syntactic"] = a.syntactic.accuracy();
    summary["analogy_questions"] = a.overall.total;
    summary["analogy_skipped"] = a.overall.skipped;
    logger()->info(
        "analogy {:.2f} % ({} / {} questions; {} skipped: a word outside the first {}) "
        ": semantic {:.2f} % : syntactic {:.2f} %",
        100 * a.overall.accuracy(), a.overall.correct, a.overall.total, a.overall.skipped,
        a.vocab_used, 100 * a.semantic.accuracy(), 100 * a.syntactic.accuracy());
    if (a.malformed)
      logger()->warn("{}: {} malformed lines skipped (first: line {})", analogy_path_, a.malformed,
                     a.first_malformed_line);
  }
  for (const auto& e : similarity_) {
    SimilarityOptions so;
    so.score_column = e.score_column;
    so.restrict_vocab = cfg_.eval.similarity_restrict;
    SimilarityResult r = evaluate_similarity(wv, e.path, so);
    summary[e.name + "_spearman"] = r.spearman;
    summary[e.name + "_pairs"] = r.pairs;
    summary[e.name + "_oov"] = r.oov;
    logger()->info("{} spearman {:.4f} ({} pairs, {} out of vocabulary)", e.name, r.spearman,
                   r.pairs, r.oov);
    if (r.malformed)
      logger()->warn("{}: {} malformed lines skipped (first: line {})", e.path, r.malformed,
                     r.first_malformed_line);
  }
  if (summary.contains("words_per_sec"))
    logger()->info("{} words/s over {} s of training",
                   compact_number(summary["words_per_sec"].get<double>()),
                   fmt::format("{:.1f}", summary["train_seconds"].get<double>()));
  std::string written;
  if (cfg_.output.text) written += " vectors.txt";
  if (cfg_.output.binary) written += " vectors.bin";
  if (!written.empty()) logger()->info("wrote{} in {}", written, dir.path().string());
}

}  // namespace rnnlab::word2vec
