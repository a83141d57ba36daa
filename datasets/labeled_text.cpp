// Labelled texts: readers, Kim's cleaning and the protocol splits (see labeled_text.h).
#include "datasets/labeled_text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>

#include "core/error.h"
#include "datasets/seed.h"
#include "datasets/utf8.h"

namespace rnnlab::datasets {

namespace {

// Lines of a file without their line ends (LF or CRLF).
std::vector<std::string> file_lines(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw DataError("'" + path + "' is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "'");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw DataError("cannot read '" + path + "'");
  // A UTF-8 byte-order mark (spreadsheet exports) is not part of the text.
  if (!lines.empty() && lines[0].rfind("\xEF\xBB\xBF", 0) == 0) lines[0].erase(0, 3);
  for (size_t i = 0; i < lines.size(); ++i) check_utf8(lines[i], path, i + 1);
  return lines;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

std::string where(const std::string& path, size_t line) {
  return path + ":" + std::to_string(line + 1);
}

// Splits one line into fields; with quoting, a field that starts with '"'
// runs to the matching '"' ("" inside is one quote).
std::vector<std::string> fields_of(const std::string& line, char delimiter, bool quoting,
                                   const std::string& at) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    std::string field;
    if (quoting && i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field += line[i++];
      }
      if (!closed) throw DataError(at + ": a quoted field is not closed on its line");
      if (i < line.size() && line[i] != delimiter)
        throw DataError(at + ": text after the closing quote of a field");
    } else {
      size_t end = line.find(delimiter, i);
      field = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? line.size() : end;
    }
    out.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the delimiter
    if (i == line.size()) {
      out.emplace_back();  // a trailing delimiter ends with an empty field
      break;
    }
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

bool all_digits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Seeded Fisher-Yates permutation of `v`, identical on every platform.
void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    size_t j = static_cast<size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}

// The indices of each class, in order.
std::vector<std::vector<int64_t>> by_class(const std::vector<int64_t>& labels) {
  int64_t classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(classes));
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0) throw std::invalid_argument("split: negative label");
    out[static_cast<size_t>(labels[i])].push_back(static_cast<int64_t>(i));
  }
  return out;
}

void check_fraction(double f, const char* name) {
  if (!(f >= 0 && f < 1))
    throw std::invalid_argument(std::string("split: ") + name + " must be in [0, 1)");
}

}  // namespace

std::vector<int64_t> LabeledTexts::class_counts() const {
  std::vector<int64_t> n(label_names.size(), 0);
  for (int64_t l : labels) ++n[static_cast<size_t>(l)];
  return n;
}

LabeledTexts LabeledTexts::subset(const std::vector<int64_t>& indices) const {
  LabeledTexts out;
  out.label_names = label_names;
  for (int64_t i : indices) {
    out.texts.push_back(texts.at(static_cast<size_t>(i)));
    out.labels.push_back(labels.at(static_cast<size_t>(i)));
  }
  return out;
}

LabeledTexts read_class_files(const std::vector<std::pair<std::string, std::string>>& files) {
  std::map<std::string, std::vector<std::string>> by_label;
  for (const auto& [label, path] : files) {
    std::vector<std::string> lines = file_lines(path);
    if (lines.empty()) throw DataError("'" + path + "' has no line");
    for (size_t i = 0; i < lines.size(); ++i)
      if (blank(lines[i])) throw DataError(where(path, i) + ": empty line");
    auto& dst = by_label[label];
    dst.insert(dst.end(), lines.begin(), lines.end());
  }
  if (by_label.size() < 2)
    throw DataError("classification needs files of two or more classes; got " +
                    std::to_string(by_label.size()));
  LabeledTexts out;
  for (auto& [label, lines] : by_label) {
    int64_t id = static_cast<int64_t>(out.label_names.size());
    out.label_names.push_back(label);
    for (auto& l : lines) {
      out.texts.push_back(std::move(l));
      out.labels.push_back(id);
    }
  }
  return out;
}

