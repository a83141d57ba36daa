// Tests of datasets/word_vectors.h: word2vec text and binary files, written
// and read back, what real files hold (CRLF, trailing spaces, no final
// newline, binary with or without newlines), limit, and every error.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/word_vectors.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Little-endian bytes of one float (the test machine is little-endian).
std::string bytes_of(std::vector<float> values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

WordVectors sample(int64_t n, int64_t dim, uint64_t seed = 1) {
  torch::manual_seed(seed);
  std::vector<std::string> words;
  for (int64_t i = 0; i < n; ++i) words.push_back("w" + std::to_string(i));
  words[0] = "König";  // UTF-8
  if (n > 1) words[1] = "the";
  if (n > 2) words[2] = "The";
  auto v = torch::randn({n, dim}) * torch::logspace(-8, 8, dim).unsqueeze(0);
  return make_word_vectors(words, v);
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() &&
         std::memcmp(a.data_ptr<float>(), b.data_ptr<float>(), a.numel() * sizeof(float)) == 0;
}

TEST(WordVectors, FindAndSizes) {
  auto wv = make_word_vectors({"a", "b", "c"}, torch::zeros({3, 4}, torch::kFloat64));
  EXPECT_EQ(wv.size(), 3);
  EXPECT_EQ(wv.dim(), 4);
  EXPECT_EQ(wv.vectors.dtype(), torch::kFloat32);
  EXPECT_EQ(wv.find("b"), 1);
  EXPECT_EQ(wv.find("B"), -1);
  EXPECT_EQ(WordVectors{}.dim(), 0);
  EXPECT_THROW(make_word_vectors({"a", "a"}, torch::zeros({2, 4})), std::invalid_argument);
  EXPECT_THROW(make_word_vectors({"a"}, torch::zeros({2, 4})), std::invalid_argument);
  EXPECT_THROW(make_word_vectors({"a"}, torch::zeros({1, 0})), std::invalid_argument);
}

TEST(WordVectors, TextRoundTripIsExact) {
  TempDir dir;
  auto wv = sample(50, 17);
  write_word2vec(wv, dir.file("v.txt"), false);
  auto back = read_word2vec(dir.file("v.txt"));
  EXPECT_EQ(back.words, wv.words);
  EXPECT_EQ(back.find("The"), 2);
  // Shortest round-trip decimals: bitwise equal, so within 1e-6 relative too.
  EXPECT_TRUE(torch::allclose(back.vectors, wv.vectors, 1e-6, 0));
  EXPECT_TRUE(bitwise_equal(back.vectors, wv.vectors));
  EXPECT_FALSE(std::filesystem::exists(dir.file("v.txt.tmp." + std::to_string(::getpid()))));
}

TEST(WordVectors, BinaryRoundTripIsBitwise) {
  TempDir dir;
  for (int64_t dim : {1, 2, 3, 5, 50}) {
    auto wv = sample(40, dim, static_cast<uint64_t>(dim));
    write_word2vec(wv, dir.file("v.bin"), true);
    auto back = read_word2vec(dir.file("v.bin"));
    EXPECT_EQ(back.words, wv.words) << dim;
    EXPECT_TRUE(bitwise_equal(back.vectors, wv.vectors)) << dim;
  }
}

// Fuzzer finds (tests/fuzz/regressions/word_vectors/), from the days the
// format was guessed from the bytes: what the writer accepts, the reader
// reads back, because the format is given.
TEST(WordVectors, RoundTripsFoundByFuzzing) {
  TempDir dir;
  // binary_round_trip_printable_vector: a vector whose 12 bytes spell
  // "4\nki1 -0.2 3" made the first line "king 4", read as text.
  const std::string printable = "4\nki1 -0.2 3";
  float values[3];
  std::memcpy(values, printable.data(), sizeof values);
  auto wv =
      make_word_vectors({"king"}, torch::tensor({values[0], values[1], values[2]}).reshape({1, 3}));
  write_word2vec(wv, dir.file("p.bin"), true);
  EXPECT_EQ(slurp(dir.file("p.bin")), "1 3\nking " + printable + "\n");
  auto back = read_word2vec(dir.file("p.bin"));
  EXPECT_EQ(back.words, wv.words);
  EXPECT_TRUE(bitwise_equal(back.vectors, wv.vectors));
  // text_round_trip_control_byte_in_word: a word with a NUL byte, written as
  // text, was read back as binary.
  auto control =
      make_word_vectors({"g", std::string("\0x", 2)},
                        torch::tensor({0.1f, -2.0f, 3.0f, 0.5f, 1.0f, -1.0f}).reshape({2, 3}));
  write_word2vec(control, dir.file("c.txt"), false);
  EXPECT_EQ(slurp(dir.file("c.txt")), std::string("2 3\ng 0.1 -2 3\n\0x 0.5 1 -1\n", 27));
  back = read_word2vec(dir.file("c.txt"));
  EXPECT_EQ(back.words, control.words);
  EXPECT_TRUE(bitwise_equal(back.vectors, control.vectors));
}

// A corpus word with a control character (valid UTF-8: U+0005 and the like
// occur in Wikipedia dumps) round-trips in both formats, whatever the file
// is called, as long as the format is given.
TEST(WordVectors, ControlCharacterWordsRoundTrip) {
  TempDir dir;
  const std::vector<std::string> words = {
      "a\x05"
      "b",
      std::string("\0", 1),
      "\x01",
      "x\x7f",
      "\x1f"
      "end",
      "K\xc3\xb6nig",
      "\xe2\x80\x85",
      "[and]"};
  auto wv = make_word_vectors(words, torch::randn({8, 3}));
  for (bool binary : {false, true}) {
    const auto format = binary ? VectorsFormat::kBinary : VectorsFormat::kText;
    for (const std::string name : {"v.txt", "v.bin", "vectors", "v.w2v"}) {
      const std::string path = dir.file(name);
      write_word2vec(wv, path, binary);
      auto back = read_word2vec(path, format);
      EXPECT_EQ(back.words, wv.words) << name << binary;
      EXPECT_TRUE(bitwise_equal(back.vectors, wv.vectors)) << name << binary;
    }
    // By the name.
    write_word2vec(wv, dir.file(binary ? "n.bin" : "n.vec"), binary);
    EXPECT_EQ(read_word2vec(dir.file(binary ? "n.bin" : "n.vec")).words, wv.words);
  }
}

TEST(WordVectors, TheFormatIsGivenOrToldByTheName) {
  EXPECT_EQ(parse_vectors_format("text"), VectorsFormat::kText);
  EXPECT_EQ(parse_vectors_format("binary"), VectorsFormat::kBinary);
  EXPECT_EQ(parse_vectors_format("auto"), VectorsFormat::kAuto);
  EXPECT_EQ(error_of<ConfigError>([] { parse_vectors_format("bin"); }),
            "vectors format must be auto, text or binary, got 'bin'");
  for (auto f : {VectorsFormat::kAuto, VectorsFormat::kText, VectorsFormat::kBinary})
    EXPECT_EQ(parse_vectors_format(vectors_format_name(f)), f);
  EXPECT_EQ(vectors_format_by_name("runs/a/vectors.bin"), VectorsFormat::kBinary);
  EXPECT_EQ(vectors_format_by_name("GoogleNews.BIN"), VectorsFormat::kBinary);
  EXPECT_EQ(vectors_format_by_name("v.txt"), VectorsFormat::kText);
  EXPECT_EQ(vectors_format_by_name("wiki.en.vec"), VectorsFormat::kText);
  for (const char* other : {"vectors", "v.bin.gz", "x.bin/vectors", ".bin", "v.w2v", "v.txt~"})
    EXPECT_EQ(vectors_format_by_name(other), VectorsFormat::kAuto) << other;
  EXPECT_EQ(resolve_vectors_format("v.bin", VectorsFormat::kText), VectorsFormat::kText);
  EXPECT_EQ(resolve_vectors_format("v.txt", VectorsFormat::kBinary), VectorsFormat::kBinary);
  EXPECT_EQ(resolve_vectors_format("v.vec", VectorsFormat::kAuto), VectorsFormat::kText);

  TempDir dir;
  const std::string text = "2 3\nking 1 -0.5 0.25\nqueen 4 5 6\n";
  const std::string plain = dir.write("vectors", text);
  EXPECT_EQ(error_of<ConfigError>([&] { read_word2vec(plain); }),
            "'" + plain +
                "': the file name does not tell whether the vectors are text or binary (.bin: "
                "binary; .txt, .vec: text); give the format");
  EXPECT_EQ(read_word2vec(plain, VectorsFormat::kText).words,
            (std::vector<std::string>{"king", "queen"}));
  // A text file named .bin is read as text when told so; as binary it fails.
  const std::string misnamed = dir.write("t.bin", "2 1\nab 1\ncd 2\n");
  EXPECT_EQ(read_word2vec(misnamed, VectorsFormat::kText).size(), 2);
  EXPECT_EQ(error_of<DataError>([&] { read_word2vec(misnamed); }),
            misnamed +
                ": word 2 of 2: bad word '2\\x0a' (a line break or tab before its space: is "
                "the file text, or the header's D = 1 wrong?)");
  // A binary file read as text fails on its first record.
  auto wv = make_word_vectors({"king"}, torch::tensor({0.5f, 1.0f, 2.0f}).reshape({1, 3}));
  write_word2vec(wv, dir.file("b.bin"), true);
  EXPECT_THROW(read_word2vec(dir.file("b.bin"), VectorsFormat::kText), DataError);
}

TEST(WordVectors, WritesTheExactFormats) {
  TempDir dir;
  auto wv = make_word_vectors(
      {"king", "x"}, torch::tensor({1.0f, -0.5f, 0.1f, 1e-7f, 3e20f, 0.0f}).reshape({2, 3}));
  write_word2vec(wv, dir.file("v.txt"), false);
  EXPECT_EQ(slurp(dir.file("v.txt")), "2 3\nking 1 -0.5 0.1\nx 1e-07 3e+20 0\n");
  write_word2vec(wv, dir.file("v.bin"), true);
  EXPECT_EQ(slurp(dir.file("v.bin")), "2 3\nking " + bytes_of({1.0f, -0.5f, 0.1f}) + "\nx " +
                                          bytes_of({1e-7f, 3e20f, 0.0f}) + "\n");
}

TEST(WordVectors, WriterErrorsNameTheWord) {
  TempDir dir;
  const std::string path = dir.file("v.txt");
  auto bad = make_word_vectors({"a", "new york"}, torch::zeros({2, 2}));
  for (bool binary : {false, true})
    EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(bad, path, binary); }),
              "cannot write '" + path +
                  "': word 2 ('new york') contains whitespace, which word2vec files cannot hold");
  for (const std::string white : {"\t", "\n", "\r", "\v", "\f"}) {
    bad.words[1] = "x" + white;
    EXPECT_NE(
        error_of<RuntimeError>([&] { write_word2vec(bad, path, true); }).find("': word 2 ('x\\x"),
        std::string::npos);
  }
  bad.words[1] = "tab\there";
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(bad, path, true); }),
            "cannot write '" + path +
                "': word 2 ('tab\\x09here') contains whitespace, which word2vec files cannot hold");
  bad.words[1] =
      "\xff"
      "caf\xc3\xa9";
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(bad, path, false); }),
            "cannot write '" + path +
                "': word 2 ('\\xffcaf\xc3\xa9') is not valid UTF-8, which word2vec readers refuse");
  bad.words[1] = "";
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(bad, path, false); }),
            "cannot write '" + path + "': word 2 is empty");
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(WordVectors{}, path, false); }),
            "cannot write '" + path + "': the vocabulary is empty");
  auto inf = make_word_vectors({"a"}, torch::tensor({0.0f, INFINITY}).reshape({1, 2}));
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(inf, path, false); }),
            "cannot write '" + path + "': word 1 ('a'): value 2 is not finite");
  WordVectors dup = make_word_vectors({"a", "b", "c"}, torch::zeros({3, 2}));
  dup.words[2] = "a";
  EXPECT_EQ(error_of<RuntimeError>([&] { write_word2vec(dup, path, false); }),
            "cannot write '" + path + "': word 3 ('a') repeats word 1");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(
      write_word2vec(make_word_vectors({"a"}, torch::zeros({1, 2})), dir.file("no/v.txt"), false),
      RuntimeError);
  WordVectors shape = make_word_vectors({"a"}, torch::zeros({1, 2}));
  shape.words.push_back("b");
  EXPECT_THROW(write_word2vec(shape, path, false), std::invalid_argument);
}

