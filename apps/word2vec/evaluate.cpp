// Word-vector evaluations: neighbours, analogies, word similarity (see evaluate.h).
#include "apps/word2vec/evaluate.h"

#include <torch/torch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "core/error.h"
#include "datasets/text_file.h"

namespace rnnlab::word2vec {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Splits at runs of spaces and tabs.
std::vector<std::string_view> split_blank(std::string_view line) {
  std::vector<std::string_view> fields;
  datasets::split_fields(line, fields);
  return fields;
}

// Splits at every `sep`, each field trimmed.
std::vector<std::string_view> split_at(std::string_view line, char sep) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t end = line.find(sep, start);
    fields.push_back(trim(line.substr(start, end - start)));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return fields;
}

bool parse_double(std::string_view s, double& out) {
  s = trim(s);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

// The first min(restrict, V) rows of `wv`, case-folded: each folded word's
// first row, and for every row the first row of its folded word.
struct FoldedVocab {
  int64_t rows = 0;
  std::unordered_map<std::string, int64_t> first;  // folded word -> first row
  std::vector<int64_t> first_of;                   // row -> first row of its folded word
  std::unordered_map<int64_t, std::vector<int64_t>> variants;  // first row -> its other rows

  FoldedVocab(const WordVectors& wv, int64_t restrict) {
    rows = restrict > 0 ? std::min(restrict, wv.size()) : wv.size();
    first_of.resize(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      auto [it, inserted] = first.emplace(fold_case(wv.words[static_cast<size_t>(r)]), r);
      first_of[static_cast<size_t>(r)] = it->second;
      if (!inserted) variants[it->second].push_back(r);
    }
  }
  int64_t find(std::string_view word) const {
    auto it = first.find(fold_case(std::string(word)));
    return it == first.end() ? -1 : it->second;
  }
};

// Rows divided by their L2 norm (zero rows stay zero).
torch::Tensor unit_rows(const torch::Tensor& vectors) {
  return vectors / vectors.norm(2, 1, /*keepdim=*/true).clamp_min(1e-30);
}

}  // namespace

std::string fold_case(std::string word) {
  for (char& c : word) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return word;
}

std::vector<std::pair<std::string, double>> neighbors(const WordVectors& wv,
                                                      const std::string& word, int64_t k) {
  if (k < 0) throw std::invalid_argument("neighbors: k must be >= 0, got " + std::to_string(k));
  const int64_t i = wv.find(word);
  if (i < 0) throw DataError("word '" + word + "' is not in the vocabulary");
  torch::NoGradGuard no_grad;
  const torch::Tensor unit = unit_rows(wv.vectors);
  torch::Tensor sims = unit.mv(unit[i]);
  sims[i] = -std::numeric_limits<float>::infinity();
  const int64_t n = std::min(k, wv.size() - 1);
  std::vector<std::pair<std::string, double>> out;
  if (n <= 0) return out;
  auto [values, rows] = sims.topk(n);
  for (int64_t j = 0; j < n; ++j) {
    out.emplace_back(wv.words[static_cast<size_t>(rows[j].item<int64_t>())],
                     values[j].item<double>());
  }
  return out;
}

