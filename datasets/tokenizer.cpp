// Char, word and sentencepiece tokenizers, their training and persistence (see tokenizer.h).
#include "datasets/tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "datasets/spm_client.h"
#include "datasets/text_file.h"
#include "datasets/utf8.h"
#include "datasets/vocab.h"

namespace rnnlab::datasets {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTextName = "text";  // source name in errors about encode() input

// "'x' (U+0078)" for error messages; control characters are shown by code only.
std::string describe_char(std::string_view ch) {
  char32_t cp = decode_utf8(ch, 0, ch.size());
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
  if (cp < 0x20 || cp == 0x7F) return code;
  return "'" + std::string(ch) + "' (" + code + ")";
}

// Every tokenizer file is written whole or not at all: a run killed while
// saving its tokenizer never leaves one cut short.
void write_file(const fs::path& path, const std::string& bytes) {
  write_file_atomic(path, bytes);
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create directory '" + dir + "': " + ec.message());
}

// Writes dir/tokenizer.json.
void write_config(const std::string& dir, const nlohmann::json& config) {
  make_dir(dir);
  write_file(fs::path(dir) / "tokenizer.json", config.dump(2) + "\n");
}

// ---------------------------------------------------------------- char

class CharTokenizer : public Tokenizer {
 public:
  explicit CharTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

  std::string type() const override { return "char"; }

  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for (const auto& ch : split_utf8(text, kTextName)) ids.push_back(vocab_.id(ch));
    return ids;
  }

