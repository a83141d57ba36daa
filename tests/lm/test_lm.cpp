// The language model's task and job: batching of the token streams, the
// training split, learning on a tiny corpus, exact resume, deterministic
// generation, a corpus too short for its batches, and unit inspection.
#include <gtest/gtest.h>

#include <cmath>

#include "apps/framework/run_dir.h"
#include "apps/framework/trainer.h"
#include "apps/lm/inspect.h"
#include "apps/lm/task.h"
#include "core/error.h"
#include "datasets/seed.h"
#include "datasets/word_vectors.h"
#include "tests/support/support.h"

namespace rnnlab {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

lm::LMConfig tiny_lm_config(const std::string& corpus) {
  lm::LMConfig cfg;
  cfg.data.train = corpus;
  cfg.data.batch_size = 4;
  cfg.data.bptt = 16;
  cfg.data.eval_batch_size = 4;
  cfg.model.embedding = 16;
  cfg.model.dropout = 0.1;  // so that the RNG state matters for resuming
  cfg.model.rnn.stack.hidden_size(32);
  cfg.train.max_steps = 40;
  cfg.train.eval_every = 10;
  cfg.train.log_every = 5;
  cfg.optim.lr = 0.01;
  cfg.run.progress = "lines";
  cfg.run.seed = 7;
  return cfg;
}

nlohmann::json train_lm(const lm::LMConfig& cfg, const fs::path& run, bool resume) {
  seed_everything(cfg.run.seed);
  lm::LMTask task(cfg, resume ? (run / "tokenizer").string() : "", torch::kCPU);
  RunDir dir = resume ? RunDir::open(run) : RunDir::create(run);
  if (!resume) {
    write_file_atomic(dir.file("config.yaml"), "{}\n");
    task.save_tokenizer(dir.file("tokenizer"));
  }
  return Trainer(task, cfg.train, cfg.optim, cfg.run).fit(dir, resume);
}

TEST(LanguageModel, BatchifyShiftsTargetsAndKeepsStreamsContiguous) {
  std::vector<int64_t> ids = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  lm::StreamBatches s = lm::batchify(ids, 3, 2, 0, 2);
  // stream = <bos>=2, 10..19 (N = 10); L = 4 rows, B = 3 columns.
  ASSERT_EQ(s.inputs.sizes(), torch::IntArrayRef({4, 3}));
  EXPECT_EQ(s.tokens, 10);
  EXPECT_EQ(s.size(), 2);
  // Column b holds inputs [4b, 4b+4) of the stream; targets are the next tokens.
  EXPECT_TRUE(s.inputs.select(1, 0).equal(torch::tensor({2, 10, 11, 12}, torch::kLong)));
  EXPECT_TRUE(s.targets.select(1, 0).equal(torch::tensor({10, 11, 12, 13}, torch::kLong)));
  EXPECT_TRUE(s.inputs.select(1, 1).equal(torch::tensor({13, 14, 15, 16}, torch::kLong)));
  EXPECT_TRUE(s.targets.select(1, 2).equal(torch::tensor({18, 19, 0, 0}, torch::kLong)));
  auto [x1, y1] = s.get(1);
  EXPECT_TRUE(x1.equal(s.inputs.narrow(0, 2, 2)));
  EXPECT_TRUE(y1.equal(s.targets.narrow(0, 2, 2)));
}

TEST(LanguageModel, SplitByFractionCutsAtCharacterBoundaries) {
  std::string text = "ab한국어cd";
  // 13 bytes; the cut at byte 6 falls inside '국' and moves to its end.
  auto parts = lm::split_by_fraction(text, 0.5, 0.0);
  EXPECT_EQ(parts[0] + parts[1] + parts[2], text);
  EXPECT_EQ(parts[0], "ab한국");
  EXPECT_EQ(parts[1], "어cd");
}

TEST(LanguageModel, LossFallsOnATinyCorpus) {
  TempDir tmp;
  std::string corpus = test::write_file(tmp.file("corpus.txt"), test::tiny_corpus());
  lm::LMConfig cfg = tiny_lm_config(corpus);
  cfg.train.max_steps = 150;
  cfg.train.eval_every = 50;
  nlohmann::json summary = train_lm(cfg, tmp.path / "run", false);
  // 20-odd characters: a uniform guess costs ln(24) = 3.2 nats; the words and
  // their spelling are easy to learn.
  EXPECT_LT(summary["val_loss"].get<double>(), 1.6);
  EXPECT_GT(summary["val_bpc"].get<double>(), 0.1);
  std::string metrics = test::read_all((tmp.path / "run" / "metrics.jsonl").string());
  auto first = nlohmann::json::parse(metrics.substr(0, metrics.find('\n')));
  EXPECT_GT(first["loss"].get<double>(), summary["val_loss"].get<double>() + 0.5);
}

TEST(LanguageModel, ResumedRunEndsWithTheSameMetrics) {
  TempDir tmp;
  std::string corpus = test::write_file(tmp.file("corpus.txt"), test::tiny_corpus());
  lm::LMConfig cfg = tiny_lm_config(corpus);
  nlohmann::json straight = train_lm(cfg, tmp.path / "straight", false);

  lm::LMConfig first_half = cfg;
  first_half.train.max_steps = 20;  // stops mid-epoch, with a carried hidden state
  train_lm(first_half, tmp.path / "resumed", false);
  nlohmann::json resumed = train_lm(cfg, tmp.path / "resumed", true);

  EXPECT_EQ(resumed["steps"], straight["steps"]);
  EXPECT_DOUBLE_EQ(resumed["val_loss"].get<double>(), straight["val_loss"].get<double>());
  EXPECT_DOUBLE_EQ(resumed["val_bpc"].get<double>(), straight["val_bpc"].get<double>());
  // metrics.jsonl of the resumed run has each step once.
  std::string a = test::read_all((tmp.path / "resumed" / "metrics.jsonl").string());
  std::string b = test::read_all((tmp.path / "straight" / "metrics.jsonl").string());
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), std::count(b.begin(), b.end(), '\n'));
}

