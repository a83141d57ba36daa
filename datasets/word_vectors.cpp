// Word vectors in word2vec's text and binary formats (see word_vectors.h).
#include "datasets/word_vectors.h"

#include <sys/stat.h>
#include <unistd.h>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "datasets/text_file.h"
#include "datasets/utf8.h"

namespace rnnlab::datasets {

namespace {

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

constexpr bool kBigEndian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_blank(std::string_view s) {
  for (char c : s)
    if (!is_ascii_space(c)) return false;
  return true;
}

// Reverses the bytes of each 4-byte float in `data` (n floats).
void swap_bytes(char* data, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    char* p = data + 4 * i;
    std::swap(p[0], p[3]);
    std::swap(p[1], p[2]);
  }
}

// A short, printable quotation of `s` for an error message: control
// characters and bytes that are not UTF-8 as \xNN (as guarded_main prints
// every error), cut after 40 bytes at a character's end.
std::string quote(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out;
  size_t i = 0;
  while (i < s.size() && i < kMax) {
    const auto u = static_cast<unsigned char>(s[i]);
    const size_t n = u < 0x20 || u == 0x7f ? 0 : utf8_sequence_length(s, i);
    if (n == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return "'" + out + "'";
}

// Parses one decimal value (an optional '+' allowed). Returns false if `token`
// is not entirely a number. Overflow gives +-inf, underflow the nearest float.
bool parse_float(std::string_view token, float& out) {
  if (!token.empty() && token[0] == '+') token.remove_prefix(1);
  if (token.empty() || token[0] == '+') return false;
  const char* end = token.data() + token.size();
  auto [ptr, ec] = std::from_chars(token.data(), end, out);
  if (ptr != end) return false;
  if (ec == std::errc::result_out_of_range) {
    double d = 0;
    auto [dptr, dec] = std::from_chars(token.data(), end, d);
    if (dptr != end) return false;
    if (dec == std::errc::result_out_of_range) {
      // Out of range even for a double: decide by the exponent's sign.
      d = token.find("e-") != std::string_view::npos || token.find("E-") != std::string_view::npos
              ? 0.0
              : (token[0] == '-' ? -HUGE_VAL : HUGE_VAL);
    }
    out = static_cast<float>(d);  // inf on overflow, 0 or subnormal on underflow
  } else if (ec != std::errc()) {
    return false;
  }
  return true;
}

// Buffered reading of one file with the file name for errors.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), file_(nullptr, std::fclose) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) fail_open(errno);
    if (S_ISDIR(info.st_mode)) fail_open(EISDIR);
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) fail_open(errno);
    size_ = static_cast<int64_t>(info.st_size);
  }

  /// The file's size in bytes.
  int64_t size() const { return size_; }

  /// Reads up to and without the next '\n' (a trailing '\r' removed), or at
  /// most `max` bytes. Returns false at end of file when nothing was read.
  bool getline(std::string& line, size_t max = std::string::npos) {
    line.clear();
    int c;
    bool any = false;
    while (line.size() < max && (c = getc_unlocked(file_.get())) != EOF) {
      any = true;
      if (c == '\n') break;
      line += static_cast<char>(c);
    }
    check();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return any;
  }

  int get() {
    int c = getc_unlocked(file_.get());
    if (c == EOF) check();
    return c;
  }
  void unget(int c) { std::ungetc(c, file_.get()); }
  size_t read(char* data, size_t n) {
    size_t got = std::fread(data, 1, n, file_.get());
    if (got < n) check();
    return got;
  }
  long tell() { return std::ftell(file_.get()); }
  void seek(long pos) {
    if (std::fseek(file_.get(), pos, SEEK_SET) != 0) {
      throw DataError("cannot read '" + path_ + "': " + std::strerror(errno));
    }
  }

 private:
  [[noreturn]] void fail_open(int error) {
    throw DataError("cannot open '" + path_ + "': " + std::strerror(error));
  }
  void check() {
    if (std::ferror(file_.get())) {
      throw DataError("cannot read '" + path_ + "': " + std::strerror(errno));
    }
  }

  std::string path_;
  File file_;
  int64_t size_ = 0;
};

