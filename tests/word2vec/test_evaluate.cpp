// Tests of apps/word2vec/evaluate.h on hand-built vector sets whose answers
// are known: neighbours, 3CosAdd analogies (exclusion, restriction, case
// folding, sections, malformed lines, batching), Spearman with ties, and the
// word-pair reader on the three file layouts.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/word2vec/evaluate.h"
#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab::word2vec {
namespace {

using test::error_of;
using Scratch = test::TempDir;

WordVectors make(std::vector<std::string> words, std::vector<std::vector<float>> rows) {
  const auto n = static_cast<int64_t>(rows.size());
  const auto d = static_cast<int64_t>(rows[0].size());
  auto t = torch::empty({n, d});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) t[i][j] = rows[i][j];
  return datasets::make_word_vectors(std::move(words), t);
}

// man, woman, king, queen, apple: a gender axis (1, 2) and a royalty axis (3).
// woman - man + king points at queen.
WordVectors royals() {
  return make({"man", "woman", "king", "queen", "apple"},
              {{1, 0, 0}, {0, 1, 0}, {1, 0, 1}, {0, 1, 1}, {0, 0, -1}});
}

// Where the shared data sets are: the repo's data/ (scripts/get_data.sh), or
// the local mirror it copies from.
std::string data_file(const std::string& name) {
  for (const std::string& root : {std::string(RNNLAB_SOURCE_DIR) + "/data/",
                                  std::string(RNNLAB_SOURCE_DIR) + "/../shared/data/"}) {
    if (std::filesystem::exists(root + name)) return root + name;
  }
  return "";
}

TEST(Neighbors, NearestByCosineWithoutTheWord) {
  auto wv = make({"a", "b", "c", "d"}, {{1, 0}, {2, 0.1f}, {0, 3}, {-1, 0}});
  auto n = neighbors(wv, "a", 2);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].first, "b");
  EXPECT_NEAR(n[0].second, 2 / std::sqrt(4.01), 1e-6);
  EXPECT_EQ(n[1].first, "c");
  EXPECT_NEAR(n[1].second, 0.0, 1e-6);
  EXPECT_EQ(neighbors(wv, "a", 10).size(), 3u);  // k larger than V - 1
  EXPECT_EQ(neighbors(wv, "a", 10).back().first, "d");
  EXPECT_TRUE(neighbors(wv, "a", 0).empty());
  EXPECT_EQ(error_of<DataError>([&] { neighbors(wv, "A", 1); }),
            "word 'A' is not in the vocabulary");
  EXPECT_THROW(neighbors(wv, "a", -1), std::invalid_argument);
}

TEST(Analogy, ThreeCosAddExcludesTheQuestionWords) {
  Scratch dir;
  const std::string q = dir.write("q.txt",
                                  ": family\n"
                                  "man woman king queen\n"  // right
                                  // The nearest to king - man + man is king itself, which is
                                  // excluded, so the answer king cannot be given: wrong.
                                  "man man king king\n");
  auto r = evaluate_analogies(royals(), q);
  ASSERT_EQ(r.sections.size(), 1u);
  EXPECT_EQ(r.sections[0].name, "family");
  EXPECT_EQ(r.sections[0].correct, 1);
  EXPECT_EQ(r.sections[0].total, 2);
  EXPECT_EQ(r.sections[0].skipped, 0);
  EXPECT_EQ(r.overall.correct, 1);
  EXPECT_DOUBLE_EQ(r.overall.accuracy(), 0.5);
  EXPECT_EQ(r.vocab_used, 5);
}

TEST(Analogy, RestrictsTheVocabularyToTheFirstWords) {
  Scratch dir;
  // "queen2", after the first 5 words, is exactly woman - man + king: with the
  // whole vocabulary it wins (wrong); restricted to 5 words it is no candidate.
  auto wv = make({"man", "woman", "king", "queen", "apple", "queen2", "rare"},
                 {{1, 0, 0},
                  {0, 1, 0},
                  {1, 0, 1},
                  {0, 1, 1},
                  {0, 0, -1},
                  {-0.2928932f, 1, 0.7071068f},
                  {1, 1, 1}});
  const std::string q = dir.write("q.txt", ": s\nman woman king queen\nman woman king rare\n");
  auto all = evaluate_analogies(wv, q, 0);
  EXPECT_EQ(all.overall.correct, 0);
  EXPECT_EQ(all.overall.total, 2);
  EXPECT_EQ(all.overall.skipped, 0);
  auto first5 = evaluate_analogies(wv, q, 5);
  EXPECT_EQ(first5.overall.correct, 1);
  EXPECT_EQ(first5.overall.total, 1);
  EXPECT_EQ(first5.overall.skipped, 1);  // "rare" is word 7
  EXPECT_EQ(first5.vocab_used, 5);
  EXPECT_EQ(error_of<ConfigError>([&] { evaluate_analogies(wv, q, -1); }),
            "restrict_vocab must be >= 0 (0 = all words), got -1");
}

