// Labelled texts: the class-file and table readers with their one-line
// errors, Kim's cleaning against hand-worked strings, the stratified splits,
// and the real MR and SST-2 files.
#include "datasets/labeled_text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

TEST(LabeledText, ClassFilesGiveSortedLabels) {
  TempDir dir;
  auto pos = dir.write("p.txt", "a fine film\nloved it\r\n");
  auto neg = dir.write("n.txt", "dull\n");
  LabeledTexts d = read_class_files({{"pos", pos}, {"neg", neg}});
  EXPECT_EQ(d.label_names, std::vector<std::string>({"neg", "pos"}));
  EXPECT_EQ(d.texts, std::vector<std::string>({"dull", "a fine film", "loved it"}));
  EXPECT_EQ(d.labels, std::vector<int64_t>({0, 1, 1}));
  EXPECT_EQ(d.class_counts(), std::vector<int64_t>({1, 2}));
  LabeledTexts s = d.subset({2, 0});
  EXPECT_EQ(s.texts, std::vector<std::string>({"loved it", "dull"}));
  EXPECT_EQ(s.labels, std::vector<int64_t>({1, 0}));

  auto gap = dir.write("g.txt", "good\n\nbad\n");
  EXPECT_EQ(error_of<DataError>([&] {
              read_class_files({{"pos", gap}, {"neg", neg}});
            }),
            gap + ":2: empty line");
  EXPECT_NE(error_of<DataError>([&] {
              read_class_files({{"pos", pos}});
            }).find("two or more"),
            std::string::npos);
  EXPECT_NE(error_of<DataError>([&] {
              read_class_files({{"pos", dir.file("none.txt")}, {"neg", neg}});
            }).find("none.txt"),
            std::string::npos);
}

TEST(LabeledText, TablesByNameNumberAndQuotes) {
  TempDir dir;
  auto tsv = dir.write("t.tsv", "sentence\tlabel\nit 's good \t1\nbad\t0\nfine\t1\n");
  LabeledTexts d = read_labeled_table(tsv, {});
  EXPECT_EQ(d.label_names, std::vector<std::string>({"0", "1"}));
  EXPECT_EQ(d.texts, std::vector<std::string>({"it 's good", "bad", "fine"}));
  EXPECT_EQ(d.labels, std::vector<int64_t>({1, 0, 1}));

  TableOptions csv;
  csv.delimiter = ',';
  csv.quoting = true;
  csv.text_column = "review";
  csv.label_column = "stars";
  auto c = dir.write("r.csv",
                     "id,review,stars\n1,\"great, \"\"really\"\" great\",high\n2,meh,low\n"
                     "3,\"\",low\n");
  EXPECT_EQ(error_of<DataError>([&] { read_labeled_table(c, csv); }), c + ":4: empty text");
  c = dir.write("r.csv", "id,review,stars\n1,\"great, \"\"really\"\" great\",high\n2,meh,low\n");
  d = read_labeled_table(c, csv);
  EXPECT_EQ(d.texts, std::vector<std::string>({"great, \"really\" great", "meh"}));
  EXPECT_EQ(d.label_names, std::vector<std::string>({"high", "low"}));

  // No header: columns by number; a dev file checked against the training labels.
  TableOptions plain;
  plain.header = false;
  plain.text_column = "2";
  plain.label_column = "1";
  auto p = dir.write("p.tsv", "pos\tnice\nneg\tawful\n");
  d = read_labeled_table(p, plain);
  EXPECT_EQ(d.texts, std::vector<std::string>({"nice", "awful"}));
  std::vector<std::string> known = {"neg", "neutral", "pos"};
  LabeledTexts dev = read_labeled_table(p, plain, &known);
  EXPECT_EQ(dev.labels, std::vector<int64_t>({2, 0}));
  EXPECT_EQ(dev.label_names, known);
}

