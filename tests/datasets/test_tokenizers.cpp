// Tests of the char and word tokenizers: round trips in English, German and
// Korean, unknown tokens, options, and save/load.
#include <gtest/gtest.h>

#include "core/error.h"
#include "datasets/tokenizer.h"
#include "datasets/vocab.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

const std::string kEnglish = "The quick brown fox jumps over the lazy dog.\nIt was fun!\n";
const std::string kGerman = "Größe, Übermäßig schön!";
const std::string kKorean = "안녕하세요 세계";

std::unique_ptr<Tokenizer> train(TokenizerOptions options, const std::vector<std::string>& texts) {
  return train_tokenizer(options, texts, "/nonexistent-work-dir-unused");
}

TEST(CharTokenizer, RoundTripsEnglishGermanKorean) {
  TokenizerOptions options;
  auto tok = train(options, {kEnglish, kGerman, kKorean});
  EXPECT_EQ(tok->type(), "char");
  for (const auto& text : {kEnglish, kGerman, kKorean}) {
    auto ids = tok->encode(text);
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_EQ(tok->encode_strict(text), ids);
    for (int64_t id : ids) EXPECT_GE(id, Vocab::kNumSpecials);
  }
  // One id per code point: "안녕하세요 세계" is 8 characters, "Größe," is 6.
  EXPECT_EQ(tok->encode(kKorean).size(), 8u);
  EXPECT_EQ(tok->encode("Größe,").size(), 6u);
  EXPECT_EQ(tok->pieces("Größe"), (std::vector<std::string>{"G", "r", "ö", "ß", "e"}));
  EXPECT_EQ(tok->id_to_piece(tok->encode("ß")[0]), "ß");
  EXPECT_EQ(tok->id_to_piece(Vocab::kEos), "<eos>");
  // Newline is a token; the most frequent character ' ' gets the first free id.
  EXPECT_NE(tok->encode("\n")[0], Vocab::kUnk);
  EXPECT_EQ(tok->encode(" ")[0], Vocab::kNumSpecials);
}

TEST(CharTokenizer, UnknownCharacters) {
  auto tok = train({}, {"abc\nabc"});
  EXPECT_EQ(tok->vocab_size(), 4 + 4);
  EXPECT_EQ(tok->encode("az")[1], Vocab::kUnk);
  EXPECT_EQ(error_of<DataError>([&] { tok->encode_strict("ab\ncaé"); }),
            "text:2: character 'é' (U+00E9) at column 3 is not in the vocabulary");
  EXPECT_EQ(error_of<DataError>([&] { tok->encode("a\xff"); }),
            "text:1: invalid UTF-8 byte 0xff at column 2");
  EXPECT_THROW(tok->decode({1000}), DataError);
  // Specials other than <unk> decode to nothing.
  EXPECT_EQ(tok->decode({Vocab::kBos, tok->encode("a")[0], Vocab::kEos, Vocab::kPad}), "a");
}

TEST(CharTokenizer, MinFreqAndMaxSize) {
  TokenizerOptions options;
  options.min_freq = 2;
  auto tok = train(options, {"aaab"});
  EXPECT_EQ(tok->vocab_size(), 5);
  EXPECT_EQ(tok->encode("b")[0], Vocab::kUnk);
  options.min_freq = 1;
  options.max_size = 5;
  EXPECT_EQ(train(options, {"aaabbc"})->vocab_size(), 5);
}

TEST(WordTokenizer, SplitsPunctuationAndRoundTripsNormalisedText) {
  TokenizerOptions options;
  options.type = "word";
  auto tok = train(options, {kEnglish, kGerman, kKorean});
  EXPECT_EQ(tok->type(), "word");
  EXPECT_EQ(tok->pieces(kGerman),
            (std::vector<std::string>{"Größe", ",", "Übermäßig", "schön", "!"}));
  EXPECT_EQ(tok->pieces(kKorean), (std::vector<std::string>{"안녕하세요", "세계"}));
  EXPECT_EQ(tok->decode(tok->encode(kGerman)), "Größe , Übermäßig schön !");
  EXPECT_EQ(tok->decode(tok->encode(kKorean)), kKorean);
  EXPECT_EQ(tok->decode(tok->encode(kEnglish)),
            "The quick brown fox jumps over the lazy dog .\nIt was fun !\n");
  // Normalised text (single spaces, punctuation apart) round-trips exactly.
  std::string normal = "Größe , Übermäßig schön !\n안녕하세요 세계\nthe lazy dog .\n";
  EXPECT_EQ(tok->decode(tok->encode_strict(normal)), normal);
  // Newlines are <eos>; other whitespace only separates words.
  auto ids = tok->encode("fox\t  dog\r\n\nfox");
  ASSERT_EQ(ids.size(), 5u);
  EXPECT_EQ(ids[2], Vocab::kEos);
  EXPECT_EQ(ids[3], Vocab::kEos);
  EXPECT_EQ(ids[0], ids[4]);
}

TEST(WordTokenizer, UnknownWordsAndSpecialTokens) {
  TokenizerOptions options;
  options.type = "word";
  auto tok = train(options, {" the <unk> cat sat \n the N cats \n"});
  auto ids = tok->encode("the <unk> dog");
  ASSERT_EQ(ids.size(), 3u);  // "<unk>" stays one token despite its punctuation
  EXPECT_EQ(ids[1], Vocab::kUnk);
  EXPECT_EQ(ids[2], Vocab::kUnk);
  EXPECT_EQ(tok->encode_strict("the <unk> cat")[1], Vocab::kUnk);  // a literal <unk> is fine
  EXPECT_EQ(error_of<DataError>([&] { tok->encode_strict("the cat\nthe  dog sat"); }),
            "text:2: word \"dog\" at column 6 is not in the vocabulary");
}