TEST(LanguageModel, GenerationIsDeterministicUnderASeed) {
  TempDir tmp;
  std::string corpus = test::write_file(tmp.file("corpus.txt"), test::tiny_corpus());
  lm::LMConfig cfg = tiny_lm_config(corpus);
  cfg.train.max_steps = 5;
  seed_everything(1);
  lm::LMTask task(cfg, "", torch::kCPU);
  auto a = lm::generate(task.lm(), task.tokenizer(), "the ", 50, 1.0, 0, 42, torch::kCPU);
  auto b = lm::generate(task.lm(), task.tokenizer(), "the ", 50, 1.0, 0, 42, torch::kCPU);
  auto c = lm::generate(task.lm(), task.tokenizer(), "the ", 50, 1.0, 0, 43, torch::kCPU);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.rfind("the ", 0), 0u);
  try {
    lm::generate(task.lm(), task.tokenizer(), "the Z", 5, 1.0, 0, 1, torch::kCPU);
    ADD_FAILURE() << "a prompt with 'Z', which is not in the corpus, was accepted";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "prompt:1: character 'Z' (U+005A) at column 5 is not in the vocabulary");
  }
}

// The benchmarks' protocol (PTB, WikiText-2): words split on white space,
// one <eos> per line, the data's own <unk>, every token of a held-out file
// scored, and with data.oov error a word outside the vocabulary named.
TEST(LanguageModel, BenchmarkProtocolScoresEveryTokenAndRefusesUnknownWords) {
  TempDir tmp;
  std::string train_text;
  for (int i = 0; i < 40; ++i) train_text += " the cat 's <unk> sat \n the N dogs \n";
  lm::LMConfig cfg = tiny_lm_config(test::write_file(tmp.file("train.txt"), train_text));
  cfg.data.tokenizer.type = "word";
  cfg.data.tokenizer.split_punctuation = false;
  cfg.data.valid = test::write_file(tmp.file("valid.txt"), " the <unk> cat \n N dogs sat \n");
  cfg.data.oov = "error";
  {
    lm::LMTask task(cfg, "", torch::kCPU);
    // <pad> <unk> <bos> <eos> + the, cat, 's, sat, N, dogs (<unk> is the data's own).
    EXPECT_EQ(task.tokenizer().vocab_size(), 10);
    EXPECT_EQ(task.tokens("train"), 40 * 10);
    EXPECT_EQ(task.tokens("valid"), 8);  // 3 + 3 words and two <eos>
  }
  test::write_file(tmp.file("valid.txt"), " the cat \n the cats sat \n");
  try {
    lm::LMTask task(cfg, "", torch::kCPU);
    FAIL() << "a word outside the vocabulary was accepted";
  } catch (const DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("valid.txt (data.valid):2: word \"cats\""), std::string::npos) << what;
    EXPECT_NE(what.find("data.oov: error"), std::string::npos) << what;
  }
  cfg.data.oov = "unk";  // scored as <unk> instead
  lm::LMTask task(cfg, "", torch::kCPU);
  EXPECT_EQ(task.tokens("valid"), 7);
  // data.bpc_per token: bits per token (PTB's character files: one symbol a token)
  const double loss = 1.3;
  // by default over the text's characters (all ASCII here)
  EXPECT_DOUBLE_EQ(task.loss_metrics(loss).at("bpc"),
                   loss / std::log(2.0) / (static_cast<double>(train_text.size()) / 400));
  cfg.data.bpc_per = "token";
  lm::LMTask per_token(cfg, "", torch::kCPU);
  EXPECT_DOUBLE_EQ(per_token.loss_metrics(loss).at("bpc"), loss / std::log(2.0));
}