TEST(WordVectors, WriteReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.write("v.txt", "old content");
  write_word2vec(make_word_vectors({"a"}, torch::ones({1, 2})), path, false);
  EXPECT_EQ(slurp(path), "1 2\na 1 1\n");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("")),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(WordVectors, ReadsWhatRealTextFilesHave) {
  TempDir dir;
  // word2vec.c: "%lf " values, each line ending in a space; CRLF; tabs; no final newline.
  for (const std::string& text :
       {std::string("2 3\nking 1.000000 -0.500000 0.250000 \nqueen 4.000000 5.000000 6.000000 \n"),
        std::string("2 3\r\nking 1 -0.5 0.25\r\nqueen 4 5 6\r\n"),
        std::string("2 3 \nking\t1 -0.5   0.25\nqueen +4 5e0 6"),
        std::string("2 3\nking 1 -0.5 0.25\nqueen 4 5 6\n\n  \n")}) {
    auto wv = read_word2vec(dir.write("v.txt", text));
    ASSERT_EQ(wv.words, (std::vector<std::string>{"king", "queen"})) << text;
    EXPECT_TRUE(torch::equal(wv.vectors,
                             torch::tensor({1.0f, -0.5f, 0.25f, 4.f, 5.f, 6.f}).reshape({2, 3})))
        << text;
  }
  // A value below float's range reads as 0, as gensim's float32 does.
  auto tiny = read_word2vec(dir.write("t.txt", "1 2\na 1e-50 -1e-400\n"));
  EXPECT_EQ(tiny.vectors[0][0].item<float>(), 0.0f);
  EXPECT_EQ(tiny.vectors[0][1].item<float>(), 0.0f);
}