TEST(LabeledText, TableErrorsNameFileAndLine) {
  TempDir dir;
  TableOptions o;
  auto check = [&](const std::string& content, const std::string& expected,
                   const std::vector<std::string>* known = nullptr) {
    auto f = dir.write("x.tsv", content);
    std::string msg = error_of<DataError>([&] { read_labeled_table(f, o, known); });
    EXPECT_NE(msg.find(f + expected), std::string::npos) << msg;
  };
  check("sentence\tlabel\ngood\t1\n\nbad\t0\n", ":3: empty line");
  check("sentence\tlabel\ngood\t1\nbad\n",
        ":3: expected at least 2 columns (tab-separated), got 1");
  check("sentence\tlabel\ngood\t1\nbad\t\n", ":3: empty label");
  check("text\tlabel\ngood\t1\n", ":1: no text column 'sentence' in the header (text, label)");
  check("sentence\tlabel\ngood\t1\nbad\t1\n",
        "': every example has label '1'; classification needs two or more classes");
  std::vector<std::string> known = {"0", "1"};
  check("sentence\tlabel\ngood\t1\nmeh\tneutral\n",
        ":3: label 'neutral' is not one of the training labels (0, 1)", &known);
  check("sentence\tlabel\n", "' has no example");
  // Rows wider than the header: most often a quoted field read without quoting.
  check("sentence\tlabel\ngood\t1\nbad\t0\textra\n",
        ":3: 3 columns, more than the 2 of the header (a quoted field read with quoting off?)");
  o.delimiter = ',';
  check("sentence,label\ngood,1\n\"bad, really bad\",0\n",
        ":3: 3 columns, more than the 2 of the header (a quoted field read with quoting off?)");
  o.delimiter = '\t';
  // Found by fuzzing: a column number past any table's was std::out_of_range.
  o.text_column = "99999999999999999999999";
  EXPECT_EQ(error_of<DataError>([&] { read_labeled_table(dir.write("y.tsv", "a\tb\n"), o); }),
            "text column 99999999999999999999999: no table has that many columns");
  o.text_column = "sentence";
  // A byte-order mark is not part of the header's first name.
  auto bom = dir.write("bom.tsv", "\xEF\xBB\xBFsentence\tlabel\ngood\t1\nbad\t0\n");
  EXPECT_EQ(read_labeled_table(bom, o).size(), 2);
  // Invalid UTF-8 names the file and its line (it was "text:1" from the
  // tokenizer, and `clean: kim` dropped the bytes silently).
  auto latin1 = dir.write("latin1.tsv", "sentence\tlabel\ngood\t1\ncaf\xe9\t0\n");
  EXPECT_EQ(error_of<DataError>([&] { read_labeled_table(latin1, o); }),
            latin1 + ":3: invalid UTF-8 byte 0xe9 at column 4");
  auto latin1_class = dir.write("latin1.txt", "fine\nna\xefve\n");
  EXPECT_EQ(error_of<DataError>([&] {
              read_class_files({{"pos", latin1_class}});
            }),
            latin1_class + ":2: invalid UTF-8 byte 0xef at column 3");
  const std::string here = dir.file("");
  EXPECT_EQ(error_of<DataError>([&] { read_labeled_table(here, o); }),
            "'" + here + "' is a directory, not a file");
  o.quoting = true;
  o.delimiter = ',';
  check("sentence,label\n\"open,1\n", ":2: a quoted field is not closed on its line");
}

TEST(LabeledText, KimCleaning) {
  EXPECT_EQ(kim_clean("It's a \"great\" film, isn't it?!"), "it 's a great film , is n't it ? !");
  EXPECT_EQ(kim_clean("We've (really) won't -- you'll; they'd"),
            "we 've ( really ) wo n't you 'll they 'd");
  EXPECT_EQ(kim_clean("  café   naïve  "), "caf na ve");
  EXPECT_EQ(kim_clean(""), "");
}