// model.vectors: the rows of the words a word2vec file has (as written or
// lower-cased) start as its vectors, every other weight as without it; a
// resumed run does not read the file; a file of another size is a data error.
TEST(LanguageModel, WordVectorsStartTheEmbeddingRowsTheyCover) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the cat sat on The mat \n";
  lm::LMConfig cfg = tiny_lm_config(test::write_file(tmp.file("train.txt"), text));
  cfg.data.tokenizer.type = "word";
  cfg.model.tie_weights = true;  // the output layer is the embedding: it starts there too
  seed_everything(3);
  lm::LMTask plain(cfg, "", torch::kCPU);
  const torch::Tensor vectors = torch::randn({3, 16});
  datasets::write_word2vec(datasets::make_word_vectors({"cat", "the", "dog"}, vectors),
                           tmp.file("vec.txt"), false);
  cfg.model.vectors = tmp.file("vec.txt");
  seed_everything(3);
  lm::LMTask task(cfg, "", torch::kCPU);
  const auto& tok = task.tokenizer();
  ASSERT_EQ(tok.vocab_size(), 4 + 6);  // the specials; the, cat, sat, on, The, mat
  const torch::Tensor e = task.lm()->embedding->weight, e0 = plain.lm()->embedding->weight;
  const int64_t cat = tok.encode("cat").at(0), the = tok.encode("the").at(0),
                The = tok.encode("The").at(0);
  EXPECT_TRUE(e[cat].equal(vectors[0]));
  EXPECT_TRUE(e[the].equal(vectors[1]));
  EXPECT_TRUE(e[The].equal(vectors[1])) << "'The' is looked up lower-cased";
  int64_t same = 0;
  for (int64_t id = 0; id < tok.vocab_size(); ++id)
    if (id != cat && id != the && id != The) same += e[id].equal(e0[id]);
  EXPECT_EQ(same, tok.vocab_size() - 3) << "the words the file lacks keep their initialisation";
  for (const auto& p : task.lm()->named_parameters()) {
    if (p.key() == "embedding.weight") continue;
    EXPECT_TRUE(p.value().equal(plain.lm()->named_parameters()[p.key()])) << p.key();
  }
  EXPECT_EQ(task.init_note(),
            "model.vectors: 3 of the vocabulary's 6 words from '" + cfg.model.vectors + "'");
  // Resuming: the weights come from the checkpoint; the file is not read.
  task.save_tokenizer(tmp.file("tok"));
  std::filesystem::remove(cfg.model.vectors);
  EXPECT_NO_THROW(lm::LMTask(cfg, tmp.file("tok"), torch::kCPU));
  // Vectors of another size: the file and the key to set.
  datasets::write_word2vec(datasets::make_word_vectors({"cat"}, torch::ones({1, 5})),
                           cfg.model.vectors, false);
  try {
    lm::LMTask wrong(cfg, "", torch::kCPU);
    FAIL() << "5-dimensional vectors went into a 16-dimensional embedding";
  } catch (const DataError& err) {
    EXPECT_EQ(std::string(err.what()),
              cfg.model.vectors +
                  ":1: the vectors have 5 dimensions, the model's embedding 16 (set "
                  "model.embedding: 5)");
  }
}