TEST(WordVectors, ReadsBinaryWithAndWithoutNewlines) {
  TempDir dir;
  const std::string a = bytes_of({1.0f, 2.0f}), b = bytes_of({-3.0f, 0.5f});
  const auto expected = torch::tensor({1.0f, 2.0f, -3.0f, 0.5f}).reshape({2, 2});
  for (const std::string& bin :
       {"2 2\nab " + a + "\ncd " + b + "\n", "2 2\nab " + a + "cd " + b,
        "2 2\r\nab " + a + "\ncd " + b, "2 2\nab " + a + "\ncd " + b + "\n\n"}) {
    auto wv = read_word2vec(dir.write("v.bin", bin));
    ASSERT_EQ(wv.words, (std::vector<std::string>{"ab", "cd"}));
    EXPECT_TRUE(torch::equal(wv.vectors, expected));
  }
  // A vector that holds a "\n" byte and a space byte is still read as 4*D bytes.
  float odd;
  const char raw[4] = {'\n', ' ', '1', '\x3f'};
  std::memcpy(&odd, raw, 4);
  auto wv =
      read_word2vec(dir.write("o.bin", "2 1\nx " + bytes_of({odd}) + "\ny " + a.substr(0, 4)));
  EXPECT_EQ(wv.vectors[0][0].item<float>(), odd);
  EXPECT_EQ(wv.vectors[1][0].item<float>(), 1.0f);
}