// Every index in exactly one part; each part with the class proportions.
void expect_split_partition(const Split& s, size_t n) {
  std::vector<int64_t> all;
  for (const auto* p : {&s.train, &s.dev, &s.test}) all.insert(all.end(), p->begin(), p->end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i));
}

TEST(LabeledText, StratifiedCrossValidation) {
  // 100 of class 0, 50 of class 1, interleaved.
  std::vector<int64_t> labels;
  for (int i = 0; i < 150; ++i) labels.push_back(i % 3 == 2 ? 1 : 0);
  std::set<int64_t> tested;
  for (int64_t f = 0; f < 10; ++f) {
    Split s = cross_validation_split(labels, 10, f, 0.1, 7);
    expect_split_partition(s, labels.size());
    ASSERT_EQ(s.test.size(), 15u);  // 10 + 5
    EXPECT_EQ(
        std::count_if(s.test.begin(), s.test.end(), [&](int64_t i) { return labels[i] == 1; }), 5);
    EXPECT_EQ(s.dev.size(), 14u);  // round(0.1 * 90) + round(0.1 * 45)
    for (int64_t i : s.test) EXPECT_TRUE(tested.insert(i).second) << "in two test folds: " << i;
    // The same seed gives the same fold; another seed another one.
    EXPECT_EQ(cross_validation_split(labels, 10, f, 0.1, 7).test, s.test);
  }
  EXPECT_EQ(tested.size(), labels.size());  // the test folds cover the data
  EXPECT_NE(cross_validation_split(labels, 10, 0, 0.1, 8).test,
            cross_validation_split(labels, 10, 0, 0.1, 7).test);
  EXPECT_THROW(cross_validation_split(labels, 1, 0, 0.1, 7), std::invalid_argument);
  EXPECT_THROW(cross_validation_split(labels, 10, 10, 0.1, 7), std::invalid_argument);
  EXPECT_THROW(cross_validation_split({0, 1, 1}, 3, 0, 0.1, 7), std::invalid_argument);
}

TEST(LabeledText, RandomSplit) {
  std::vector<int64_t> labels(200, 0);
  for (int i = 0; i < 100; ++i) labels[static_cast<size_t>(2 * i)] = 1;
  Split s = random_split(labels, 0.1, 0.2, 3);
  expect_split_partition(s, labels.size());
  EXPECT_EQ(s.test.size(), 40u);
  EXPECT_EQ(s.dev.size(), 20u);
  EXPECT_EQ(random_split(labels, 0.1, 0.2, 3).dev, s.dev);
  EXPECT_THROW(random_split(labels, 0.5, 0.5, 3), std::invalid_argument);
}

TEST(LabeledText, RealMrAndSst2) {
  // The repo's data/ (scripts/get_data.sh), or the local mirror it copies from.
  std::string data;
  for (const std::string& root : {std::string(RNNLAB_SOURCE_DIR) + "/data/",
                                  std::string(RNNLAB_SOURCE_DIR) + "/../shared/data/"})
    if (data.empty() && std::filesystem::exists(root + "mr/rt-polarity.pos") &&
        std::filesystem::exists(root + "sst2/train.tsv"))
      data = root;
  if (data.empty()) GTEST_SKIP() << "MR or SST-2 missing (scripts/get_data.sh)";
  LabeledTexts mr = read_class_files(
      {{"pos", data + "mr/rt-polarity.pos"}, {"neg", data + "mr/rt-polarity.neg"}});
  EXPECT_EQ(mr.class_counts(), std::vector<int64_t>({5331, 5331}));
  LabeledTexts train = read_labeled_table(data + "sst2/train.tsv", {});
  EXPECT_EQ(train.label_names, std::vector<std::string>({"0", "1"}));
  EXPECT_EQ(train.size(), 67349);
  LabeledTexts dev = read_labeled_table(data + "sst2/dev.tsv", {}, &train.label_names);
  EXPECT_EQ(dev.size(), 872);
}

}  // namespace
}  // namespace rnnlab::datasets