// model.init_uniform: every parameter from U(-a, a) (Zaremba et al.), the
// padding embedding zero, for hand-written and built-in cells alike.
TEST(LanguageModel, UniformInitialisationCoversEveryParameter) {
  lm::LMConfig cfg;
  cfg.model.embedding = 32;
  cfg.model.rnn.stack.hidden_size(48).num_layers(2);
  cfg.model.init_uniform = 0.05;
  for (const char* impl : {"custom", "builtin"}) {
    cfg.model.rnn.impl = impl;
    torch::manual_seed(3);
    LanguageModel model = lm::build_model(cfg, 500);
    for (const auto& p : model->named_parameters()) {
      const double top = p.value().abs().max().item<double>();
      EXPECT_LE(top, 0.05) << impl << " " << p.key();
      if (p.value().numel() > 200) {
        EXPECT_GT(top, 0.045) << impl << " " << p.key();
      }
    }
    EXPECT_EQ(model->embedding->weight[0].abs().sum().item<double>(), 0.0);
  }
  // model.init_embedding: the embedding table alone
  cfg.model.init_uniform = 0;
  cfg.model.init_embedding = 0.1;
  torch::manual_seed(3);
  LanguageModel model = lm::build_model(cfg, 500);
  EXPECT_LE(model->embedding->weight.abs().max().item<double>(), 0.1);
  EXPECT_GT(model->embedding->weight.abs().max().item<double>(), 0.09);
  EXPECT_GT(model->named_parameters()["rnn.rnn.weight_hh_l0"].abs().max().item<double>(), 0.1);
}

// train.loss_sum_over_bptt: the loss trained on is T x the per-token mean
// (Zaremba et al.'s convention); the logged loss stays the per-token mean.
TEST(LanguageModel, LossSummedOverStepsIsTTimesTheMeanPerToken) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the quick brown fox jumps over the lazy dog\n";
  lm::LMConfig cfg = tiny_lm_config(test::write_file(tmp.file("corpus.txt"), text));
  cfg.model.dropout = 0;
  auto first_step = [&](bool summed) {
    cfg.loss_sum_over_bptt = summed;
    torch::manual_seed(5);
    lm::LMTask task(cfg, "", torch::kCPU);
    task.start_epoch(0);
    return task.train_step(0);
  };
  StepOutput mean = first_step(false), sum = first_step(true);
  EXPECT_TRUE(std::isnan(mean.reported_loss));
  EXPECT_NEAR(sum.reported_loss, mean.loss.item<double>(), 1e-6);
  EXPECT_NEAR(sum.loss.item<double>(), cfg.data.bptt * mean.loss.item<double>(), 1e-4);
}

// Embedding dropout (AWD-LSTM's dropoute): in training the model embeds with
// E * m / (1 - p), m (V, 1) ~ Bernoulli(1 - p) drawn once per forward pass.
TEST(LanguageModel, EmbeddingDropoutDropsWholeWords) {
  lm::LMConfig cfg;
  cfg.model.embedding = 12;
  cfg.model.rnn.stack.hidden_size(16);
  cfg.model.embedding_dropout = 0.5;
  torch::manual_seed(21);
  LanguageModel model = lm::build_model(cfg, 30);
  cfg.model.embedding_dropout = 0;
  LanguageModel plain = lm::build_model(cfg, 30);
  {
    torch::NoGradGuard no_grad;
    auto from = model->named_parameters();
    for (auto& p : plain->named_parameters()) p.value().copy_(from[p.key()]);
  }
  const torch::Tensor tokens = torch::randint(1, 30, {5, 3}, torch::kLong);
  model->train();
  torch::manual_seed(22);
  torch::Tensor logits = std::get<0>(model(tokens));
  torch::manual_seed(22);
  {
    torch::NoGradGuard no_grad;
    torch::Tensor& E = plain->embedding->weight;
    E.mul_(torch::empty({30, 1}).bernoulli_(0.5).div_(0.5));
  }
  plain->eval();  // nothing else is random
  EXPECT_LE((logits - std::get<0>(plain(tokens))).abs().max().item<double>(), 1e-6);
  model->eval();  // no dropout in evaluation
  torch::Tensor a = std::get<0>(model(tokens)), b = std::get<0>(model(tokens));
  EXPECT_TRUE(torch::equal(a, b));
}