TEST(WordVectors, LimitReadsTheFirstWords) {
  TempDir dir;
  auto wv = sample(30, 4);
  for (bool binary : {false, true}) {
    const std::string path = dir.file(binary ? "v.bin" : "v.txt");
    write_word2vec(wv, path, binary);
    // Damage the file after the 5th record: limit 5 never reads that far.
    std::string bytes = slurp(path);
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 20);
    auto first = read_word2vec(path, VectorsFormat::kAuto, 5);
    EXPECT_EQ(first.size(), 5);
    EXPECT_EQ(first.words, std::vector<std::string>(wv.words.begin(), wv.words.begin() + 5));
    EXPECT_TRUE(bitwise_equal(first.vectors, wv.vectors.narrow(0, 0, 5).contiguous()));
    EXPECT_THROW(read_word2vec(path), DataError);
  }
  std::ofstream(dir.file("s.txt")) << "2 1\na 1\nb 2\n";
  EXPECT_EQ(read_word2vec(dir.file("s.txt"), VectorsFormat::kText, 10).size(), 2);
  EXPECT_EQ(
      error_of<ConfigError>([&] { read_word2vec(dir.file("s.txt"), VectorsFormat::kAuto, -1); }),
      "read_word2vec: limit must be >= 0 (0 = all words), got -1");
}

