// Line-aligned parallel text: alignment, CRLF, the mismatch error naming both
// files and counts, and the length filter; plus the real Multi30k counts.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "datasets/parallel.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

TEST(Parallel, ReadsAlignedPairsWithCrlfAndEmptyLines) {
  TempDir dir;
  std::string src = dir.write("a.en", "a dog runs\r\n\r\ntwo cats\n");
  std::string tgt = dir.write("a.de", "ein Hund rennt\nleer\nzwei Katzen");
  ParallelText p = read_parallel(src, tgt);
  ASSERT_EQ(p.size(), 3);
  EXPECT_EQ(p.src[0], "a dog runs");
  EXPECT_EQ(p.src[1], "");
  EXPECT_EQ(p.tgt[2], "zwei Katzen");
  EXPECT_EQ(p.src_path, src);
}

TEST(Parallel, DifferentLineCountsNameBothFilesAndCounts) {
  TempDir dir;
  std::string src = dir.write("b.en", "one\ntwo\nthree\n");
  std::string tgt = dir.write("b.de", "eins\nzwei\n");
  std::string msg = error_of<DataError>([&] { read_parallel(src, tgt); });
  EXPECT_EQ(msg, "line-aligned files differ in length: " + src + " has 3 lines, " + tgt + " has 2");
  std::string missing = error_of<DataError>([&] { read_parallel(src, dir.file("none.de")); });
  EXPECT_NE(missing.find("none.de"), std::string::npos) << missing;
  std::string bad = dir.write("c.de",
                              "eins\nzw\xff"
                              "ei\ndrei\n");
  std::string utf8 = error_of<DataError>([&] { read_parallel(src, bad); });
  EXPECT_NE(utf8.find("c.de:2"), std::string::npos) << utf8;
}

TEST(Parallel, LengthFilterKeepsWhatPasses) {
  //            0  1  2   3  4  5
  std::vector<int64_t> s = {3, 0, 50, 4, 10, 2};
  std::vector<int64_t> t = {4, 2, 49, 30, 9, 2};
  EXPECT_EQ(filter_by_length(s, t, {}), (std::vector<int64_t>{0, 2, 3, 4, 5}));
  EXPECT_EQ(filter_by_length(s, t, {1, 40, 0}), (std::vector<int64_t>{0, 3, 4, 5}));
  EXPECT_EQ(filter_by_length(s, t, {1, 0, 3.0}), (std::vector<int64_t>{0, 2, 4, 5}));
  EXPECT_EQ(filter_by_length(s, t, {3, 0, 0}), (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_THROW(filter_by_length({1, 2}, {1}, {}), std::invalid_argument);
}

TEST(Parallel, RealMulti30kIsAligned) {
  std::string root = std::string(RNNLAB_SOURCE_DIR) + "/data/multi30k/";
  if (!std::filesystem::exists(root + "train.en"))
    root = std::string(RNNLAB_SOURCE_DIR) + "/../shared/data/multi30k/";
  if (!std::filesystem::exists(root + "train.en")) GTEST_SKIP() << "Multi30k is not here";
  EXPECT_EQ(read_parallel(root + "train.en", root + "train.de").size(), 29000);
  EXPECT_EQ(read_parallel(root + "val.en", root + "val.de").size(), 1014);
  EXPECT_EQ(read_parallel(root + "test_2016_flickr.en", root + "test_2016_flickr.de").size(), 1000);
}

}  // namespace
}  // namespace rnnlab::datasets