// AR and TAR (Merity et al. 2017): the loss trained on is the cross-entropy
// plus alpha x mean(h_drop^2) plus beta x mean((h_t - h_{t-1})^2) over the
// last layer's output h (T, B, F); the logged loss is the cross-entropy.
TEST(LanguageModel, ActivationRegularisationAddsItsExactTerms) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the quick brown fox jumps over the lazy dog\n";
  lm::LMConfig cfg = tiny_lm_config(test::write_file(tmp.file("corpus.txt"), text));
  cfg.model.dropout = 0;
  cfg.ar_alpha = 2.0;
  cfg.tar_beta = 1.0;
  torch::manual_seed(5);
  lm::LMTask task(cfg, "", torch::kCPU);
  task.start_epoch(0);
  StepOutput out = task.train_step(0);
  lm::StreamBatches stream =
      lm::layout_text(task.tokenizer(), lm::split_by_fraction(text, 0.1, 0.0)[0],
                      cfg.data.batch_size, cfg.data.bptt, "corpus");
  auto [x, y] = stream.get(0);
  LanguageModelOutput run = task.lm()->run(x);
  torch::Tensor ce = torch::nn::functional::cross_entropy(run.logits.flatten(0, 1), y.flatten());
  const int64_t T = run.hidden.size(0);
  torch::Tensor dh = run.hidden.narrow(0, 1, T - 1) - run.hidden.narrow(0, 0, T - 1);
  const double expected = ce.item<double>() + 2.0 * run.hidden.pow(2).mean().item<double>() +
                          1.0 * dh.pow(2).mean().item<double>();
  EXPECT_NEAR(out.reported_loss, ce.item<double>(), 1e-5);
  EXPECT_NEAR(out.loss.item<double>(), expected, 1e-5);
  EXPECT_GT(out.loss.item<double>() - out.reported_loss, 1e-3);
}

// Variable-length BPTT (Merity et al. 2017): an epoch's windows cover the
// rows exactly, in the fixed number of updates, with lengths around bptt
// (about 5% near bptt / 2), drawn from the seed; each update's learning rate
// is scaled by its window's length over bptt.
TEST(LanguageModel, VariableBpttWindowsCoverTheEpochAroundBptt) {
  const int64_t rows = 46480, bptt = 70, windows = (rows + bptt - 1) / bptt;
  std::vector<int64_t> w = lm::variable_windows(rows, windows, bptt, 99);
  ASSERT_EQ(static_cast<int64_t>(w.size()), windows + 1);
  EXPECT_EQ(w.front(), 0);
  EXPECT_EQ(w.back(), rows);
  int64_t halves = 0;
  for (int64_t i = 0; i < windows; ++i) {
    const int64_t length = w[i + 1] - w[i];
    ASSERT_GE(length, 1);
    EXPECT_LE(length, bptt + 40);
    if (length < bptt * 3 / 4) ++halves;
  }
  EXPECT_NEAR(static_cast<double>(halves) / windows, 0.05, 0.02);
  EXPECT_EQ(lm::variable_windows(rows, windows, bptt, 99), w);
  EXPECT_NE(lm::variable_windows(rows, windows, bptt, 100), w);

  TempDir tmp;
  std::string text;
  for (int i = 0; i < 60; ++i) text += "the quick brown fox jumps over the lazy dog\n";
  lm::LMConfig cfg = tiny_lm_config(test::write_file(tmp.file("corpus.txt"), text));
  cfg.data.variable_bptt = true;
  lm::LMTask task(cfg, "", torch::kCPU);
  task.start_epoch(3);
  const int64_t L = (task.tokens("train") + 3) / 4;  // rows of 4 streams
  std::vector<int64_t> mine = lm::variable_windows(
      L, task.batches_per_epoch(), cfg.data.bptt, datasets::derive_seed(cfg.run.seed, "bptt", {3}));
  for (int64_t i : {int64_t(0), task.batches_per_epoch() - 1}) {
    StepOutput out = task.train_step(i);
    const int64_t length = mine[i + 1] - mine[i];
    EXPECT_DOUBLE_EQ(out.lr_scale, static_cast<double>(length) / cfg.data.bptt) << i;
    if (i == 0) {
      EXPECT_EQ(out.units, 4 * length);
    }
  }
}