// Reads "V D" from the header line.
std::pair<int64_t, int64_t> read_header(Reader& in, const std::string& path) {
  std::string line;
  if (!in.getline(line)) throw DataError(path + ": file is empty");
  std::vector<std::string_view> fields;
  split_fields(line, fields);
  int64_t v[2] = {0, 0};
  bool ok = fields.size() == 2;
  for (size_t i = 0; ok && i < 2; ++i) {
    const char* end = fields[i].data() + fields[i].size();
    auto [ptr, ec] = std::from_chars(fields[i].data(), end, v[i]);
    ok = ec == std::errc() && ptr == end && v[i] > 0;
  }
  if (!ok) {
    throw DataError(path + ":1: bad header " + quote(line) +
                    ": expected 'V D' (two positive integers)");
  }
  return {v[0], v[1]};
}

// Adds `word` as row `row`; throws on a duplicate (`where(i)` names record i).
template <typename Where>
void add_word(WordVectors& wv, std::string word, Where&& where) {
  const auto row = static_cast<int64_t>(wv.words.size());
  auto [it, inserted] = wv.index.emplace(word, row);
  if (!inserted) {
    throw DataError(where(row) + "duplicate word " + quote(word) + " (first " +
                    where(it->second, true) + ")");
  }
  wv.words.push_back(std::move(word));
}

void read_text(Reader& in, const std::string& path, int64_t count, int64_t total, int64_t dim,
               float* out, WordVectors& wv) {
  std::string line;
  std::vector<std::string_view> fields;
  // Record i is on line i + 2 (the header is line 1).
  auto where = [&](int64_t i, bool first = false) {
    return first ? "at line " + std::to_string(i + 2) : path + ":" + std::to_string(i + 2) + ": ";
  };
  for (int64_t i = 0; i < count; ++i) {
    if (!in.getline(line)) {
      throw DataError(path + ": the file ends after " + std::to_string(i) + " of the " +
                      std::to_string(total) + " words its header promises");
    }
    const std::string at = where(i);
    split_fields(line, fields);
    if (fields.empty()) {
      throw DataError(at + "empty line, expected a word and " + std::to_string(dim) + " values");
    }
    const std::string_view word = fields[0];
    if (!valid_utf8(word)) throw DataError(at + "word is not valid UTF-8");
    if (static_cast<int64_t>(fields.size()) - 1 != dim) {
      throw DataError(at + "expected " + std::to_string(dim) + " values after " + quote(word) +
                      ", got " + std::to_string(fields.size() - 1));
    }
    float* row = out + i * dim;
    for (int64_t j = 0; j < dim; ++j) {
      const std::string_view token = fields[static_cast<size_t>(j) + 1];
      if (!parse_float(token, row[j])) {
        throw DataError(at + "value " + std::to_string(j + 1) + " of " + quote(word) +
                        " is not a number: " + quote(token));
      }
      if (!std::isfinite(row[j])) {
        throw DataError(at + "value " + std::to_string(j + 1) + " of " + quote(word) +
                        " is not finite: " + quote(token));
      }
    }
    add_word(wv, std::string(word), where);
  }
  if (count < total) return;  // limit: read no further
  int64_t line_no = total + 1;
  while (in.getline(line)) {
    ++line_no;
    if (!is_blank(line)) {
      throw DataError(path + ":" + std::to_string(line_no) + ": more lines than the " +
                      std::to_string(total) + " words the header promises");
    }
  }
}

void read_binary(Reader& in, const std::string& path, int64_t count, int64_t total, int64_t dim,
                 float* out, WordVectors& wv) {
  auto where = [&](int64_t i, bool first = false) {
    return first ? "is word " + std::to_string(i + 1)
                 : path + ": word " + std::to_string(i + 1) + " of " + std::to_string(total) + ": ";
  };
  std::string word;
  for (int64_t i = 0; i < count; ++i) {
    int c;
    while ((c = in.get()) != EOF && is_ascii_space(static_cast<char>(c))) {
    }
    if (c == EOF) {
      throw DataError(path + ": the file ends after " + std::to_string(i) + " of the " +
                      std::to_string(total) + " words its header promises");
    }
    word.clear();
    while (c != EOF && c != ' ') {
      if (c == '\n' || c == '\t' || c == '\r') {
        throw DataError(
            where(i) + "bad word " + quote(word + static_cast<char>(c)) +
            " (a line break or tab before its space: is the file text, or the header's D = " +
            std::to_string(dim) + " wrong?)");
      }
      word += static_cast<char>(c);
      c = in.get();
    }
    if (c == EOF) throw DataError(where(i) + "the file ends inside the word");
    if (!valid_utf8(word)) throw DataError(where(i) + "word is not valid UTF-8");
    float* row = out + i * dim;
    const auto bytes = static_cast<size_t>(4 * dim);
    if (in.read(reinterpret_cast<char*>(row), bytes) != bytes) {
      throw DataError(where(i) + "the file ends inside its vector");
    }
    if (kBigEndian) swap_bytes(reinterpret_cast<char*>(row), dim);
    for (int64_t j = 0; j < dim; ++j) {
      if (!std::isfinite(row[j])) {
        throw DataError(where(i) + "value " + std::to_string(j + 1) + " of " + quote(word) +
                        " is not finite");
      }
    }
    add_word(wv, word, where);
    c = in.get();  // the optional "\n" after the vector
    if (c != '\n' && c != EOF) in.unget(c);
  }
  if (count < total) return;
  int c;
  while ((c = in.get()) != EOF) {
    if (!is_ascii_space(static_cast<char>(c))) {
      throw DataError(path + ": more bytes after the " + std::to_string(total) +
                      " words the header promises");
    }
  }
}

