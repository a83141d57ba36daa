// The lock-free word2vec trainer: it learns (two word groups that never meet
// end up apart), one thread and one seed give one result, the learning rate
// decays as word2vec.c's, and a report callback can stop an epoch.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "apps/word2vec/hogwild.h"

namespace rnnlab::word2vec {
namespace {

namespace fs = std::filesystem;

// Sentences of words from one group at a time: a0..a9 or b0..b9.
struct TwoGroups {
  fs::path file;
  datasets::WordVocab vocab;
  datasets::EncodedCorpus corpus;
  TwoGroups(int sentences = 3000) {
    file = fs::temp_directory_path() / ("rnnlab-hogwild-" + std::to_string(::getpid()) + ".txt");
    std::ofstream out(file);
    datasets::Word2VecRandom rng(3);
    for (int s = 0; s < sentences; ++s) {
      char group = s % 2 ? 'a' : 'b';
      for (int w = 0; w < 12; ++w) out << group << rng.next() % 10 << (w < 11 ? " " : "\n");
    }
    out.close();
    vocab = datasets::build_word_vocab({file.string()}, {1, 0, false});
    corpus = datasets::encode_word_corpus({file.string()}, vocab, false);
  }
  ~TwoGroups() { fs::remove(file); }
};

// Mean cosine similarity within the groups minus between them.
double separation(const torch::Tensor& syn0, const datasets::WordVocab& vocab) {
  torch::Tensor u =
      torch::nn::functional::normalize(syn0, torch::nn::functional::NormalizeFuncOptions().dim(1));
  torch::Tensor cos = u.matmul(u.t());
  double within = 0, between = 0;
  int nw = 0, nb = 0;
  for (int64_t i = 0; i < vocab.size(); ++i)
    for (int64_t j = 0; j < vocab.size(); ++j) {
      if (i == j) continue;
      bool same = vocab.words[i][0] == vocab.words[j][0];
      (same ? within : between) += cos[i][j].item<double>();
      ++(same ? nw : nb);
    }
  return within / nw - between / nb;
}

struct Model {
  torch::Tensor syn0, syn1neg;
  Model(int64_t V, int64_t D, uint64_t seed) {
    torch::manual_seed(seed);
    syn0 = (torch::rand({V, D}) - 0.5) / D;  // word2vec.c's initialisation
    syn1neg = torch::zeros({V, D});
  }
};

HogwildOptions options(bool cbow) {
  HogwildOptions o;
  o.cbow = cbow;
  o.window = 3;
  o.negative = 5;
  o.sample = 0;
  o.lr = cbow ? 0.05 : 0.025;
  o.epochs = 3;
  o.threads = 1;
  return o;
}

TEST(Hogwild, SkipGramAndCbowSeparateWordsThatNeverMeet) {
  TwoGroups data;
  ASSERT_EQ(data.vocab.size(), 20);
  for (bool cbow : {false, true}) {
    Model m(20, 16, 1);
    double before = separation(m.syn0, data.vocab);
    HogwildOptions o = options(cbow);
    o.threads = 2;
    HogwildTrainer trainer(m.syn0, m.syn1neg, data.vocab, data.corpus, o);
    double first_loss = 0, last_loss = 0;
    for (int64_t e = 0; e < o.epochs; ++e) {
      EpochStats st = trainer.train_epoch(e, {});
      EXPECT_EQ(st.words, trainer.words_per_epoch());
      EXPECT_GT(st.loss, 0);
      (e == 0 ? first_loss : last_loss) = st.loss;
    }
    double after = separation(m.syn0, data.vocab);
    EXPECT_LT(std::abs(before), 0.1) << cbow;
    EXPECT_GT(after, 0.5) << (cbow ? "cbow" : "skip-gram");
    EXPECT_LT(last_loss, first_loss) << cbow;
  }
}

TEST(Hogwild, OneThreadAndOneSeedGiveOneResult) {
  TwoGroups data(400);
  auto train = [&](uint64_t seed, double sample) {
    Model m(20, 8, 1);
    HogwildOptions o = options(false);
    o.seed = seed;
    o.sample = sample;
    HogwildTrainer trainer(m.syn0, m.syn1neg, data.vocab, data.corpus, o);
    trainer.train_epoch(0, {});
    return m.syn0;
  };
  EXPECT_TRUE(train(1, 0).equal(train(1, 0)));
  EXPECT_TRUE(train(1, 1e-2).equal(train(1, 1e-2)));
  EXPECT_FALSE(train(1, 0).equal(train(2, 0)));
}

TEST(Hogwild, LearningRateDecaysLinearlyToItsMinimum) {
  TwoGroups data(100);
  Model m(20, 4, 1);
  HogwildOptions o = options(false);
  o.lr = 0.1;
  o.min_lr = 0.001;
  o.epochs = 2;
  HogwildTrainer trainer(m.syn0, m.syn1neg, data.vocab, data.corpus, o);
  int64_t total = 2 * trainer.words_per_epoch();
  EXPECT_DOUBLE_EQ(trainer.lr_at(0), 0.1);
  EXPECT_NEAR(trainer.lr_at(total / 2), 0.05, 1e-3);
  EXPECT_DOUBLE_EQ(trainer.lr_at(total), 0.001);
}

TEST(Hogwild, TheReportCanStopAnEpoch) {
  TwoGroups data(20000);
  Model m(20, 64, 1);
  HogwildOptions o = options(false);
  o.threads = 2;
  HogwildTrainer trainer(m.syn0, m.syn1neg, data.vocab, data.corpus, o);
  int calls = 0;
  EpochStats st = trainer.train_epoch(
      0,
      [&](const HogwildProgress& p) {
        EXPECT_GT(p.lr, 0);
        return ++calls < 1;
      },
      0.0);
  EXPECT_TRUE(trainer.stopped());
  EXPECT_LT(st.words, trainer.words_per_epoch());
  EXPECT_THROW(
      HogwildTrainer(torch::zeros({5, 4}), torch::zeros({5, 4}), data.vocab, data.corpus, o),
      std::invalid_argument);
}

}  // namespace
}  // namespace rnnlab::word2vec