// model.last_hidden (AWD-LSTM): the last layer is a stack of its own of the
// embedding size, so tied embeddings need no projection; the state of the
// differently sized layers is carried exactly from one batch to the next.
TEST(LanguageModel, LastLayerOfEmbeddingSizeCarriesItsState) {
  for (const char* type : {"lstm", "gru"}) {
    lm::LMConfig cfg;
    cfg.model.embedding = 12;
    cfg.model.tie_weights = true;
    cfg.model.last_hidden = 12;
    cfg.model.rnn.type = type;
    cfg.model.rnn.stack.hidden_size(20).num_layers(3);
    torch::manual_seed(31);
    LanguageModel model = lm::build_model(cfg, 40);
    EXPECT_FALSE(model->projection) << type;
    const int64_t G = std::string(type) == "lstm" ? 4 : 3;
    auto params = model->named_parameters();
    EXPECT_EQ(params["rnn_last.rnn.weight_ih_l0"].sizes(), torch::IntArrayRef({G * 12, 20}));
    EXPECT_EQ(params["rnn_last.rnn.weight_hh_l0"].sizes(), torch::IntArrayRef({G * 12, 12}));
    EXPECT_TRUE(params.contains("rnn.rnn.weight_hh_l1"));
    EXPECT_FALSE(params.contains("rnn.rnn.weight_hh_l2"));
    model->eval();
    const torch::Tensor tokens = torch::randint(1, 40, {10, 3}, torch::kLong);
    auto [whole, state] = model(tokens);
    EXPECT_EQ(state.h.sizes(), torch::IntArrayRef({3, 3, 20}));
    auto [first, mid] = model(tokens.narrow(0, 0, 4));
    auto [second, end] = model(tokens.narrow(0, 4, 6), mid);
    EXPECT_LE((torch::cat({first, second}) - whole).abs().max().item<double>(), 1e-5) << type;
    EXPECT_LE((end.h - state.h).abs().max().item<double>(), 1e-6) << type;
  }
}

// The adaptive softmax (Grave et al. 2017): exact log-probabilities (each
// row sums to 1 over the vocabulary), nll() equals the log-probabilities'
// sum over the targets, pads skipped, and a model with it learns.
TEST(LanguageModel, AdaptiveSoftmaxGivesExactLogProbabilities) {
  lm::LMConfig cfg;
  cfg.model.embedding = 16;
  cfg.model.rnn.stack.hidden_size(24);
  cfg.model.adaptive_cutoffs = {10, 30};
  torch::manual_seed(41);
  LanguageModel model = lm::build_model(cfg, 80);
  ASSERT_TRUE(model->adaptive);
  model->eval();
  torch::Tensor tokens = torch::randint(1, 80, {6, 3}, torch::kLong);
  torch::Tensor targets = torch::randint(1, 80, {6, 3}, torch::kLong);
  targets[5][2] = 0;  // a pad
  LanguageModelOutput out = model->run(tokens);
  torch::Tensor lp = model->log_probs(out);
  ASSERT_EQ(lp.sizes(), torch::IntArrayRef({6, 3, 80}));
  EXPECT_LE((lp.exp().sum(-1) - 1).abs().max().item<double>(), 1e-5);
  torch::Tensor picked = lp.gather(2, targets.unsqueeze(2)).squeeze(2);
  const double expected = -picked.masked_select(targets != 0).sum().item<double>();
  EXPECT_NEAR(model->nll(out, targets, 0, false).item<double>(), expected, 1e-4);
  EXPECT_NEAR(model->nll(out, targets, 0, true).item<double>(), expected / 17, 1e-5);
  // forward() gives the log-probabilities
  EXPECT_LE((std::get<0>(model(tokens)) - lp).abs().max().item<double>(), 1e-6);

  TempDir tmp;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "the quick brown fox jumps over the lazy dog\n";
  lm::LMConfig small = tiny_lm_config(test::write_file(tmp.file("corpus.txt"), text));
  small.model.adaptive_cutoffs = {8, 16};
  small.train.max_steps = 60;
  nlohmann::json summary = train_lm(small, tmp.path / "run", false);
  EXPECT_LT(summary["val_loss"].get<double>(), 1.0);
  small.model.adaptive_cutoffs = {8, 40};  // the vocabulary has 4 + 27 ids
  try {
    lm::LMTask task(small, "", torch::kCPU);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.adaptive_softmax.cutoffs"), std::string::npos);
  }
}

