// The word2vec corpus (see word2vec_corpus.h).
#include "datasets/word2vec_corpus.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "datasets/utf8.h"

namespace rnnlab::datasets {

namespace {

// The bytes of a file.
std::string read_bytes(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw DataError("'" + path + "' is a directory, not a corpus file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw DataError("cannot read '" + path + "'");
  return ss.str();
}

bool is_space_in_line(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Calls word(token) for every token and line_end() at every line break (and
// at the end of the text if it does not end with one).
template <class Word, class LineEnd>
void scan(std::string_view text, Word&& word, LineEnd&& line_end) {
  size_t i = 0, n = text.size();
  while (i < n) {
    if (text[i] == '\n') {
      line_end();
      ++i;
      continue;
    }
    if (is_space_in_line(text[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < n && text[i] != '\n' && !is_space_in_line(text[i])) ++i;
    word(text.substr(start, i - start));
  }
  if (n > 0 && text[n - 1] != '\n') line_end();
}

// Tokens are byte strings, but the vectors written from them must be
// readable: a corpus that is not normalised must be UTF-8 (normalising keeps
// only ASCII letters and digits).
std::string load(const std::string& path, bool normalize) {
  std::string text = read_bytes(path);
  if (normalize) return normalize_word2vec(text);
  check_utf8(text, path);
  return text;
}

}  // namespace

std::string normalize_word2vec(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\n';
    if (!keep) c = ' ';
  }
  return out;
}

int64_t WordVocab::find(std::string_view word) const {
  auto it = index.find(std::string(word));
  return it == index.end() ? -1 : it->second;
}

int64_t WordVocab::total() const {
  return std::accumulate(counts.begin(), counts.end(), int64_t{0});
}

WordVocab build_word_vocab(const std::vector<std::string>& files, const WordVocabOptions& options) {
  if (files.empty()) throw DataError("no corpus file given");
  std::unordered_map<std::string, int64_t> counts;
  int64_t words = 0;
  for (const auto& file : files) {
    std::string text = load(file, options.normalize);
    scan(
        text,
        [&](std::string_view w) {
          ++counts[std::string(w)];
          ++words;
        },
        [] {});
  }
  if (words == 0)
    throw DataError("the corpus (" + files.front() + (files.size() > 1 ? ", ..." : "") +
                    ") has no words");
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  WordVocab vocab;
  for (const auto& [word, count] : sorted) {
    if (count < options.min_count) break;
    if (options.max_size > 0 && vocab.size() >= options.max_size) break;
    vocab.index.emplace(word, vocab.size());
    vocab.words.push_back(word);
    vocab.counts.push_back(count);
  }
  if (vocab.words.empty())
    throw DataError("no word of the corpus occurs min_count=" + std::to_string(options.min_count) +
                    " times (the most frequent, '" + sorted.front().first + "', occurs " +
                    std::to_string(sorted.front().second) + " times)");
  return vocab;
}

EncodedCorpus encode_word_corpus(const std::vector<std::string>& files, const WordVocab& vocab,
                                 bool normalize, int64_t max_sentence) {
  EncodedCorpus out;
  out.offsets.push_back(0);
  auto close = [&] {
    if (static_cast<int64_t>(out.ids.size()) > out.offsets.back())
      out.offsets.push_back(static_cast<int64_t>(out.ids.size()));
  };
  for (const auto& file : files) {
    std::string text = load(file, normalize);
    scan(
        text,
        [&](std::string_view w) {
          int64_t id = vocab.find(w);
          if (id < 0) return;
          out.ids.push_back(static_cast<int32_t>(id));
          if (static_cast<int64_t>(out.ids.size()) - out.offsets.back() >= max_sentence) close();
        },
        close);
  }
  return out;
}

std::vector<float> keep_probabilities(const WordVocab& vocab, double sample) {
  std::vector<float> keep(vocab.counts.size(), 1.0f);
  if (sample <= 0) return keep;
  // word2vec.c: ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn
  double threshold = sample * static_cast<double>(vocab.total());
  for (size_t i = 0; i < keep.size(); ++i) {
    double cn = static_cast<double>(vocab.counts[i]);
    keep[i] = static_cast<float>(std::min(1.0, (std::sqrt(cn / threshold) + 1) * threshold / cn));
  }
  return keep;
}

void subsample(const int32_t* begin, const int32_t* end, const std::vector<float>& keep,
               Word2VecRandom& rng, std::vector<int32_t>& out) {
  out.clear();
  for (const int32_t* p = begin; p != end; ++p) {
    float k = keep[static_cast<size_t>(*p)];
    // word2vec.c draws for every word, so the stream of draws does not depend
    // on which words are kept.
    double u = rng.uniform();
    if (k >= 1.0f || u < k) out.push_back(*p);
  }
}

std::vector<int32_t> subsample(const int32_t* begin, const int32_t* end,
                               const std::vector<float>& keep, Word2VecRandom& rng) {
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(end - begin));
  subsample(begin, end, keep, rng, out);
  return out;
}

}  // namespace rnnlab::datasets