  std::vector<int64_t> encode_strict(std::string_view text,
                                     std::string_view source) const override {
    std::vector<int64_t> ids;
    int64_t line = 1, column = 1;
    for (const auto& ch : split_utf8(text, source)) {
      if (!vocab_.contains(ch)) {
        throw DataError(std::string(source) + ":" + std::to_string(line) + ": character " +
                        describe_char(ch) + " at column " + std::to_string(column) +
                        " is not in the vocabulary");
      }
      ids.push_back(vocab_.id(ch));
      if (ch == "\n") {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    for (int64_t id : ids) {
      const std::string& token = vocab_.token(id);
      if (id == Vocab::kPad || id == Vocab::kBos || id == Vocab::kEos) continue;
      text += token;
    }
    return text;
  }

  std::vector<std::string> pieces(std::string_view text) const override {
    return split_utf8(text, kTextName);
  }

  int64_t vocab_size() const override { return vocab_.size(); }
  std::string id_to_piece(int64_t id) const override { return vocab_.token(id); }

  void save(const std::string& dir) const override {
    write_config(dir, {{"type", type()}, {"version", 1}});
    vocab_.save((fs::path(dir) / "vocab.json").string());
  }

 private:
  Vocab vocab_;
};

// ---------------------------------------------------------------- word

bool is_unicode_space(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_punctuation(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
  }
  return cp == 0xA1 || cp == 0xA7 || cp == 0xAB || cp == 0xB6 || cp == 0xB7 || cp == 0xBB ||
         cp == 0xBF || (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) ||
         (cp >= 0x3001 && cp <= 0x3003) || (cp >= 0x3008 && cp <= 0x3011) ||
         (cp >= 0x3014 && cp <= 0x301F) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
         (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
         (cp >= 0xFF5B && cp <= 0xFF65);
}

// Lower case of the capitals documented at TokenizerOptions::lowercase.
char32_t to_lower(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0xC0) return cp;
  if (cp <= 0xDE && cp != 0xD7) return cp + 32;                   // Latin-1: À..Þ except ×
  if (cp >= 0x100 && cp <= 0x137) return cp | 1;                  // Latin Ext-A pairs Ā..ķ
  if (cp >= 0x139 && cp <= 0x148) return (cp & 1) ? cp + 1 : cp;  // Ĺ..ň (odd = capital)
  if (cp >= 0x14A && cp <= 0x177) return cp | 1;                  // Ŋ..ŷ
  if (cp == 0x178) return 0xFF;                                   // Ÿ
  if (cp >= 0x179 && cp <= 0x17E) return (cp & 1) ? cp + 1 : cp;  // Ź..ž
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 32;  // Greek Α..Ϋ
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;                 // Cyrillic Ѐ..Џ
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                 // Cyrillic А..Я
  if (cp == 0x1E9E) return 0xDF;                                  // ẞ -> ß
  return cp;
}

// One token of word-tokenised text: its text as written, and where it starts.
struct Word {
  std::string surface;  // "\n" for a line end
  int64_t line;
  int64_t column;  // in code points, 1-based
};

class WordTokenizer : public Tokenizer {
 public:
  WordTokenizer(Vocab vocab, bool lowercase, bool split_punctuation)
      : vocab_(std::move(vocab)), lowercase_(lowercase), split_punctuation_(split_punctuation) {}

  // Splits text into words and line ends (see TokenizerOptions).
  static std::vector<Word> split(std::string_view text, bool split_punctuation) {
    check_utf8(text, kTextName);
    std::vector<Word> words;
    std::string current;
    int64_t line = 1, column = 1, start_column = 1;
    auto flush = [&] {
      if (current.empty()) return;
      if (split_punctuation && !is_special(current)) {
        split_off_punctuation(current, line, start_column, words);
      } else {
        words.push_back({current, line, start_column});
      }
      current.clear();
    };
    for (size_t pos = 0; pos < text.size();) {
      size_t length = utf8_sequence_length(text, pos);
      char32_t cp = decode_utf8(text, pos, length);
      if (cp == '\n') {
        flush();
        words.push_back({"\n", line, column});
        ++line;
        column = 0;
      } else if (is_unicode_space(cp)) {
        flush();
      } else {
        if (current.empty()) start_column = column;
        current.append(text.substr(pos, length));
      }
      ++column;
      pos += length;
    }
    flush();
    return words;
  }

  // The vocabulary key of a word: lower-cased if asked.
  static std::string key(const std::string& word, bool lowercase) {
    if (!lowercase) return word;
    std::string lower;
    for (size_t pos = 0; pos < word.size();) {
      size_t length = utf8_sequence_length(word, pos);
      append_utf8(lower, to_lower(decode_utf8(word, pos, length)));
      pos += length;
    }
    return lower;
  }

  std::string type() const override { return "word"; }

  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for (const auto& word : split(text, split_punctuation_)) ids.push_back(id_of(word));
    return ids;
  }

  std::vector<int64_t> encode_strict(std::string_view text,
                                     std::string_view source) const override {
    std::vector<int64_t> ids;
    for (const auto& word : split(text, split_punctuation_)) {
      int64_t id = id_of(word);
      if (id == Vocab::kUnk && word.surface != "<unk>") {
        throw DataError(std::string(source) + ":" + std::to_string(word.line) + ": word " +
                        nlohmann::json(word.surface).dump() + " at column " +
                        std::to_string(word.column) + " is not in the vocabulary");
      }
      ids.push_back(id);
    }
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    bool need_space = false;
    for (int64_t id : ids) {
      const std::string& token = vocab_.token(id);
      if (id == Vocab::kPad || id == Vocab::kBos) continue;
      if (id == Vocab::kEos) {
        text += '\n';
        need_space = false;
        continue;
      }
      if (need_space) text += ' ';
      text += token;
      need_space = true;
    }
    return text;
  }

  std::vector<std::string> pieces(std::string_view text) const override {
    std::vector<std::string> out;
    for (auto& word : split(text, split_punctuation_)) out.push_back(std::move(word.surface));
    return out;
  }

  int64_t vocab_size() const override { return vocab_.size(); }
  std::string id_to_piece(int64_t id) const override { return vocab_.token(id); }

  // A copy whose vocabulary also has `words` (those that a text can produce:
  // no space, no punctuation to split off, already in the key form).
  std::unique_ptr<WordTokenizer> extended(const std::vector<std::string>& words,
                                          int64_t* added) const {
    std::vector<std::string> usable;
    for (const auto& w : words) {
      try {
        if (w.empty() || is_special(w)) continue;
        auto split_words = split(w, split_punctuation_);  // checks UTF-8 first
        if (split_words.size() == 1 && split_words[0].surface == w && w == key(w, lowercase_))
          usable.push_back(w);
      } catch (const DataError&) {  // not UTF-8: no text has it
      }
    }
    Vocab vocab = vocab_;
    int64_t n = vocab.extend(usable);
    if (added) *added = n;
    return std::make_unique<WordTokenizer>(std::move(vocab), lowercase_, split_punctuation_);
  }

  // The words extended() added: the last ids, count 0 (a training word has 1 or more).
  int64_t extension_size() const {
    int64_t n = 0;
    for (int64_t id = vocab_.size() - 1; id >= Vocab::kNumSpecials && vocab_.count(id) == 0; --id)
      ++n;
    return n;
  }

  void save(const std::string& dir) const override {
    write_config(dir, {{"type", type()},
                       {"version", 1},
                       {"lowercase", lowercase_},
                       {"split_punctuation", split_punctuation_}});
    vocab_.save((fs::path(dir) / "vocab.json").string());
  }

 private:
  static bool is_special(const std::string& word) {
    for (const auto& special : Vocab::specials()) {
      if (word == special) return true;
    }
    return false;
  }

  // Appends the pieces of `chunk` (no spaces in it): runs of non-punctuation
  // and single punctuation characters.
  static void split_off_punctuation(const std::string& chunk, int64_t line, int64_t column,
                                    std::vector<Word>& words) {
    std::string current;
    int64_t start = column;
    for (size_t pos = 0; pos < chunk.size(); ++column) {
      size_t length = utf8_sequence_length(chunk, pos);
      std::string ch = chunk.substr(pos, length);
      if (is_punctuation(decode_utf8(chunk, pos, length))) {
        if (!current.empty()) words.push_back({std::move(current), line, start});
        current.clear();
        words.push_back({ch, line, column});
      } else {
        if (current.empty()) start = column;
        current += ch;
      }
      pos += length;
    }
    if (!current.empty()) words.push_back({std::move(current), line, start});
  }

  int64_t id_of(const Word& word) const {
    if (word.surface == "\n") return Vocab::kEos;
    return vocab_.id(key(word.surface, lowercase_));
  }

  Vocab vocab_;
  bool lowercase_;
  bool split_punctuation_;
};

// ---------------------------------------------------------------- sentencepiece

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Loads the model at `path` and keeps its bytes for save().
  explicit SentencePieceTokenizer(const std::string& path) : model_(path) {
    model_bytes_ = read_file_bytes(path);
    static const char* kExpected[] = {"<pad>", "<unk>", "<bos>", "<eos>"};
    if (model_.vocab_size() < 4) {
      throw DataError("sentencepiece model '" + path + "' has fewer than 4 pieces");
    }
    for (int id = 0; id < 4; ++id) {
      std::string piece = model_.id_to_piece(id);
      if (piece != kExpected[id]) {
        throw DataError("sentencepiece model '" + path + "' has '" + piece + "' at id " +
                        std::to_string(id) + ", expected '" + kExpected[id] +
                        "' (train it with pad_id=0 unk_id=1 bos_id=2 eos_id=3 and those pieces)");
      }
    }
  }