AnalogyResult evaluate_analogies(const WordVectors& wv, const std::string& questions_path,
                                 int64_t restrict_vocab) {
  if (restrict_vocab < 0) {
    throw ConfigError("restrict_vocab must be >= 0 (0 = all words), got " +
                      std::to_string(restrict_vocab));
  }
  const FoldedVocab vocab(wv, restrict_vocab);
  AnalogyResult result;
  result.vocab_used = vocab.rows;

  // Parse: the covered questions as first rows, with their section.
  std::vector<int64_t> ids[4];
  std::vector<size_t> section_of;
  int64_t questions = 0;
  const std::vector<std::string> lines = datasets::read_lines(questions_path);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string_view line = trim(lines[n]);
    if (line.empty()) continue;
    if (line[0] == ':') {
      result.sections.push_back({std::string(trim(line.substr(1)))});
      continue;
    }
    const auto fields = split_blank(line);
    if (fields.size() != 4) {
      if (result.malformed++ == 0) result.first_malformed_line = static_cast<int64_t>(n) + 1;
      continue;
    }
    if (result.sections.empty()) result.sections.push_back({""});
    ++questions;
    int64_t q[4];
    bool covered = true;
    for (int j = 0; j < 4; ++j) covered = (q[j] = vocab.find(fields[j])) >= 0 && covered;
    if (!covered) {
      ++result.sections.back().skipped;
      continue;
    }
    for (int j = 0; j < 4; ++j) ids[j].push_back(q[j]);
    section_of.push_back(result.sections.size() - 1);
  }
  if (questions == 0) {
    throw DataError(questions_path + ": no analogy question (a line of 4 words 'a b c d')");
  }

  // Answer: 3CosAdd, a chunk of questions at a time.
  torch::NoGradGuard no_grad;
  const torch::Tensor unit = unit_rows(wv.vectors.narrow(0, 0, vocab.rows));
  const torch::Tensor unit_t = unit.t().contiguous();
  const auto covered = static_cast<int64_t>(section_of.size());
  constexpr int64_t kChunk = 512;
  const float minus_inf = -std::numeric_limits<float>::infinity();
  for (int64_t start = 0; start < covered; start += kChunk) {
    const int64_t n = std::min(kChunk, covered - start);
    torch::Tensor rows[3];
    for (int j = 0; j < 3; ++j) {
      rows[j] = torch::from_blob(ids[j].data() + start, {n}, torch::kInt64);
    }
    const torch::Tensor target = unit.index_select(0, rows[1]) - unit.index_select(0, rows[0]) +
                                 unit.index_select(0, rows[2]);
    torch::Tensor scores = target.mm(unit_t);  // (n, rows)
    // Exclude every row that folds to a, b or c.
    std::vector<int64_t> qi, ri;
    for (int64_t i = 0; i < n; ++i) {
      for (int j = 0; j < 3; ++j) {
        const int64_t r = ids[j][static_cast<size_t>(start + i)];
        qi.push_back(i);
        ri.push_back(r);
        auto it = vocab.variants.find(r);
        if (it == vocab.variants.end()) continue;
        for (int64_t v : it->second) {
          qi.push_back(i);
          ri.push_back(v);
        }
      }
    }
    const auto m = static_cast<int64_t>(qi.size());
    scores.index_put_({torch::from_blob(qi.data(), {m}, torch::kInt64),
                       torch::from_blob(ri.data(), {m}, torch::kInt64)},
                      torch::tensor(minus_inf));
    const torch::Tensor best = scores.argmax(1).contiguous();
    const int64_t* best_rows = best.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const auto q = static_cast<size_t>(start + i);
      AnalogySection& section = result.sections[section_of[q]];
      ++section.total;
      if (vocab.first_of[static_cast<size_t>(best_rows[i])] == ids[3][q]) ++section.correct;
    }
  }

  for (const AnalogySection& s : result.sections) {
    AnalogySection& kind = s.name.rfind("gram", 0) == 0 ? result.syntactic : result.semantic;
    for (AnalogySection* total : {&kind, &result.overall}) {
      total->correct += s.correct;
      total->total += s.total;
      total->skipped += s.skipped;
    }
  }
  return result;
}

SimilarityResult evaluate_similarity(const WordVectors& wv, const std::string& pairs_path,
                                     const SimilarityOptions& options) {
  if (options.score_column < 3) {
    throw ConfigError("score_column must be >= 3 (columns 1 and 2 are the words), got " +
                      std::to_string(options.score_column));
  }
  if (options.restrict_vocab < 0) {
    throw ConfigError("restrict_vocab must be >= 0 (0 = all words), got " +
                      std::to_string(options.restrict_vocab));
  }
  const FoldedVocab vocab(wv, options.restrict_vocab);
  const auto column = static_cast<size_t>(options.score_column - 1);
  SimilarityResult result;
  std::vector<double> human, model;
  std::vector<int64_t> left, right;
  char sep = 0;  // 0: runs of blanks
  bool first = true;
  const std::vector<std::string> lines = datasets::read_lines(pairs_path);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string_view line = trim(lines[n]);
    if (line.empty() || line[0] == '#') continue;
    if (first) {
      sep = line.find('\t') != std::string_view::npos  ? '\t'
            : line.find(',') != std::string_view::npos ? ','
                                                       : 0;
    }
    const auto fields = sep ? split_at(line, sep) : split_blank(line);
    double score = 0;
    const bool ok = fields.size() > column && !fields[0].empty() && !fields[1].empty() &&
                    parse_double(fields[column], score);
    if (first) {
      first = false;
      if (!ok && fields.size() > column) {
        result.header = true;
        continue;
      }
    }
    if (!ok) {
      if (result.malformed++ == 0) result.first_malformed_line = static_cast<int64_t>(n) + 1;
      continue;
    }
    const int64_t a = vocab.find(fields[0]), b = vocab.find(fields[1]);
    if (a < 0 || b < 0) {
      ++result.oov;
      continue;
    }
    human.push_back(score);
    left.push_back(a);
    right.push_back(b);
  }
  if (human.empty() && result.oov == 0) {
    throw DataError(pairs_path + ": no word pair with a numeric score in column " +
                    std::to_string(options.score_column));
  }
  result.pairs = static_cast<int64_t>(human.size());
  if (result.pairs > 0) {
    torch::NoGradGuard no_grad;
    const torch::Tensor unit = unit_rows(wv.vectors.narrow(0, 0, vocab.rows).to(torch::kFloat64));
    const auto index = [](std::vector<int64_t>& v) {
      return torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kInt64);
    };
    const torch::Tensor cos =
        (unit.index_select(0, index(left)) * unit.index_select(0, index(right))).sum(1);
    const double* c = cos.contiguous().data_ptr<double>();
    model.assign(c, c + result.pairs);
  }
  result.spearman = spearman(human, model);
  result.pearson = pearson(human, model);
  return result;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("pearson: sizes differ");
  const size_t n = x.size();
  if (n < 2) return kNaN;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

namespace {

// 1-based ranks, ties given the average of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = rank;
    i = j + 1;
  }
  return ranks;
}

}  // namespace

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("spearman: sizes differ");
  return pearson(average_ranks(x), average_ranks(y));
}

}  // namespace rnnlab::word2vec
