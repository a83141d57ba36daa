// `rnnlab-word2vec train` (see task.h).
#include "apps/word2vec/task.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "apps/framework/checkpoint.h"
#include "apps/framework/distributed.h"
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

// The Trainer's view of a Hogwild run: the model and the corpus's words as
// units; no batches of its own (the engine trains whole epochs) and no
// validation split.
class HogwildTask : public Task {
 public:
  HogwildTask(Word2VecModel& model, int64_t steps_per_epoch)
      : model_(model), steps_per_epoch_(steps_per_epoch) {}
  torch::nn::Module& model() override { return model_.module(); }
  int64_t batches_per_epoch() const override { return steps_per_epoch_; }
  void start_epoch(int64_t) override {}
  StepOutput train_step(int64_t) override {
    throw std::logic_error("HogwildTask::train_step: the Hogwild engine trains the epochs");
  }
  Metrics evaluate(const std::string&) override { return {}; }
  std::string unit_name() const override { return "words"; }
  std::string loss_label() const override { return "-log-likelihood (nats per target)"; }

 private:
  Word2VecModel& model_;
  int64_t steps_per_epoch_;
};

// word2vec.c's lock-free epochs (hogwild.h) as the Trainer's engine. A step
// is data.batch_words corpus words of an epoch (the last one shorter); an
// epoch stopped by a signal or the time limit continues from its cursor.
class HogwildEngine : public Engine {
 public:
  HogwildEngine(Word2VecModel& model, const datasets::WordVocab& vocab,
                const datasets::EncodedCorpus& corpus, HogwildOptions o, int64_t batch_words)
      : model_(model), vocab_(vocab), corpus_(corpus), o_(o), batch_words_(batch_words) {}

  int64_t words_per_epoch() const { return static_cast<int64_t>(corpus_.ids.size()); }
  int64_t steps_per_epoch() const override {
    return std::max<int64_t>(1, (words_per_epoch() + batch_words_ - 1) / batch_words_);
  }

  void advance(const TrainingState& s,
               const std::function<bool(const EngineProgress&)>& report) override {
    torch::NoGradGuard no_grad;
    // Built at the first call, after a resumed model is loaded (loading
    // replaces the tensors' storage, which the kernel writes directly).
    if (!hw_)
      hw_ = std::make_unique<HogwildTrainer>(model_.input(), model_.output(), vocab_, corpus_, o_);
    const int64_t W = words_per_epoch(), spe = steps_per_epoch();
    int64_t in_epoch = cursor_.empty() ? 0 : words_in_epoch_;
    int64_t published = cursor_.empty() ? s.epoch * W : cursor_.words_done;
    int64_t reported = 0;
    double reported_seconds = 0;
    auto t0 = Clock::now();
    auto piece = [&](int64_t words, double loss, double lr, bool epoch_over) {
      const double now = std::chrono::duration<double>(Clock::now() - t0).count();
      EngineProgress e;
      in_epoch += words, reported += words;
      e.units = words;
      e.loss_sum = loss * static_cast<double>(words);
      e.seconds = now - reported_seconds, reported_seconds = now;
      e.lr = lr;
      e.batch = epoch_over ? spe : std::min(spe - 1, in_epoch / batch_words_);
      e.step = s.epoch * spe + e.batch;
      return report(e);
    };
    EpochStats st = hw_->train_epoch(
        s.epoch,
        [&](const HogwildProgress& p) {
          int64_t words = p.words_done - published;
          published = p.words_done;
          return piece(words, p.loss, p.lr, false);
        },
        0.02, &cursor_);
    // What the last report did not cover (the words counted since, those a
    // stopped thread has not published).
    const bool over = !hw_->stopped();
    piece(st.words - reported, st.loss, hw_->lr_at((s.epoch + 1) * W), over);
    words_in_epoch_ = over ? 0 : in_epoch;
  }

  void save(torch::serialize::OutputArchive&, YAML::Node& engine) const override {
    engine["threads"] = o_.threads;
    if (cursor_.empty()) return;
    // Where each thread stopped, to continue the epoch bit for bit (one thread).
    YAML::Node c;
    c["words_in_epoch"] = words_in_epoch_;
    c["words_done"] = cursor_.words_done;
    c["next_sentence"] = cursor_.next_sentence;
    c["local_words"] = cursor_.local_words;
    c["window_no"] = cursor_.window_no;
    c["rng"] = cursor_.rng;
    c["alpha"] = cursor_.alpha;
    for (const char* k : {"next_sentence", "local_words", "window_no", "rng", "alpha"})
      c[k].SetStyle(YAML::EmitterStyle::Flow);
    engine["cursor"] = c;
  }

  void load(torch::serialize::InputArchive&, const YAML::Node& engine,
            const fs::path& file) override {
    cursor_ = HogwildCursor{};
    words_in_epoch_ = 0;
    const YAML::Node c = engine["cursor"];
    if (!c) return;
    try {
      words_in_epoch_ = c["words_in_epoch"].as<int64_t>();
      cursor_.words_done = c["words_done"].as<int64_t>();
      cursor_.next_sentence = c["next_sentence"].as<std::vector<int64_t>>();
      cursor_.local_words = c["local_words"].as<std::vector<int64_t>>();
      cursor_.window_no = c["window_no"].as<std::vector<int64_t>>();
      cursor_.rng = c["rng"].as<std::vector<uint64_t>>();
      cursor_.alpha = c["alpha"].as<std::vector<double>>();
    } catch (const YAML::Exception&) {
      throw DataError("checkpoint '" + file.string() +
                      "' cannot be resumed: its Hogwild cursor is malformed");
    }
    if (cursor_.next_sentence.size() != static_cast<size_t>(o_.threads))
      throw DataError(fmt::format(
          "checkpoint '{}' stopped an epoch with {} threads; resume with --set run.threads={}",
          file.string(), cursor_.next_sentence.size(), cursor_.next_sentence.size()));
  }