  std::string type() const override { return "sentencepiece"; }

  std::vector<int64_t> encode(std::string_view text) const override {
    std::vector<int64_t> ids;
    for_each_piece(text, kTextName,
                   [&](int id, std::string_view, int64_t, int64_t) { ids.push_back(id); });
    return ids;
  }

  std::vector<int64_t> encode_strict(std::string_view text,
                                     std::string_view source) const override {
    std::vector<int64_t> ids;
    for_each_piece(
        text, source, [&](int id, std::string_view surface, int64_t line, int64_t column) {
          if (id == Vocab::kUnk) {
            throw DataError(std::string(source) + ":" + std::to_string(line) + ": " +
                            nlohmann::json(std::string(surface)).dump() + " at column " +
                            std::to_string(column) + " is not covered by the sentencepiece model");
          }
          ids.push_back(id);
        });
    return ids;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string text;
    std::vector<int> line;
    int64_t size = vocab_size();
    for (int64_t id : ids) {
      if (id < 0 || id >= size) {
        throw DataError("token id " + std::to_string(id) + " is out of range [0, " +
                        std::to_string(size) + ")");
      }
      if (id == Vocab::kEos) {
        text += model_.decode(line) + "\n";
        line.clear();
      } else if (id != Vocab::kPad && id != Vocab::kBos) {
        line.push_back(static_cast<int>(id));
      }
    }
    return text + model_.decode(line);
  }