TEST(WordVectors, TextErrorsNameFileAndLine) {
  TempDir dir;
  auto err = [&](const std::string& text) {
    const std::string path = dir.write("f.txt", text);
    return error_of<DataError>([&] { read_word2vec(path); });
  };
  const std::string f = dir.file("f.txt");
  // Found by fuzzing (tests/fuzz/regressions/word_vectors): a dimension that
  // overflowed 2*D + 1, and a header that reserved 512 MiB for a 15-byte file.
  EXPECT_EQ(err("3 7529702534121341213\n"),
            f + ": the header's dimension 7529702534121341213 is more than the file's 22 bytes "
                "can hold");
  EXPECT_NE(err("16777216 1\nw 1\n").find("the file ends after 1 of the 16777216 words"),
            std::string::npos);
  EXPECT_EQ(err("3 3\na 1 2 3\nking 1 2 3\nqueen 1 2\n"),
            f + ":4: expected 3 values after 'queen', got 2");
  EXPECT_EQ(err("2 3\na 1 2 3\nking 1 2 3 4\n"), f + ":3: expected 3 values after 'king', got 4");
  EXPECT_EQ(err("2 3\na 1 2 3\nking 1 0.1x 3\n"),
            f + ":3: value 2 of 'king' is not a number: '0.1x'");
  EXPECT_EQ(err("2 3\na 1 2 3\nking 1 2 nan\n"), f + ":3: value 3 of 'king' is not finite: 'nan'");
  EXPECT_EQ(err("2 3\na 1 2 3\nking 1 -inf 2\n"),
            f + ":3: value 2 of 'king' is not finite: '-inf'");
  EXPECT_EQ(err("2 3\na 1 2 3\nking 1e39 2 3\n"),
            f + ":3: value 1 of 'king' is not finite: '1e39'");
  EXPECT_EQ(err("3 2\na 1 2\nb 1 2\n"),
            f + ": the file ends after 2 of the 3 words its header promises");
  EXPECT_EQ(err("3 2\na 1 2\nb 1 2\na 3 4\n"), f + ":4: duplicate word 'a' (first at line 2)");
  EXPECT_EQ(err("2 2\na 1 2\nb 1 2\nc 1 2\n"),
            f + ":4: more lines than the 2 words the header promises");
  EXPECT_EQ(err("2 2\na 1 2\n\nb 1 2\n"), f + ":3: empty line, expected a word and 2 values");
  EXPECT_EQ(err("2 2\na 1 2\n\xff\xfe 1 2\n"), f + ":3: word is not valid UTF-8");
  for (std::string header : {"abc", "3", "3 2 1", "0 2", "3 0", "-1 2", "3 x"}) {
    EXPECT_EQ(err(header + "\na 1 2\n"),
              f + ":1: bad header '" + header + "': expected 'V D' (two positive integers)");
  }
  EXPECT_EQ(err(""), f + ": file is empty");
  // Content is quoted as \xNN where it is a control character or not UTF-8,
  // so that the message is valid UTF-8; UTF-8 stays as it is, and a long
  // quotation is cut at a character's end.
  EXPECT_EQ(
      err("\xff\xfe"
          "3 \x80\x01 K\xc3\xb6nig\n"),
      f + ":1: bad header '\\xff\\xfe3 \\x80\\x01 K\xc3\xb6nig': expected 'V D' (two positive "
          "integers)");
  EXPECT_EQ(err(std::string(39, 'a') + "\xc3\xb6"
                                       "bc\n"),
            f + ":1: bad header '" + std::string(39, 'a') +
                "\xc3\xb6...': expected 'V D' (two positive integers)");
  EXPECT_EQ(err("2 2\na 1 2\nb 1 \xe2\x82\n"),
            f + ":3: value 2 of 'b' is not a number: '\\xe2\\x82'");
  const std::string missing = dir.file("missing.txt");
  EXPECT_EQ(error_of<DataError>([&] { read_word2vec(missing); }),
            "cannot open '" + missing + "': No such file or directory");
  // A header that promises far more than the file can hold fails before allocating.
  EXPECT_EQ(
      err("100000000 300\na 1\n"),
      f + ": the header promises 100000000 words of 300 values, more than the file's 18 bytes "
          "can hold");
}

