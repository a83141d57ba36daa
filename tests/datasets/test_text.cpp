// Tests of UTF-8 splitting/validation, text file reading and the vocabulary.
#include <gtest/gtest.h>

#include <sstream>

#include "core/error.h"
#include "datasets/text_file.h"
#include "datasets/utf8.h"
#include "datasets/vocab.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

TEST(Utf8, SplitsIntoCodePoints) {
  auto chars = split_utf8("aß안😀\n", "t");
  std::vector<std::string> expected = {"a", "ß", "안", "😀", "\n"};
  EXPECT_EQ(chars, expected);
  EXPECT_EQ(split_utf8("안녕하세요 세계", "t").size(), 8u);
  EXPECT_TRUE(split_utf8("", "t").empty());
}

TEST(Utf8, InvalidByteNamesSourceLineAndColumn) {
  EXPECT_EQ(error_of<DataError>([] {
              split_utf8(
                  "ab\ncd\xff"
                  "e",
                  "data/x.txt");
            }),
            "data/x.txt:2: invalid UTF-8 byte 0xff at column 3");
  // Columns count code points, not bytes.
  EXPECT_EQ(error_of<DataError>([] { split_utf8("ü안\x80", "s"); }),
            "s:1: invalid UTF-8 byte 0x80 at column 3");
}

TEST(Utf8, RejectsMalformedSequences) {
  const char* bad[] = {
      "\xc0\xaf",          // overlong '/'
      "\xc1\xbf",          // overlong
      "\xe0\x80\xaf",      // overlong 3-byte
      "\xf0\x80\x80\xaf",  // overlong 4-byte
      "\xed\xa0\x80",      // surrogate U+D800
      "\xed\xbf\xbf",      // surrogate U+DFFF
      "\xf4\x90\x80\x80",  // U+110000
      "\xf5\x80\x80\x80",  // invalid lead
      "\xe2\x82",          // truncated
      "x\xe2\x82",         // truncated at the end
      "\x80",              // lone continuation
      "\xc3(",             // bad continuation
  };
  for (const char* text : bad) {
    EXPECT_FALSE(valid_utf8(text)) << text;
    EXPECT_THROW(split_utf8(text, "t"), DataError) << text;
  }
}