  void add_summary(nlohmann::json& summary) const override { summary["threads"] = o_.threads; }

 private:
  Word2VecModel& model_;
  const datasets::WordVocab& vocab_;
  const datasets::EncodedCorpus& corpus_;
  HogwildOptions o_;
  int64_t batch_words_;
  std::unique_ptr<HogwildTrainer> hw_;
  HogwildCursor cursor_;        // where a stopped epoch stands (empty: none)
  int64_t words_in_epoch_ = 0;  // words of the stopped epoch already trained
};

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
    if (train.max_steps != 0)
      throw s.error("train.max_steps",
                    "the fast trainer's steps are not updates: use train.max_epochs or "
                    "train.max_minutes" +
                        why);
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

void W2VTask::shard(Collective& collective) {
  rank_ = collective.rank();
  world_ = collective.size();
}

StepOutput W2VTask::train_step(int64_t index) {
  const uint64_t seed =
      datasets::derive_seed(static_cast<uint64_t>(cfg_.run.seed), "word2vec-batch",
                            {static_cast<uint64_t>(epoch_), static_cast<uint64_t>(index)});
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
  int64_t B = static_cast<int64_t>(centre.size());
  StepOutput out;
  out.units = words;
  out.loss_is_sum = true;
  // Data-parallel: this rank's examples [lo, hi) of the B, and its part of the words.
  int64_t lo = 0, hi = B;
  if (world_ > 1) {
    lo = B * rank_ / world_, hi = B * (rank_ + 1) / world_;
    out.units = words * (rank_ + 1) / world_ - words * rank_ / world_;
  }
  out.loss_items = 0;
  if (hi == lo) {
    // Everything was subsampled away (or this rank's share is empty): a
    // zero loss that still has a graph.
    out.loss = model_.input().sum() * 0;
    out.reported_loss = 0;
    return out;
  }
  torch::Tensor c = torch::tensor(centre, torch::kLong);
  torch::Tensor negatives;
  if (cfg_.model.negative > 0) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(
        datasets::derive_seed(static_cast<uint64_t>(cfg_.run.seed), "word2vec-negatives",
                              {static_cast<uint64_t>(epoch_), static_cast<uint64_t>(index)}));
    negatives = noise_.sample({B, cfg_.model.negative}, gen);
  }
  torch::Tensor ctx = torch::tensor(context, torch::kLong);
  if (cbow) ctx = ctx.view({B, 2 * W});
  if (hi - lo != B) {
    c = c.slice(0, lo, hi);
    ctx = ctx.slice(0, lo, hi);
    if (negatives.defined()) negatives = negatives.slice(0, lo, hi);
    B = hi - lo;
  }
  if (cbow)
    out.loss = model_.cbow->forward(ctx, c, negatives);
  else
    out.loss = model_.skipgram->forward(c, ctx, negatives);
  // Logged as a mean per predicted word and target (the centre word and each
  // negative), as the fast engine logs it.
  int64_t targets = B * (cfg_.model.negative + (cfg_.model.hs ? 1 : 0) + 1);
  out.reported_loss = out.loss.item<double>() / static_cast<double>(targets);
  out.loss_items = targets;
  return out;
}

// ---------------------------------------------------------------------------
// The job

std::pair<std::vector<std::string>, datasets::WordVocab> corpus_vocabulary(const W2VConfig& cfg) {
  std::vector<std::string> files;
  for (const auto& f : cfg.data.corpus) files.push_back(data_path(cfg.run, f, "data.corpus"));
  datasets::WordVocabOptions vo;
  vo.min_count = cfg.data.min_count;
  vo.max_size = cfg.data.max_vocab;
  vo.normalize = cfg.data.normalize;
  return {files, datasets::build_word_vocab(files, vo)};
}

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
  vocab_ = corpus_vocabulary(cfg).second;
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
  } else {
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
    auto hogwild =
        std::make_unique<HogwildEngine>(model_, vocab_, corpus_, o, cfg.data.batch_words);
    task_ = std::make_unique<HogwildTask>(model_, hogwild->steps_per_epoch());
    trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema,
                                         std::move(hogwild));
  }
  intro_.push_back(fmt::format(
      "model: {} dim {} window {} negative {}{} sample {:g}; {} epochs, lr {:g} -> {:g}; engine {}",
      cfg.model.arch, cfg.model.dim, cfg.model.window, cfg.model.negative,
      cfg.model.hs ? " hs" : "", cfg.model.sample, cfg.train.max_epochs, cfg.optim.lr,
      cfg.optim.min_lr, engine));
}

nlohmann::json W2VJob::run(const RunDir& dir, bool resume, const std::string& label,
                           const std::function<void(int64_t)>& on_resumed) {
  trainer_->set_label(label);
  trainer_->set_intro(intro_);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  trainer_->on_finish([&](nlohmann::json& s) { finish(dir, s); });
  return trainer_->fit(dir, resume);
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