  std::vector<std::string> pieces(std::string_view text) const override {
    std::vector<std::string> out;
    for_each_piece(text, kTextName, [&](int, std::string_view surface, int64_t, int64_t) {
      out.emplace_back(surface);
    });
    return out;
  }

  int64_t vocab_size() const override { return model_.vocab_size(); }

  std::string id_to_piece(int64_t id) const override {
    if (id < 0 || id >= vocab_size()) {
      throw DataError("token id " + std::to_string(id) + " is out of range [0, " +
                      std::to_string(vocab_size()) + ")");
    }
    return model_.id_to_piece(static_cast<int>(id));
  }

  void save(const std::string& dir) const override {
    write_config(dir, {{"type", type()}, {"version", 1}});
    write_file(fs::path(dir) / "spm.model", model_bytes_);
  }

 private:
  static std::string read_file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) throw DataError("cannot read '" + path + "'");
    return bytes;
  }

  // Encodes text line by line, calling f(id, surface, line, column) per piece,
  // with <eos> (surface "\n") for each newline. Column counts code points.
  template <typename F>
  void for_each_piece(std::string_view text, std::string_view source, F&& f) const {
    check_utf8(text, source);
    int64_t line_number = 1;
    std::vector<std::pair<int, int>> spans;
    while (!text.empty()) {
      size_t end = text.find('\n');
      std::string_view line = text.substr(0, end);
      if (!line.empty()) {
        std::vector<int> ids = model_.encode(line, &spans);
        int64_t column = 1;
        size_t counted = 0;  // bytes of `line` whose code points are in `column`
        for (size_t i = 0; i < ids.size(); ++i) {
          size_t begin = spans[i].first;
          for (; counted < begin; ++counted) {
            if ((static_cast<unsigned char>(line[counted]) & 0xC0) != 0x80) ++column;
          }
          f(ids[i], line.substr(begin, spans[i].second - begin), line_number, column);
        }
      }
      if (end == std::string_view::npos) break;
      f(static_cast<int>(Vocab::kEos), std::string_view("\n"), line_number, 0);
      ++line_number;
      text.remove_prefix(end + 1);
    }
  }

  spm::Model model_;
  std::string model_bytes_;
};

// ---------------------------------------------------------------- training

void check_options(const TokenizerOptions& o) {
  if (o.type != "char" && o.type != "word" && o.type != "sentencepiece") {
    throw ConfigError("tokenizer type '" + o.type + "' is not one of char, word, sentencepiece");
  }
  if (o.type == "sentencepiece") {
    if (o.spm_model_type != "unigram" && o.spm_model_type != "bpe") {
      throw ConfigError("sentencepiece model type '" + o.spm_model_type +
                        "' is not one of unigram, bpe");
    }
    if (o.spm_vocab_size < 5) {
      throw ConfigError("sentencepiece vocab size must be at least 5, got " +
                        std::to_string(o.spm_vocab_size));
    }
    if (!(o.spm_character_coverage > 0.0 && o.spm_character_coverage <= 1.0)) {
      throw ConfigError("sentencepiece character coverage must be in (0, 1], got " +
                        std::to_string(o.spm_character_coverage));
    }
  }
}

std::unique_ptr<Tokenizer> train_sentencepiece(const TokenizerOptions& o,
                                               const std::vector<std::string>& texts,
                                               const std::string& work_dir) {
  make_dir(work_dir);
  fs::path input = fs::path(work_dir) / "spm_train.txt";
  fs::path prefix = fs::path(work_dir) / "spm";
  {
    std::string all;
    for (const auto& text : texts) {
      check_utf8(text, "training text");
      all += text;
      if (!text.empty() && text.back() != '\n') all += '\n';
    }
    write_file(input, all);
  }
  unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
  std::vector<std::pair<std::string, std::string>> flags = {
      {"input", input.string()},
      {"model_prefix", prefix.string()},
      {"model_type", o.spm_model_type},
      {"vocab_size", std::to_string(o.spm_vocab_size)},
      {"character_coverage", std::to_string(o.spm_character_coverage)},
      // Special ids agree with Vocab, so all tokenizers share <pad>..<eos> = 0..3.
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"pad_piece", "<pad>"},
      {"unk_piece", "<unk>"},
      {"bos_piece", "<bos>"},
      {"eos_piece", "<eos>"},
      // Exact round trips: no NFKC, and keep runs of spaces as written.
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      // Bound memory and time on big corpora: sample at most 2M lines.
      {"input_sentence_size", "2000000"},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(threads)},
  };
  std::error_code ec;
  try {
    spm::train(flags);
  } catch (...) {
    fs::remove(input, ec);
    throw;
  }
  fs::remove(input, ec);
  return std::make_unique<SentencePieceTokenizer>(prefix.string() + ".model");
}