TEST(Utf8, AcceptsBoundaryCodePoints) {
  const char* good[] = {"\x7f",         "\xc2\x80",         "\xed\x9f\xbf",    "\xee\x80\x80",
                        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"};
  for (const char* text : good) {
    EXPECT_TRUE(valid_utf8(text)) << text;
    EXPECT_EQ(split_utf8(text, "t").size(), 1u) << text;
  }
}

TEST(TextFile, ReadsTextAndLines) {
  TempDir dir;
  auto path = dir.write("a.txt", "one\r\nzwei Größe\r\n\r\n안녕\n");
  EXPECT_EQ(read_text_file(path), "one\r\nzwei Größe\r\n\r\n안녕\n");
  std::vector<std::string> expected = {"one", "zwei Größe", "", "안녕"};
  EXPECT_EQ(read_lines(path), expected);
  auto no_final_newline = dir.write("b.txt", "x\ny");
  EXPECT_EQ(read_lines(no_final_newline), (std::vector<std::string>{"x", "y"}));
}

TEST(TextFile, MissingFile) {
  EXPECT_EQ(error_of<DataError>([] { read_text_file("/nonexistent/foo.txt"); }),
            "cannot open '/nonexistent/foo.txt': No such file or directory");
  EXPECT_THROW(read_lines("/nonexistent/foo.txt"), DataError);
}

TEST(TextFile, DirectoryIsAnError) {
  TempDir dir;
  EXPECT_EQ(error_of<DataError>([&] { read_text_file(dir.file("")); }),
            "cannot open '" + dir.file("") + "': Is a directory");
}

TEST(TextFile, EmptyFile) {
  TempDir dir;
  auto path = dir.write("empty.txt", "");
  EXPECT_EQ(error_of<DataError>([&] { read_text_file(path); }), path + ": file is empty");
  EXPECT_THROW(read_lines(path), DataError);
}

TEST(TextFile, InvalidUtf8NamesLine) {
  TempDir dir;
  auto path = dir.write("latin1.txt", "fine\ncaf\xe9 au lait\n");
  EXPECT_EQ(error_of<DataError>([&] { read_lines(path); }),
            path + ":2: invalid UTF-8 byte 0xe9 at column 4");
}

TEST(TextFile, StreamLinesAreCheckedUnderTheirName) {
  std::istringstream in("one\r\ntwo caf\xe9\n");
  EXPECT_EQ(error_of<DataError>([&] { read_stream_lines(in, "<stdin>"); }),
            "<stdin>:2: invalid UTF-8 byte 0xe9 at column 8");
  std::istringstream ok("a\r\n\nb");
  EXPECT_EQ(read_stream_lines(ok, "<stdin>"), std::vector<std::string>({"a", "", "b"}));
  std::istringstream empty("");
  EXPECT_TRUE(read_stream_lines(empty, "<stdin>").empty());
  // One line of a file is checked under its own line number.
  EXPECT_EQ(error_of<DataError>([] { check_utf8("ab\xff", "f.txt", 7); }),
            "f.txt:7: invalid UTF-8 byte 0xff at column 3");
}

TEST(JsonReason, DropsTheLibraryTagAndBoilerplate) {
  EXPECT_EQ(json_reason("[json.exception.parse_error.101] parse error at line 1, column 2: "
                        "syntax error while parsing value - invalid literal; last read: 'x'"),
            "line 1, column 2: invalid literal; last read: 'x'");
  EXPECT_EQ(json_reason("[json.exception.type_error.302] type must be string, but is number"),
            "type must be string, but is number");
  EXPECT_EQ(json_reason("plain words"), "plain words");
}

TEST(Vocab, SpecialsComeFirst) {
  Vocab vocab;
  EXPECT_EQ(vocab.size(), 4);
  EXPECT_EQ(vocab.token(Vocab::kPad), "<pad>");
  EXPECT_EQ(vocab.token(Vocab::kUnk), "<unk>");
  EXPECT_EQ(vocab.token(Vocab::kBos), "<bos>");
  EXPECT_EQ(vocab.token(Vocab::kEos), "<eos>");
  EXPECT_EQ(vocab.id("<eos>"), Vocab::kEos);
  EXPECT_EQ(vocab.id("nope"), Vocab::kUnk);
  EXPECT_FALSE(vocab.contains("nope"));
  EXPECT_THROW(vocab.token(4), DataError);
  EXPECT_THROW(vocab.token(-1), DataError);
}

TEST(Vocab, OrdersByCountThenBytes) {
  std::unordered_map<std::string, int64_t> counts = {{"b", 5},    {"a", 5}, {"c", 9},
                                                     {"rare", 1}, {"d", 2}, {"<unk>", 7}};
  Vocab vocab = Vocab::build(counts, 1, 0);
  ASSERT_EQ(vocab.size(), 9);  // 4 specials + c a b d rare; "<unk>" merged into the special
  EXPECT_EQ(vocab.token(4), "c");
  EXPECT_EQ(vocab.token(5), "a");
  EXPECT_EQ(vocab.token(6), "b");
  EXPECT_EQ(vocab.token(7), "d");
  EXPECT_EQ(vocab.token(8), "rare");
  EXPECT_EQ(vocab.count(4), 9);
  EXPECT_EQ(vocab.count(Vocab::kUnk), 7);
  EXPECT_EQ(vocab.id("b"), 6);

  Vocab frequent = Vocab::build(counts, 3, 0);
  EXPECT_EQ(frequent.size(), 7);
  EXPECT_FALSE(frequent.contains("d"));
  EXPECT_EQ(frequent.id("rare"), Vocab::kUnk);

  Vocab capped = Vocab::build(counts, 1, 6);  // max_size counts the specials
  EXPECT_EQ(capped.size(), 6);
  EXPECT_TRUE(capped.contains("a"));
  EXPECT_FALSE(capped.contains("b"));

  EXPECT_THROW(Vocab::build(counts, 1, 3), ConfigError);
  EXPECT_THROW(Vocab::build(counts, 1, -1), ConfigError);
}

TEST(Vocab, SaveLoadRoundTrip) {
  TempDir dir;
  std::unordered_map<std::string, int64_t> counts = {{"\n", 10},   {"\"quoted\"", 3}, {"안", 4},
                                                     {"Größe", 4}, {" ", 8},          {"\\", 2}};
  Vocab vocab = Vocab::build(counts, 1, 0);
  vocab.save(dir.file("vocab.json"));
  Vocab loaded = Vocab::load(dir.file("vocab.json"));
  ASSERT_EQ(loaded.size(), vocab.size());
  for (int64_t id = 0; id < vocab.size(); ++id) {
    EXPECT_EQ(loaded.token(id), vocab.token(id));
    EXPECT_EQ(loaded.count(id), vocab.count(id));
  }
  EXPECT_EQ(loaded.id("\n"), 4);
  EXPECT_EQ(loaded.id("안"), vocab.id("안"));
}

TEST(Vocab, LoadErrorsNameTheFile) {
  TempDir dir;
  EXPECT_THROW(Vocab::load(dir.file("missing.json")), DataError);
  auto broken = dir.write("broken.json", "{\"tokens\": [");
  EXPECT_EQ(error_of<DataError>([&] { Vocab::load(broken); }).rfind(broken + ": invalid JSON", 0),
            0u);
  auto no_specials = dir.write("w.json", R"({"tokens": ["a","b","c","d"], "counts": [1,1,1,1]})");
  EXPECT_EQ(error_of<DataError>([&] { Vocab::load(no_specials); }).rfind(no_specials + ":", 0), 0u);
  auto dup = dir.write(
      "dup.json",
      R"({"tokens": ["<pad>","<unk>","<bos>","<eos>","x","x"], "counts": [0,0,0,0,1,1]})");
  EXPECT_THROW(Vocab::load(dup), DataError);
  auto dup_newline = dir.write(
      "dup2.json",
      R"({"tokens": ["<pad>","<unk>","<bos>","<eos>","\n","\n"], "counts": [0,0,0,0,1,1]})");
  EXPECT_EQ(error_of<DataError>([&] { Vocab::load(dup_newline); }),
            dup_newline + ": not an rnnlab vocabulary: token 5 \"\\n\" is a duplicate");
  auto mismatch = dir.write("mismatch.json",
                            R"({"tokens": ["<pad>","<unk>","<bos>","<eos>","x"], "counts": [0]})");
  EXPECT_THROW(Vocab::load(mismatch), DataError);
}

}  // namespace
}  // namespace rnnlab::datasets