LabeledTexts read_labeled_table(const std::string& path, const TableOptions& o,
                                const std::vector<std::string>* known_labels) {
  std::vector<std::string> lines = file_lines(path);
  const std::string sep = o.delimiter == '\t' ? "tab" : std::string("'") + o.delimiter + "'";
  size_t first = 0;
  std::vector<std::string> header;
  if (o.header) {
    if (lines.empty()) throw DataError("'" + path + "' is empty (expected a header line)");
    header = fields_of(lines[0], o.delimiter, o.quoting, where(path, 0));
    for (auto& h : header) h = trim(h);
    first = 1;
  }
  auto column = [&](const std::string& name, const char* what) -> size_t {
    if (all_digits(name)) {
      if (name.size() > 9)
        throw DataError(std::string(what) + " column " + name + ": no table has that many columns");
      size_t c = std::stoul(name);
      if (c < 1) throw DataError(std::string(what) + " column 0: columns count from 1");
      return c - 1;
    }
    if (!o.header)
      throw DataError("'" + path + "': the " + what + " column '" + name +
                      "' is a name, but the file has no header; give a column number");
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      std::string names;
      for (const auto& h : header) names += (names.empty() ? "" : ", ") + h;
      throw DataError(where(path, 0) + ": no " + what + " column '" + name + "' in the header (" +
                      names + ")");
    }
    return static_cast<size_t>(it - header.begin());
  };
  const size_t text_col = column(o.text_column, "text"),
               label_col = column(o.label_column, "label");
  const size_t need = std::max(text_col, label_col) + 1;
  // Every row has the header's columns (without one, the first row's): a row
  // with more is a misread, most often a quoted field read without quoting.
  size_t width = o.header ? header.size() : 0;

  std::vector<std::string> texts, labels;
  std::vector<size_t> line_of;
  for (size_t i = first; i < lines.size(); ++i) {
    const std::string at = where(path, i);
    if (blank(lines[i])) throw DataError(at + ": empty line");
    std::vector<std::string> f = fields_of(lines[i], o.delimiter, o.quoting, at);
    if (f.size() < need)
      throw DataError(at + ": expected at least " + std::to_string(need) + " columns (" + sep +
                      "-separated), got " + std::to_string(f.size()));
    if (width == 0) width = f.size();
    if (f.size() > width)
      throw DataError(at + ": " + std::to_string(f.size()) + " columns, more than the " +
                      std::to_string(width) + " of " + (o.header ? "the header" : "the first row") +
                      (o.quoting ? "" : " (a quoted field read with quoting off?)"));
    std::string text = trim(f[text_col]), label = trim(f[label_col]);
    if (text.empty()) throw DataError(at + ": empty text");
    if (label.empty()) throw DataError(at + ": empty label");
    texts.push_back(std::move(text));
    labels.push_back(std::move(label));
    line_of.push_back(i);
  }
  if (texts.empty()) throw DataError("'" + path + "' has no example");

  LabeledTexts out;
  if (known_labels) {
    out.label_names = *known_labels;
  } else {
    out.label_names = labels;
    std::sort(out.label_names.begin(), out.label_names.end());
    out.label_names.erase(std::unique(out.label_names.begin(), out.label_names.end()),
                          out.label_names.end());
    if (out.label_names.size() < 2)
      throw DataError("'" + path + "': every example has label '" + out.label_names[0] +
                      "'; classification needs two or more classes");
  }
  std::map<std::string, int64_t> id;
  for (size_t k = 0; k < out.label_names.size(); ++k)
    id[out.label_names[k]] = static_cast<int64_t>(k);
  for (size_t k = 0; k < texts.size(); ++k) {
    auto it = id.find(labels[k]);
    if (it == id.end()) {
      std::string names;
      for (const auto& n : out.label_names) names += (names.empty() ? "" : ", ") + n;
      throw DataError(where(path, line_of[k]) + ": label '" + labels[k] +
                      "' is not one of the training labels (" + names + ")");
    }
    out.texts.push_back(std::move(texts[k]));
    out.labels.push_back(it->second);
  }
  return out;
}