nlohmann::json read_json(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(path + ": invalid JSON: " + json_reason(e.what()));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> train_tokenizer(const TokenizerOptions& options,
                                           const std::vector<std::string>& training_texts,
                                           const std::string& work_dir) {
  check_options(options);
  if (options.type == "sentencepiece" && !options.spm_model.empty()) {
    return std::make_unique<SentencePieceTokenizer>(options.spm_model);  // nothing to train
  }
  bool any_text = false;
  for (const auto& text : training_texts) any_text = any_text || !text.empty();
  if (!any_text) throw DataError("no training text for the " + options.type + " tokenizer");
  if (options.type == "sentencepiece")
    return train_sentencepiece(options, training_texts, work_dir);

  std::unordered_map<std::string, int64_t> counts;
  if (options.type == "char") {
    for (const auto& text : training_texts) {
      for (auto& ch : split_utf8(text, "training text")) ++counts[std::move(ch)];
    }
    return std::make_unique<CharTokenizer>(
        Vocab::build(counts, options.min_freq, options.max_size));
  }
  for (const auto& text : training_texts) {
    for (const auto& word : WordTokenizer::split(text, options.split_punctuation)) {
      ++counts[word.surface == "\n" ? Vocab::specials()[Vocab::kEos]
                                    : WordTokenizer::key(word.surface, options.lowercase)];
    }
  }
  return std::make_unique<WordTokenizer>(Vocab::build(counts, options.min_freq, options.max_size),
                                         options.lowercase, options.split_punctuation);
}

std::unique_ptr<Tokenizer> extend_vocabulary(const Tokenizer& base,
                                             const std::vector<std::string>& words,
                                             int64_t* added) {
  const auto* word = dynamic_cast<const WordTokenizer*>(&base);
  if (!word)
    throw ConfigError("only a word tokenizer's vocabulary can take extra words (this one is '" +
                      base.type() + "')");
  return word->extended(words, added);
}

int64_t extension_size(const Tokenizer& tokenizer) {
  const auto* word = dynamic_cast<const WordTokenizer*>(&tokenizer);
  return word ? word->extension_size() : 0;
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  if (!fs::is_directory(dir)) throw DataError("tokenizer directory '" + dir + "' does not exist");
  std::string config_path = (fs::path(dir) / "tokenizer.json").string();
  nlohmann::json config = read_json(config_path);
  auto bad = [&](const std::string& why) {
    return DataError(config_path + ": not a tokenizer config: " + why);
  };
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    throw bad("no string \"type\"");
  }
  std::string type = config["type"];
  if (type == "sentencepiece") {
    return std::make_unique<SentencePieceTokenizer>((fs::path(dir) / "spm.model").string());
  }
  if (type != "char" && type != "word") throw bad("unknown type '" + type + "'");
  Vocab vocab = Vocab::load((fs::path(dir) / "vocab.json").string());
  if (type == "char") return std::make_unique<CharTokenizer>(std::move(vocab));
  auto flag = [&](const char* name, bool fallback) {
    if (!config.contains(name)) return fallback;
    if (!config[name].is_boolean()) throw bad(std::string("\"") + name + "\" is not a boolean");
    return config[name].get<bool>();
  };
  return std::make_unique<WordTokenizer>(std::move(vocab), flag("lowercase", false),
                                         flag("split_punctuation", true));
}

}  // namespace rnnlab::datasets