TEST(Analogy, FoldsCaseKeepingTheFirstVariant) {
  Scratch dir;
  // "KING" (a later variant of "King") lies exactly on woman - man + king: it
  // folds to a question word, so it is excluded like "King". "Queen" (a later
  // variant of "queen") is the nearest remaining row and folds to the answer:
  // right, as in gensim. The question words use their first variants.
  auto wv = make({"Man", "WOMAN", "King", "queen", "apple", "KING", "Queen"},
                 {{1, 0, 0},
                  {0, 1, 0},
                  {1, 0, 1},
                  {0, 0.2f, 1},
                  {0, 0, -1},
                  {-0.2928932f, 1, 0.7071068f},
                  {0, 1, 1}});
  const std::string q = dir.write("q.txt", ": s\nMAN woman KING QUEEN\nman woman king Queen\n");
  auto r = evaluate_analogies(wv, q);
  EXPECT_EQ(r.overall.total, 2);
  EXPECT_EQ(r.overall.correct, 2);
  // Restricted to the first 6 rows, "Queen" is gone and "queen" is still the
  // nearest candidate: right again, since KING is excluded.
  EXPECT_EQ(evaluate_analogies(wv, q, 6).overall.correct, 2);
  EXPECT_EQ(fold_case("KöNIG Ab"), "könig ab");  // ASCII letters only
}

TEST(Analogy, SectionsTotalsMalformedLines) {
  Scratch dir;
  const std::string q = dir.write("q.txt",
                                  "man woman king queen\r\n"  // before any section: section ""
                                  ": capital-common-countries\r\n"
                                  "man woman king queen\r\n"
                                  "man woman king\r\n"  // malformed, line 4
                                  "\r\n"
                                  "man woman king pear\r\n"  // skipped (OOV)
                                  ": gram1-adjective-to-adverb \r\n"
                                  "man man king king\r\n"
                                  "a b c d e\r\n"  // malformed
                                  "man\twoman  king queen");
  auto r = evaluate_analogies(royals(), q);
  ASSERT_EQ(r.sections.size(), 3u);
  EXPECT_EQ(r.sections[0].name, "");
  EXPECT_EQ(r.sections[1].name, "capital-common-countries");
  EXPECT_EQ(r.sections[1].correct, 1);
  EXPECT_EQ(r.sections[1].total, 1);
  EXPECT_EQ(r.sections[1].skipped, 1);
  EXPECT_EQ(r.sections[2].name, "gram1-adjective-to-adverb");
  EXPECT_EQ(r.sections[2].correct, 1);
  EXPECT_EQ(r.sections[2].total, 2);
  EXPECT_EQ(r.malformed, 2);
  EXPECT_EQ(r.first_malformed_line, 4);
  EXPECT_EQ(r.semantic.correct, 2);
  EXPECT_EQ(r.semantic.total, 2);
  EXPECT_EQ(r.semantic.skipped, 1);
  EXPECT_EQ(r.syntactic.correct, 1);
  EXPECT_EQ(r.syntactic.total, 2);
  EXPECT_EQ(r.overall.correct, 3);
  EXPECT_EQ(r.overall.total, 4);
  EXPECT_EQ(r.overall.skipped, 1);
}

TEST(Analogy, ManyQuestionsInChunks) {
  Scratch dir;
  std::string text = ": a\n";
  for (int i = 0; i < 700; ++i) text += "man woman king queen\nman man king king\n";
  auto r = evaluate_analogies(royals(), dir.write("q.txt", text));
  EXPECT_EQ(r.overall.total, 1400);
  EXPECT_EQ(r.overall.correct, 700);
}

TEST(Analogy, AFileWithoutQuestionsIsAnError) {
  Scratch dir;
  const std::string q = dir.write("q.txt", ": a\n: b\nnot a question\n");
  EXPECT_EQ(error_of<DataError>([&] { evaluate_analogies(royals(), q); }),
            q + ": no analogy question (a line of 4 words 'a b c d')");
  EXPECT_THROW(evaluate_analogies(royals(), q + ".missing"), DataError);
}

TEST(Analogy, ReadsTheGoogleQuestions) {
  const std::string q = data_file("analogy/questions-words.txt");
  if (q.empty()) GTEST_SKIP() << "analogy data not found";
  auto r = evaluate_analogies(royals(), q);
  EXPECT_EQ(r.sections.size(), 14u);
  EXPECT_EQ(r.malformed, 0);
  // 8,869 semantic and 10,675 syntactic questions; only family's
  // "king queen man woman" and "man woman king queen" use royals' words.
  EXPECT_EQ(r.sections[4].name, "family");
  EXPECT_EQ(r.sections[4].total, 2);
  EXPECT_EQ(r.sections[4].correct, 2);
  EXPECT_EQ(r.semantic.total + r.semantic.skipped, 8869);
  EXPECT_EQ(r.syntactic.total + r.syntactic.skipped, 10675);
  EXPECT_EQ(r.overall.total, 2);
}