std::string kim_clean(const std::string& text) {
  // 1. characters outside [A-Za-z0-9(),!?'`] become spaces
  std::string s;
  s.reserve(text.size() + 16);
  for (unsigned char c : text)
    s += (std::isalnum(c) && c < 128) ||
                 std::string("(),!?'`").find(static_cast<char>(c)) != std::string::npos
             ? static_cast<char>(c)
             : ' ';
  // 2. clitics split off ('s 've n't 're 'd 'll), punctuation as tokens
  std::string t;
  t.reserve(s.size() * 2);
  for (size_t i = 0; i < s.size(); ++i) {
    auto starts = [&](const char* p) {
      return s.compare(i, std::char_traits<char>::length(p), p) == 0;
    };
    if (starts("n't")) {
      t += " n't";
      i += 2;
    } else if (starts("'s") || starts("'d")) {
      t += ' ';
      t += s.substr(i, 2);
      i += 1;
    } else if (starts("'ve") || starts("'re") || starts("'ll")) {
      t += ' ';
      t += s.substr(i, 3);
      i += 2;
    } else if (std::string(",!()?").find(s[i]) != std::string::npos) {
      t += ' ';
      t += s[i];
      t += ' ';
    } else {
      t += s[i];
    }
  }
  // 3. one space between tokens, trimmed, lower case
  std::string out;
  out.reserve(t.size());
  for (char c : t) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

Split cross_validation_split(const std::vector<int64_t>& labels, int64_t k, int64_t fold,
                             double dev_fraction, uint64_t seed) {
  if (k < 2) throw std::invalid_argument("cross-validation needs k >= 2");
  if (fold < 0 || fold >= k) throw std::invalid_argument("cross-validation fold out of range");
  check_fraction(dev_fraction, "dev_fraction");
  std::mt19937_64 rng(seed);
  Split split;
  std::vector<std::vector<int64_t>> rest_by_class;
  for (auto& idx : by_class(labels)) {
    if (static_cast<int64_t>(idx.size()) < k)
      throw std::invalid_argument("cross-validation: a class has fewer examples than folds");
    shuffle(idx, rng);
    std::vector<int64_t> rest;
    for (size_t p = 0; p < idx.size(); ++p)
      (static_cast<int64_t>(p % static_cast<size_t>(k)) == fold ? split.test : rest)
          .push_back(idx[p]);
    rest_by_class.push_back(std::move(rest));
  }
  // The dev part: a seeded share of each class's training examples, drawn
  // with the fold in the seed so that each fold has its own.
  std::mt19937_64 dev_rng(derive_seed(seed, "dev-split", {static_cast<uint64_t>(fold)}));
  for (auto& rest : rest_by_class) {
    shuffle(rest, dev_rng);
    size_t n_dev =
        static_cast<size_t>(std::llround(dev_fraction * static_cast<double>(rest.size())));
    split.dev.insert(split.dev.end(), rest.begin(), rest.begin() + static_cast<int64_t>(n_dev));
    split.train.insert(split.train.end(), rest.begin() + static_cast<int64_t>(n_dev), rest.end());
  }
  for (auto* part : {&split.train, &split.dev, &split.test}) std::sort(part->begin(), part->end());
  return split;
}

Split random_split(const std::vector<int64_t>& labels, double dev_fraction, double test_fraction,
                   uint64_t seed) {
  check_fraction(dev_fraction, "dev_fraction");
  check_fraction(test_fraction, "test_fraction");
  if (dev_fraction + test_fraction >= 1)
    throw std::invalid_argument("split: dev_fraction + test_fraction must be below 1");
  std::mt19937_64 rng(seed);
  Split split;
  for (auto& idx : by_class(labels)) {
    shuffle(idx, rng);
    double n = static_cast<double>(idx.size());
    size_t n_test = static_cast<size_t>(std::llround(test_fraction * n));
    size_t n_dev = static_cast<size_t>(std::llround(dev_fraction * n));
    for (size_t p = 0; p < idx.size(); ++p)
      (p < n_test ? split.test : p < n_test + n_dev ? split.dev : split.train).push_back(idx[p]);
  }
  for (auto* part : {&split.train, &split.dev, &split.test}) std::sort(part->begin(), part->end());
  return split;
}

}  // namespace rnnlab::datasets