TEST(WordTokenizer, NoPunctuationSplitting) {
  TokenizerOptions options;
  options.type = "word";
  options.split_punctuation = false;
  auto tok = train(options, {kGerman});
  EXPECT_EQ(tok->pieces(kGerman), (std::vector<std::string>{"Größe,", "Übermäßig", "schön!"}));
  EXPECT_EQ(tok->decode(tok->encode(kGerman)), kGerman);
}

TEST(WordTokenizer, Lowercase) {
  TokenizerOptions options;
  options.type = "word";
  options.lowercase = true;
  auto tok = train(options, {"größe über ÆRØ straße ελλάδα москва"});
  EXPECT_EQ(tok->encode("GRÖSSE")[0], Vocab::kUnk);
  EXPECT_EQ(tok->encode("GRÖẞE"), tok->encode("größe"));
  EXPECT_EQ(tok->encode("Über"), tok->encode("über"));
  EXPECT_EQ(tok->encode("ærø"), tok->encode("ÆRØ"));
  EXPECT_EQ(tok->encode("ΕΛΛΆΔΑ")[0], Vocab::kUnk);  // accented capital Ά is not covered
  EXPECT_EQ(tok->encode("МОСКВА"), tok->encode("москва"));
  EXPECT_NE(tok->encode("москва")[0], Vocab::kUnk);
  // pieces() keep the text as written.
  EXPECT_EQ(tok->pieces("Über"), (std::vector<std::string>{"Über"}));
  EXPECT_EQ(tok->decode(tok->encode("Über")), "über");
}

TEST(WordTokenizer, ExtendedVocabularyAddsOnlyWordsATextCanProduce) {
  TokenizerOptions options;
  options.type = "word";
  options.lowercase = true;  // split_punctuation on (the default)
  auto tok = train(options, {"good film", "bad film"});
  const int64_t before = tok->vocab_size();
  EXPECT_EQ(extension_size(*tok), 0);
  EXPECT_EQ(tok->encode("gorgeous")[0], Vocab::kUnk);
  int64_t added = -1;
  // "film" is known, "Limpid" is not lower case, "a,b" would be split, "<unk>"
  // is a special, "two words" has a space, "\xff" is not UTF-8.
  auto ext = extend_vocabulary(*tok,
                               {"gorgeous", "film", "Limpid", "a,b", "<unk>", "two words",
                                std::string("\xff"), "wretchedly", "gorgeous"},
                               &added);
  EXPECT_EQ(added, 2);
  EXPECT_EQ(ext->vocab_size(), before + 2);
  EXPECT_EQ(extension_size(*ext), 2);
  EXPECT_EQ(ext->encode("Gorgeous"), (std::vector<int64_t>{before}));
  EXPECT_EQ(ext->encode("wretchedly")[0], before + 1);
  EXPECT_EQ(ext->encode("good film"), tok->encode("good film"));  // old ids kept
  TempDir dir;
  ext->save(dir.file("ext"));
  auto loaded = load_tokenizer(dir.file("ext"));
  EXPECT_EQ(extension_size(*loaded), 2);
  EXPECT_EQ(loaded->encode("gorgeous film"), ext->encode("gorgeous film"));

  options.type = "char";
  auto chars = train(options, {"abc"});
  EXPECT_EQ(extension_size(*chars), 0);
  EXPECT_THROW(extend_vocabulary(*chars, {"x"}), ConfigError);
}

TEST(Tokenizers, SaveAndLoad) {
  TempDir dir;
  for (std::string type : {"char", "word"}) {
    TokenizerOptions options;
    options.type = type;
    options.lowercase = true;
    auto tok = train(options, {kEnglish, kGerman, kKorean});
    tok->save(dir.file(type));
    auto loaded = load_tokenizer(dir.file(type));
    EXPECT_EQ(loaded->type(), type);
    EXPECT_EQ(loaded->vocab_size(), tok->vocab_size());
    for (const auto& text : {kEnglish, kGerman, kKorean}) {
      EXPECT_EQ(loaded->encode(text), tok->encode(text));
      EXPECT_EQ(loaded->decode(tok->encode(text)), tok->decode(tok->encode(text)));
    }
  }
}

TEST(Tokenizers, LoadErrors) {
  TempDir dir;
  EXPECT_EQ(error_of<DataError>([&] { load_tokenizer(dir.file("nope")); }),
            "tokenizer directory '" + dir.file("nope") + "' does not exist");
  EXPECT_EQ(error_of<DataError>([&] { load_tokenizer(dir.file("")); }),
            "cannot open '" + dir.file("tokenizer.json") + "': No such file or directory");
  dir.write("tokenizer.json", R"({"type": "morse"})");
  EXPECT_THROW(load_tokenizer(dir.file("")), DataError);
  dir.write("tokenizer.json", R"({"type": "char"})");  // vocab.json missing
  EXPECT_THROW(load_tokenizer(dir.file("")), DataError);
  dir.write("tokenizer.json", R"({"type": "sentencepiece"})");  // spm.model missing
  EXPECT_THROW(load_tokenizer(dir.file("")), DataError);
}

TEST(Tokenizers, BadOptionsAndText) {
  TokenizerOptions options;
  options.type = "bytes";
  EXPECT_THROW(train(options, {"abc"}), ConfigError);
  options.type = "sentencepiece";
  options.spm_model_type = "wordpiece";
  EXPECT_THROW(train(options, {"abc"}), ConfigError);
  options.type = "char";
  EXPECT_THROW(train(options, {}), DataError);
  EXPECT_THROW(train(options, {"", ""}), DataError);
  EXPECT_THROW(train(options, {"ok", "bad \xc3"}), DataError);
}

}  // namespace
}  // namespace rnnlab::datasets