[[noreturn]] void fail_write(const std::string& path, int error) {
  throw RuntimeError("cannot write '" + path + "': " + std::strerror(error));
}

}  // namespace

VectorsFormat parse_vectors_format(std::string_view name) {
  if (name == "auto") return VectorsFormat::kAuto;
  if (name == "text") return VectorsFormat::kText;
  if (name == "binary") return VectorsFormat::kBinary;
  throw ConfigError("vectors format must be auto, text or binary, got " + quote(name));
}

const char* vectors_format_name(VectorsFormat format) {
  switch (format) {
    case VectorsFormat::kText:
      return "text";
    case VectorsFormat::kBinary:
      return "binary";
    case VectorsFormat::kAuto:
      break;
  }
  return "auto";
}

VectorsFormat vectors_format_by_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return VectorsFormat::kAuto;
  std::string ext(name.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == "bin") return VectorsFormat::kBinary;
  if (ext == "txt" || ext == "vec") return VectorsFormat::kText;
  return VectorsFormat::kAuto;
}

VectorsFormat resolve_vectors_format(const std::string& path, VectorsFormat format) {
  if (format != VectorsFormat::kAuto) return format;
  const VectorsFormat by_name = vectors_format_by_name(path);
  if (by_name == VectorsFormat::kAuto) {
    throw ConfigError("'" + path +
                      "': the file name does not tell whether the vectors are text or binary "
                      "(.bin: binary; .txt, .vec: text); give the format");
  }
  return by_name;
}

int64_t WordVectors::find(std::string_view word) const {
  auto it = index.find(std::string(word));
  return it == index.end() ? -1 : it->second;
}

WordVectors make_word_vectors(std::vector<std::string> words, torch::Tensor vectors) {
  if (!vectors.defined() || vectors.dim() != 2 || !vectors.is_floating_point()) {
    throw std::invalid_argument("make_word_vectors: vectors must be a 2-d floating tensor");
  }
  if (vectors.size(0) != static_cast<int64_t>(words.size()) || vectors.size(1) < 1) {
    throw std::invalid_argument(
        "make_word_vectors: vectors are " + std::to_string(vectors.size(0)) + "x" +
        std::to_string(vectors.size(1)) + " for " + std::to_string(words.size()) + " words");
  }
  WordVectors wv;
  wv.vectors = vectors.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  for (size_t i = 0; i < words.size(); ++i) {
    if (!wv.index.emplace(words[i], static_cast<int64_t>(i)).second) {
      throw std::invalid_argument("make_word_vectors: duplicate word '" + words[i] + "'");
    }
  }
  wv.words = std::move(words);
  return wv;
}

