// The word2vec corpus: normalisation, vocabulary, encoding into sentences,
// subsampling and the dynamic window, against word2vec.c's definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <unistd.h>

#include "core/error.h"
#include "datasets/word2vec_corpus.h"

namespace rnnlab::datasets {
namespace {

namespace fs = std::filesystem;

struct Files {
  fs::path dir;
  Files() {
    dir = fs::temp_directory_path() / ("rnnlab-w2v-corpus-" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::binary) << text;
    return (dir / name).string();
  }
};

TEST(Word2VecCorpus, NormalizeKeepsLowercaseLettersDigitsAndLines) {
  EXPECT_EQ(normalize_word2vec("The Cat's 3 mats,\r\nÉté!"), "the cat s 3 mats  \n  t   ");
}

TEST(Word2VecCorpus, VocabularyByCountWithMinCountAndMaxSize) {
  Files f;
  std::string a = f.write("a.txt", "b a c a\nb a d\n");
  std::string b = f.write("b.txt", "c  c\t e");
  WordVocab v = build_word_vocab({a, b}, {/*min_count=*/2, /*max_size=*/0, false});
  // a:3, c:3, b:2; ties by bytes (a before c); d and e dropped.
  EXPECT_EQ(v.words, (std::vector<std::string>{"a", "c", "b"}));
  EXPECT_EQ(v.counts, (std::vector<int64_t>{3, 3, 2}));
  EXPECT_EQ(v.find("c"), 1);
  EXPECT_EQ(v.find("d"), -1);
  EXPECT_EQ(v.total(), 8);
  WordVocab top = build_word_vocab({a, b}, {1, 2, false});
  EXPECT_EQ(top.words, (std::vector<std::string>{"a", "c"}));
}

TEST(Word2VecCorpus, BadCorporaAreOneLineErrors) {
  Files f;
  std::string empty = f.write("empty.txt", " \n\n");
  std::string rare = f.write("rare.txt", "x y z x");
  try {
    build_word_vocab({empty}, {});
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.txt) has no words"), std::string::npos) << e.what();
  }
  try {
    build_word_vocab({rare}, {5, 0, false});
    FAIL();
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(),
                 "no word of the corpus occurs min_count=5 times (the most frequent, 'x', "
                 "occurs 2 times)");
  }
  EXPECT_THROW(build_word_vocab({(f.dir / "missing.txt").string()}, {}), DataError);
}

TEST(Word2VecCorpus, EncodingDropsUnknownWordsAndCutsLongSentences) {
  Files f;
  std::string a = f.write("a.txt", "A b zz a\n\nb b b b b\na");
  WordVocab v = build_word_vocab({a}, {1, 2, /*normalize=*/true});  // b:6, a:3
  EncodedCorpus c = encode_word_corpus({a}, v, true, /*max_sentence=*/3);
  EXPECT_EQ(c.ids, (std::vector<int32_t>{1, 0, 1, 0, 0, 0, 0, 0, 1}));
  // "a b a" | "b b b" | "b b" | "a": the empty line gives no sentence.
  EXPECT_EQ(c.offsets, (std::vector<int64_t>{0, 3, 6, 8, 9}));
  EXPECT_EQ(c.sentences(), 4);
}

TEST(Word2VecCorpus, KeepProbabilityIsWord2VecsFormula) {
  WordVocab v;
  v.words = {"the", "cat", "sat"};
  v.counts = {900, 90, 10};  // total 1000
  auto keep = keep_probabilities(v, 1e-2);
  // f = 0.9: (sqrt(0.9 / 0.01) + 1) * 0.01 / 0.9 = (9.4868 + 1) / 90 = 0.116520
  EXPECT_NEAR(keep[0], (std::sqrt(90.0) + 1) / 90, 1e-7);
  EXPECT_NEAR(keep[1], (std::sqrt(9.0) + 1) * 0.01 / 0.09, 1e-6);
  EXPECT_FLOAT_EQ(keep[2], 1.0f);  // (sqrt(1) + 1) * 1 = 2, capped
  EXPECT_EQ(keep_probabilities(v, 0), (std::vector<float>{1, 1, 1}));
  // Empirically: the kept share of "the" over many draws.
  Word2VecRandom rng(1);
  std::vector<int32_t> sentence(100000, 0);
  auto kept = subsample(sentence.data(), sentence.data() + sentence.size(), keep, rng);
  EXPECT_NEAR(static_cast<double>(kept.size()) / 100000, keep[0], 0.005);
}

TEST(Word2VecCorpus, RandomAndDynamicWindowMatchWord2VecC) {
  Word2VecRandom rng(1);
  // word2vec.c: next_random = next_random * 25214903917 + 11 (unsigned long long)
  EXPECT_EQ(rng.next(), 25214903928ULL);
  EXPECT_EQ(rng.next(), 25214903928ULL * 25214903917ULL + 11);
  Word2VecRandom a(7), b(7);
  std::map<int64_t, int> seen;
  for (int i = 0; i < 50000; ++i) {
    int64_t w = dynamic_window(5, a);
    EXPECT_EQ(w, dynamic_window(5, b));
    ++seen[w];
  }
  ASSERT_EQ(seen.size(), 5u);  // 1..5, each about a fifth
  for (const auto& [w, n] : seen) {
    EXPECT_GE(w, 1);
    EXPECT_LE(w, 5);
    EXPECT_NEAR(n / 50000.0, 0.2, 0.01) << w;
  }
}

}  // namespace
}  // namespace rnnlab::datasets