TEST(LanguageModel, TooShortCorpusIsAClearError) {
  TempDir tmp;
  std::string corpus = test::write_file(tmp.file("corpus.txt"), "hello world\n");
  lm::LMConfig cfg = tiny_lm_config(corpus);
  try {
    lm::LMTask task(cfg, "", torch::kCPU);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("too few for data.batch_size 4 x data.bptt 16"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace rnnlab

namespace rnnlab {
namespace {

TEST(LanguageModel, HelloToyLearnsToContinueHello) {
  TempDir tmp;
  lm::LMConfig cfg;
  ConfigSchema schema;
  cfg.bind(schema);
  schema.load_file(std::string(RNNLAB_SOURCE_DIR) + "/experiments/lm/hello.yaml");
  schema.apply_override("run.progress=lines");
  schema.finalize();
  seed_everything(cfg.run.seed);
  lm::LMTask task(cfg, "", torch::kCPU);
  RunDir dir = RunDir::create(tmp.path / "run");
  nlohmann::json summary = Trainer(task, cfg.train, cfg.optim, cfg.run).fit(dir, false);
  EXPECT_LT(summary["val_loss"].get<double>(), 0.1);
  // Greedy continuation: after "h" comes "ello", then the next "hello".
  std::string text = lm::generate(task.lm(), task.tokenizer(), "h", 17, 0.0, 0, 1, torch::kCPU);
  EXPECT_EQ(text, "hello\nhello\nhello\n");
}

TEST(LanguageModel, InspectRanksUnitsAgainstFeatures) {
  auto f = lm::token_features({"a", "(", "b", ")", "\n", "C", "\"", "d"});
  ASSERT_EQ(f[1].first, "inside brackets");
  EXPECT_EQ(f[1].second, (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 0}));
  ASSERT_EQ(f[3].first, "start of a new line");
  EXPECT_EQ(f[3].second, (std::vector<double>{1, 0, 0, 0, 0, 1, 0, 0}));
  ASSERT_EQ(f[2].first, "position in line");
  EXPECT_EQ(f[2].second, (std::vector<double>{0, 1, 2, 3, 4, 0, 1, 2}));

  TempDir tmp;
  std::string corpus = test::write_file(tmp.file("corpus.txt"), test::tiny_corpus());
  lm::LMConfig cfg = tiny_lm_config(corpus);
  lm::LMTask task(cfg, "", torch::kCPU);
  lm::Inspection ins = lm::inspect_text(task.lm(), task.tokenizer(), test::tiny_corpus(20), 3, 64);
  ASSERT_EQ(ins.activations.size(), 2u);  // L1.h and L1.c
  EXPECT_EQ(ins.activations[0].second.size(0), static_cast<int64_t>(ins.pieces.size()));
  EXPECT_FALSE(ins.ranking.empty());
  for (const auto& s : ins.ranking) EXPECT_LE(std::abs(s.r), 1.0 + 1e-9);
  lm::write_inspection_html(ins, tmp.file("page.html"), "test");
  std::string html = test::read_all(tmp.file("page.html"));
  EXPECT_NE(html.find("const UNITS = {"), std::string::npos);
  EXPECT_NE(html.find(ins.ranking[0].unit), std::string::npos);
}

}  // namespace
}  // namespace rnnlab