TEST(WordVectors, BinaryErrorsNameFileAndWord) {
  TempDir dir;
  auto err = [&](const std::string& bytes) {
    const std::string path = dir.write("f.bin", bytes);
    return error_of<DataError>([&] { read_word2vec(path); });
  };
  const std::string f = dir.file("f.bin");
  const std::string v = bytes_of({1.0f, 2.0f, 3.0f});
  EXPECT_EQ(err("10 3\na " + v + "\nb " + v + "\nc " + v.substr(0, 7)),
            f + ": word 3 of 10: the file ends inside its vector");
  EXPECT_EQ(err("3 3\na " + v + "\nb " + v + "\nc"),
            f + ": word 3 of 3: the file ends inside the word");
  EXPECT_EQ(err("3 3\na " + v + "\nb " + v + "\n"),
            f + ": the file ends after 2 of the 3 words its header promises");
  EXPECT_EQ(err("3 3\na " + v + "\nb " + v + "\na " + v + "\n"),
            f + ": word 3 of 3: duplicate word 'a' (first is word 1)");
  EXPECT_EQ(err("2 3\na " + v + "\nb " + bytes_of({1.0f, NAN, 0.0f}) + "\n"),
            f + ": word 2 of 2: value 2 of 'b' is not finite");
  EXPECT_EQ(err("2 3\na " + v + "\nb " + v + "\nextra"),
            f + ": more bytes after the 2 words the header promises");
  EXPECT_EQ(err("2 3\na " + v + "\n\xff " + v + "\n"),
            f + ": word 2 of 2: word is not valid UTF-8");
  // A wrong D in the header misaligns the records.
  EXPECT_EQ(
      err("2 2\na " + v + "\nb " + v + "\n"),
      f + ": word 2 of 2: bad word '\\x00\\x00@@\\x0a' (a line break or tab before its space: "
          "is the file text, or the header's D = 2 wrong?)");
}

}  // namespace
}  // namespace rnnlab::datasets