TEST(Spearman, AverageRanksForTies) {
  // x ranks 1, 2.5, 2.5, 4; y ranks 1, 3, 2, 4: r = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {10, 30, 20, 40}), 3 / std::sqrt(10.0), 1e-12);
  EXPECT_NEAR(spearman({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_TRUE(std::isnan(spearman({1}, {2})));
  EXPECT_TRUE(std::isnan(spearman({1, 2}, {5, 5})));
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 7}), 0.99339926779878274, 1e-12);
  EXPECT_THROW(spearman({1, 2}, {1}), std::invalid_argument);
}

// a, b, c, d with cos(a,b) = 1, cos(a,d) = cos(c,d) = 0.7071, cos(a,c) = 0.
WordVectors square() {
  return make({"a", "B", "c", "d"}, {{1, 0}, {2, 0}, {0, 1}, {1, 1}});
}

TEST(Similarity, CsvWithHeaderAndCrlf) {
  Scratch dir;
  const std::string f = dir.write("ws.csv",
                                  "Word 1,Word 2,Human (mean)\r\n"
                                  "a,b,9.0\r\n"
                                  "A,D,6\r\n"  // case folded
                                  "c,d,5\r\n"
                                  "a,zebra,3\r\n"  // OOV
                                  "a,c,1\r\n"
                                  "a,c\r\n"  // malformed, line 7
                                  "a,c,x\r\n");
  auto r = evaluate_similarity(square(), f);
  EXPECT_TRUE(r.header);
  EXPECT_EQ(r.pairs, 4);
  EXPECT_EQ(r.oov, 1);
  EXPECT_EQ(r.malformed, 2);
  EXPECT_EQ(r.first_malformed_line, 7);
  // human ranks 4, 3, 2, 1; model ranks 4, 2.5, 2.5, 1 (a tie): 3 / sqrt(10).
  EXPECT_NEAR(r.spearman, 3 / std::sqrt(10.0), 1e-9);
  EXPECT_NEAR(r.pearson, pearson({9, 6, 5, 1}, {1, std::sqrt(0.5), std::sqrt(0.5), 0}), 1e-6);
}

TEST(Similarity, TabsScoreColumnNoHeader) {
  Scratch dir;
  // SimLex-999 layout: the score is column 4.
  const std::string simlex = dir.write("sl.txt",
                                       "word1\tword2\tPOS\tSimLex999\tconc(w1)\n"
                                       "a\tb\tN\t9\t1\n"
                                       "c\td\tN\t5\t1\n"
                                       "a\tc\tN\t1\t1\n");
  SimilarityOptions o;
  o.score_column = 4;
  auto r = evaluate_similarity(square(), simlex, o);
  EXPECT_TRUE(r.header);
  EXPECT_EQ(r.pairs, 3);
  EXPECT_NEAR(r.spearman, 1.0, 1e-12);
  // With the default column 3 (the POS), the first line is a header and every
  // other line is malformed.
  EXPECT_EQ(error_of<DataError>([&] { evaluate_similarity(square(), simlex); }),
            simlex + ": no word pair with a numeric score in column 3");
  // Rare Words layout: no header, extra columns.
  const std::string rw = dir.write("rw.txt", "a\tb\t9\t1\t2\nc\td\t5\t3\t4\nqq\td\t5\t3\t4\n");
  auto r2 = evaluate_similarity(square(), rw);
  EXPECT_FALSE(r2.header);
  EXPECT_EQ(r2.pairs, 2);
  EXPECT_EQ(r2.oov, 1);
  EXPECT_NEAR(r2.spearman, 1.0, 1e-12);
  // Restricting to the first 2 words (a, B) leaves one pair: NaN.
  SimilarityOptions two;
  two.restrict_vocab = 2;
  auto r3 = evaluate_similarity(square(), rw, two);
  EXPECT_EQ(r3.pairs, 1);
  EXPECT_EQ(r3.oov, 2);
  EXPECT_TRUE(std::isnan(r3.spearman));
  o.score_column = 2;
  EXPECT_THROW(evaluate_similarity(square(), rw, o), ConfigError);
}

TEST(Similarity, ReadsTheRealFiles) {
  struct Case {
    std::string name;
    int64_t column, lines;
    bool header;
  };
  for (const Case& c :
       {Case{"wordsim353/combined.csv", 3, 353, true},
        Case{"simlex999/SimLex-999.txt", 4, 999, true}, Case{"rarewords/rw.txt", 3, 2034, false}}) {
    const std::string f = data_file(c.name);
    if (f.empty()) GTEST_SKIP() << c.name << " not found";
    SimilarityOptions o;
    o.score_column = c.column;
    auto r = evaluate_similarity(royals(), f, o);
    EXPECT_EQ(r.header, c.header) << c.name;
    EXPECT_EQ(r.malformed, 0) << c.name;
    EXPECT_EQ(r.pairs + r.oov, c.lines) << c.name;
  }
}

}  // namespace
}  // namespace rnnlab::word2vec
