// Tokenizers: text <-> id sequences for the models (char, word, sentencepiece).
//
// All three agree on the special ids of Vocab: <pad>=0, <unk>=1, <bos>=2,
// <eos>=3. train_tokenizer() builds one from training text; save() writes it to
// a directory that load_tokenizer() reads back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rnnlab::datasets {

/// How to build a tokenizer (the "tokenizer" section of an app config).
struct TokenizerOptions {
  /// "char", "word" or "sentencepiece". Default: "char".
  std::string type = "char";
  /// word: lower-case words before lookup. Covers ASCII, Latin-1, Latin
  /// Extended-A, Greek and Cyrillic capitals (and capital sharp s). Default: false.
  bool lowercase = false;
  /// word: make each punctuation character a token of its own (ASCII punctuation
  /// and symbols, Latin-1 and General Punctuation, CJK and full-width
  /// punctuation); "<unk>"-style special tokens stay whole. Default: true.
  bool split_punctuation = true;
  /// char/word: drop tokens seen fewer times than this. Default: 1.
  int64_t min_freq = 1;
  /// char/word: cap on the vocabulary size, specials included; 0 = unlimited. Default: 0.
  int64_t max_size = 0;
  /// sentencepiece: "unigram" or "bpe". Default: "unigram".
  std::string spm_model_type = "unigram";
  /// sentencepiece: vocabulary size, specials included. Default: 8000.
  int64_t spm_vocab_size = 8000;
  /// sentencepiece: share of characters the model must cover. Default: 1.0.
  double spm_character_coverage = 1.0;
  /// sentencepiece: path of an existing .model to load instead of training
  /// ("" = train). It must use pad=0, unk=1, bos=2, eos=3. Default: "".
  std::string spm_model;
};

/// Turns text into ids and back. Text must be UTF-8 (else DataError).
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  /// "char", "word" or "sentencepiece".
  virtual std::string type() const = 0;
  /// Ids of `text`; unknown characters/words become <unk> (1).
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  /// Like encode, but throws DataError naming the first unknown character or
  /// word as "SOURCE:LINE: ... at column C" (source: what the text is, e.g. a
  /// file name or "prompt").
  virtual std::vector<int64_t> encode_strict(std::string_view text,
                                             std::string_view source = "text") const = 0;
  /// Text of `ids`: <pad> and <bos> are dropped, <eos> becomes "\n" (char: dropped),
  /// <unk> becomes "<unk>" (sentencepiece: " ⁇ "). DataError on an id out of range.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  /// The piece of text behind each id of encode(text), in order ("\n" for <eos>).
  virtual std::vector<std::string> pieces(std::string_view text) const = 0;
  /// Number of ids, specials included.
  virtual int64_t vocab_size() const = 0;
  /// The vocabulary entry of `id` ("<eos>", "▁the", ...); DataError if out of range.
  virtual std::string id_to_piece(int64_t id) const = 0;
  /// Writes tokenizer.json and vocab.json (char, word) or spm.model into `dir`,
  /// creating it if needed. Throws RuntimeError if it cannot write.
  virtual void save(const std::string& dir) const = 0;
};

/// Builds a tokenizer of `options.type` from `training_texts` (each a document or
/// line; char/word count their tokens, sentencepiece trains on them as lines).
/// sentencepiece writes its training file and spm.model into `work_dir`
/// (created if needed; it keeps spm.model and spm.vocab), using at most 2M
/// lines and skipping lines over 4192 bytes (sentencepiece's defaults); with
/// options.spm_model set it loads that model and ignores the texts. Throws
/// ConfigError for bad options and DataError for unusable text (none, or not
/// UTF-8) or a sentencepiece failure.
std::unique_ptr<Tokenizer> train_tokenizer(const TokenizerOptions& options,
                                           const std::vector<std::string>& training_texts,
                                           const std::string& work_dir);

/// A word tokenizer with the vocabulary of `base` and, after it, those of
/// `words` it lacks that a text can produce as one token (no space, nothing
/// the tokenizer splits off, lower case if it lower-cases), in order, with
/// count 0. Sets `added` to their number. ConfigError if `base` is not a word
/// tokenizer.
std::unique_ptr<Tokenizer> extend_vocabulary(const Tokenizer& base,
                                             const std::vector<std::string>& words,
                                             int64_t* added = nullptr);

/// How many words at the end of the vocabulary extend_vocabulary() added (0
/// for a tokenizer it did not make).
int64_t extension_size(const Tokenizer& tokenizer);

/// Loads a tokenizer written by Tokenizer::save(dir); DataError if `dir` or one
/// of its files is missing or malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

}  // namespace rnnlab::datasets