void write_word2vec(const WordVectors& wv, const std::string& path, bool binary) {
  if (wv.words.empty()) {
    throw RuntimeError("cannot write '" + path + "': the vocabulary is empty");
  }
  const auto n = static_cast<int64_t>(wv.words.size());
  if (!wv.vectors.defined() || wv.vectors.dim() != 2 || wv.vectors.size(0) != n ||
      wv.vectors.size(1) < 1) {
    throw std::invalid_argument(
        "write_word2vec: vectors must be (V, D) with V = " + std::to_string(n) + " and D >= 1");
  }
  const torch::Tensor vectors = wv.vectors.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t dim = vectors.size(1);
  const float* data = vectors.data_ptr<float>();
  std::unordered_map<std::string_view, int64_t> seen;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& word = wv.words[static_cast<size_t>(i)];
    const std::string what = "cannot write '" + path + "': word " + std::to_string(i + 1);
    if (word.empty()) throw RuntimeError(what + " is empty");
    const std::string named = what + " (" + quote(word) + ")";
    for (char c : word) {
      if (is_ascii_space(c)) {
        throw RuntimeError(named + " contains whitespace, which word2vec files cannot hold");
      }
    }
    if (!valid_utf8(word)) {
      throw RuntimeError(named + " is not valid UTF-8, which word2vec readers refuse");
    }
    if (auto [it, inserted] = seen.emplace(word, i); !inserted) {
      throw RuntimeError(named + " repeats word " + std::to_string(it->second + 1));
    }
    for (int64_t j = 0; j < dim; ++j) {
      if (!std::isfinite(data[i * dim + j])) {
        throw RuntimeError(named + ": value " + std::to_string(j + 1) + " is not finite");
      }
    }
  }

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  File file(std::fopen(tmp.c_str(), "wb"), std::fclose);
  if (!file) fail_write(path, errno);
  std::FILE* f = file.get();
  std::fprintf(f, "%lld %lld\n", static_cast<long long>(n), static_cast<long long>(dim));
  std::vector<char> row_bytes(static_cast<size_t>(4 * dim));
  char number[64];
  for (int64_t i = 0; i < n; ++i) {
    const std::string& word = wv.words[static_cast<size_t>(i)];
    std::fwrite(word.data(), 1, word.size(), f);
    const float* row = data + i * dim;
    if (binary) {
      std::fputc(' ', f);
      std::memcpy(row_bytes.data(), row, row_bytes.size());
      if (kBigEndian) swap_bytes(row_bytes.data(), dim);
      std::fwrite(row_bytes.data(), 1, row_bytes.size(), f);
    } else {
      for (int64_t j = 0; j < dim; ++j) {
        number[0] = ' ';
        auto [ptr, ec] = std::to_chars(number + 1, number + sizeof number, row[j]);
        (void)ec;  // 64 bytes always hold a float
        std::fwrite(number, 1, static_cast<size_t>(ptr - number), f);
      }
    }
    std::fputc('\n', f);
  }
  const bool write_failed = std::ferror(f) != 0;
  const int write_errno = errno;
  const int close_status = std::fclose(file.release());
  if (write_failed || close_status != 0) {
    const int error = write_failed ? write_errno : errno;
    std::remove(tmp.c_str());
    fail_write(path, error ? error : EIO);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(tmp.c_str());
    fail_write(path, error);
  }
}

WordVectors read_word2vec(const std::string& path, VectorsFormat format, int64_t limit) {
  if (limit < 0) {
    throw ConfigError("read_word2vec: limit must be >= 0 (0 = all words), got " +
                      std::to_string(limit));
  }
  const bool binary = resolve_vectors_format(path, format) == VectorsFormat::kBinary;
  Reader in(path);
  const auto [total, dim] = read_header(in, path);
  const int64_t count = limit > 0 && limit < total ? limit : total;
  // Every record takes at least 2*D + 1 bytes ("w 0 0\n"). Checked before a
  // large (V, D) tensor (over 64 MiB) is allocated, so a corrupt header cannot
  // ask for terabytes; smaller files fail on the record where they end.
  const int64_t left = in.size() - in.tell();
  // (A dimension beyond the file's size cannot be right, and would overflow
  // the arithmetic below: 2*D + 1, 4*D.)
  if (dim > (int64_t{1} << 20) && dim > left)
    throw DataError(path + ": the header's dimension " + std::to_string(dim) +
                    " is more than the file's " + std::to_string(in.size()) + " bytes can hold");
  if (count > (int64_t{1} << 24) / dim && count > (left + 1) / (2 * dim + 1)) {
    throw DataError(path + ": the header promises " + std::to_string(total) + " words of " +
                    std::to_string(dim) + " values, more than the file's " +
                    std::to_string(in.size()) + " bytes can hold");
  }
  WordVectors wv;
  wv.vectors = torch::empty({count, dim}, torch::kFloat32);
  // At most one word per 2*D + 1 bytes: a header cannot reserve more.
  const int64_t fits = std::min<int64_t>(count, (left + 1) / (2 * dim + 1) + 1);
  wv.words.reserve(static_cast<size_t>(fits));
  wv.index.reserve(static_cast<size_t>(fits));
  float* out = wv.vectors.data_ptr<float>();
  if (binary) {
    read_binary(in, path, count, total, dim, out, wv);
  } else {
    read_text(in, path, count, total, dim, out, wv);
  }
  return wv;
}

}  // namespace rnnlab::datasets
