// BLEU and chrF as sacreBLEU 2.x computes them (see bleu.h). The code follows
// sacrebleu/metrics/bleu.py, chrf.py, helpers.py, base.py and
// tokenizers/tokenizer_13a.py, tokenizer_re.py step by step, including the
// order of floating-point operations, so scores agree to the last bit.
#include "apps/translate/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace rnnlab::translate {

namespace {

// ---------------------------------------------------------------------------
// UTF-8 and Python's notion of whitespace

/// The code point starting at s[i] and its length in bytes (*len). A byte that
/// does not start a well-formed sequence counts as one character of its own
/// (0xDC00 + byte, Python's surrogateescape value: never whitespace).
char32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  *len = 1;
  if (b0 < 0x80) return b0;
  size_t need = 0;
  char32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
  } else {
    return 0xDC00 + b0;
  }
  if (i + need >= s.size()) return 0xDC00 + b0;
  for (size_t k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0xDC00 + b0;
    cp = (cp << 6) | (b & 0x3F);
  }
  *len = need + 1;
  return cp;
}

/// Python's str.isspace() for one code point (what str.split() and
/// str.rstrip() without arguments strip).
bool is_py_space(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// Python's s.split(): the maximal runs of non-whitespace characters.
std::vector<std::string_view> py_split(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t start = std::string_view::npos;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const bool space = is_py_space(decode_utf8(s, i, &len));
    if (space && start != std::string_view::npos) {
      fields.push_back(s.substr(start, i - start));
      start = std::string_view::npos;
    } else if (!space && start == std::string_view::npos) {
      start = i;
    }
    i += len;
  }
  if (start != std::string_view::npos) fields.push_back(s.substr(start));
  return fields;
}

/// Python's s.rstrip().
std::string_view py_rstrip(std::string_view s) {
  size_t end = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 0;
    const bool space = is_py_space(decode_utf8(s, i, &len));
    i += len;
    if (!space) end = i;
  }
  return s.substr(0, end);
}

/// The byte offsets where the code points of s start, followed by s.size().
std::vector<size_t> code_point_starts(std::string_view s) {
  std::vector<size_t> starts;
  starts.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    starts.push_back(i);
    size_t len = 0;
    decode_utf8(s, i, &len);
    i += len;
  }
  starts.push_back(s.size());
  return starts;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

/// Python's s.replace(from, to): every non-overlapping occurrence, left to right.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  if (pos == 0) return;
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// ---------------------------------------------------------------------------
// The 13a regexes. Each is a one- or two-character pattern of ASCII classes
// (or their complement), so re.sub's leftmost non-overlapping matching is a
// plain scan: a match at i consumes i and i+1, otherwise s[i] is copied. The
// scan runs over bytes: a UTF-8 sequence's bytes are all >= 0x80, so each
// matches exactly the classes its code point matches ([^0-9] and nothing
// else), and a match never splits the sequence differently from Python's.

/// [\{-\~\[-\` -\&\(-\+\:-\@\/]: { | } ~ [ \ ] ^ _ ` space ! " # $ % &
/// ( ) * + : ; < = > ? @ /  (not ' , - . digits letters).
bool is_13a_punct(unsigned char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}
bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool is_period_comma(unsigned char c) {
  return c == '.' || c == ',';
}

/// One pass of re.sub(r'(A)(B)', repl, s) with single-character classes A and
/// B; repl writes the two matched characters.
template <typename First, typename Second, typename Replace>
std::string sub_pairs(const std::string& s, First first, Second second, Replace replace) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (size_t i = 0; i < s.size();) {
    const auto a = static_cast<unsigned char>(s[i]);
    if (i + 1 < s.size() && first(a) && second(static_cast<unsigned char>(s[i + 1]))) {
      replace(out, s[i], s[i + 1]);
      i += 2;
    } else {
      out.push_back(s[i]);
      i += 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// BLEU statistics

using Counts = std::unordered_map<std::string_view, int64_t>;

/// A tokenised line: its tokens joined by single spaces (text) and the token
/// spans in it, so an n-gram is the substring from its first token's start to
/// its last token's end; two n-grams are equal exactly when their token tuples
/// are (tokens hold no spaces). Not movable once counted: the counts' keys
/// point into text.
struct WordNgrams {
  std::string text;
  std::vector<std::pair<size_t, size_t>> spans;  // [begin, end) in text
  std::vector<Counts> counts;                    // counts[n - 1]: n-grams

  /// sacreBLEU's extract_all_word_ngrams(line, 1, max_order): line.split().
  WordNgrams(std::string_view line, int max_order) {
    const auto tokens = py_split(line);
    for (const auto& t : tokens) {
      if (!text.empty()) text.push_back(' ');
      spans.emplace_back(text.size(), text.size() + t.size());
      text.append(t);
    }
    counts.resize(static_cast<size_t>(max_order));
    const std::string_view view(text);
    for (size_t n = 1; n <= counts.size(); ++n)
      for (size_t i = 0; i + n <= spans.size(); ++i) {
        const size_t b = spans[i].first, e = spans[i + n - 1].second;
        ++counts[n - 1][view.substr(b, e - b)];
      }
  }
  WordNgrams(const WordNgrams&) = delete;
  WordNgrams& operator=(const WordNgrams&) = delete;

  int64_t length() const { return static_cast<int64_t>(spans.size()); }
};

/// BLEU._get_closest_ref_len: the reference length nearest to hyp_len, the
/// shorter one on ties.
int64_t closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t closest_diff = -1, closest_len = -1;
  for (int64_t ref_len : ref_lens) {
    const int64_t diff = hyp_len > ref_len ? hyp_len - ref_len : ref_len - hyp_len;
    if (closest_diff == -1 || diff < closest_diff) {
      closest_diff = diff;
      closest_len = ref_len;
    } else if (diff == closest_diff && ref_len < closest_len) {
      closest_len = ref_len;
    }
  }
  return closest_len;
}

/// Checks that there are hypotheses and reference streams and that every
/// stream has one line per hypothesis.
void check_corpus(const char* who, const std::vector<std::string>& hyps,
                  const std::vector<std::vector<std::string>>& refs) {
  if (hyps.empty()) throw std::invalid_argument(std::string(who) + ": no hypothesis lines");
  if (refs.empty()) throw std::invalid_argument(std::string(who) + ": no reference streams");
  for (size_t k = 0; k < refs.size(); ++k)
    if (refs[k].size() != hyps.size())
      throw std::invalid_argument(std::string(who) + ": " + std::to_string(hyps.size()) +
                                  " hypothesis lines but reference stream " + std::to_string(k) +
                                  " has " + std::to_string(refs[k].size()) + " lines");
}

/// Base Metric._cache_references: line i's references that are not "" (a
/// line may have fewer references); all "" is an error.
std::vector<std::string_view> line_refs(const char* who,
                                        const std::vector<std::vector<std::string>>& refs,
                                        size_t i) {
  std::vector<std::string_view> lines;
  for (const auto& stream : refs)
    if (!stream[i].empty()) lines.push_back(stream[i]);
  if (lines.empty())
    throw std::invalid_argument(std::string(who) + ": every reference of line " +
                                std::to_string(i + 1) + " is empty");
  return lines;
}

/// The smoothing value BLEU.compute_bleu uses (floor: 0.1, add-k: 1 unless
/// given; 0 for exp and none); throws for an unknown method or an order < 1.
double checked_smooth_value(const char* who, const BleuOptions& o) {
  if (o.max_ngram_order < 1)
    throw std::invalid_argument(std::string(who) + ": max_ngram_order must be >= 1");
  if (o.smooth_method == "floor") return o.smooth_value.value_or(0.1);
  if (o.smooth_method == "add-k") return o.smooth_value.value_or(1.0);
  if (o.smooth_method == "exp" || o.smooth_method == "none") return 0.0;
  throw std::invalid_argument(std::string(who) + ": unknown smooth_method '" + o.smooth_method +
                              "' (exp, none, floor, add-k)");
}

std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

// ---------------------------------------------------------------------------
// chrF statistics

/// The n-gram counters of one line for chrF: character orders 1..char_order
/// over `chars`, then word orders 1..word_order over `words` (tokens joined by
/// single spaces, as sacreBLEU's extract_word_ngrams joins them). Not movable
/// once counted: the keys point into chars and words.
struct ChrfNgrams {
  std::string chars;
  std::string words;
  std::vector<Counts> counts;

  ChrfNgrams(std::string_view line, const ChrfOptions& o) {
    // extract_all_char_ngrams: ''.join(line.split()) unless whitespace.
    if (o.whitespace) {
      chars = std::string(line);
    } else {
      for (const auto& f : py_split(line)) chars.append(f);
    }
    const auto starts = code_point_starts(chars);
    const size_t num_chars = starts.size() - 1;
    counts.resize(static_cast<size_t>(o.char_order + o.word_order));
    const std::string_view cview(chars);
    for (size_t n = 1; n <= static_cast<size_t>(o.char_order); ++n)
      for (size_t i = 0; i + n <= num_chars; ++i)
        ++counts[n - 1][cview.substr(starts[i], starts[i + n] - starts[i])];
    if (o.word_order <= 0) return;

    // CHRF._remove_punctuation: a word of two or more characters loses a
    // final ASCII punctuation character as a token of its own, or else an
    // initial one. Punctuation is one byte, so bytes suffice: a one-character
    // word of several bytes starts and ends with non-ASCII bytes.
    auto is_punct = [](char c) {
      return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
             (c >= '{' && c <= '~');
    };
    std::vector<std::string_view> tokens;
    for (const auto& w : py_split(line)) {
      if (w.size() == 1) {
        tokens.push_back(w);
      } else if (is_punct(w.back())) {
        tokens.push_back(w.substr(0, w.size() - 1));
        tokens.push_back(w.substr(w.size() - 1));
      } else if (is_punct(w.front())) {
        tokens.push_back(w.substr(0, 1));
        tokens.push_back(w.substr(1));
      } else {
        tokens.push_back(w);
      }
    }
    std::vector<std::pair<size_t, size_t>> spans;
    for (const auto& t : tokens) {
      if (!words.empty()) words.push_back(' ');
      spans.emplace_back(words.size(), words.size() + t.size());
      words.append(t);
    }
    const std::string_view wview(words);
    for (size_t n = 1; n <= static_cast<size_t>(o.word_order); ++n)
      for (size_t i = 0; i + n <= spans.size(); ++i) {
        const size_t b = spans[i].first, e = spans[i + n - 1].second;
        ++counts[static_cast<size_t>(o.char_order) + n - 1][wview.substr(b, e - b)];
      }
  }
  ChrfNgrams(const ChrfNgrams&) = delete;
  ChrfNgrams& operator=(const ChrfNgrams&) = delete;
};

void check_chrf_options(const ChrfOptions& o) {
  if (o.char_order < 0 || o.word_order < 0 || o.char_order + o.word_order < 1)
    throw std::invalid_argument("corpus_chrf: char_order and word_order must be >= 0, not both 0");
}

}  // namespace

// ---------------------------------------------------------------------------

std::string tokenize_13a(std::string_view line) {
  std::string s(line);
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }

  // " {line} ", then r' \1 ' for every punctuation character.
  std::string padded;
  padded.reserve(s.size() * 2 + 2);
  padded.push_back(' ');
  for (char c : s) {
    if (is_13a_punct(static_cast<unsigned char>(c))) {
      padded.push_back(' ');
      padded.push_back(c);
      padded.push_back(' ');
    } else {
      padded.push_back(c);
    }
  }
  padded.push_back(' ');

  auto not_digit = [](unsigned char c) { return !is_digit(c); };
  // ([^0-9])([\.,]) -> r'\1 \2 '
  s = sub_pairs(padded, not_digit, is_period_comma, [](std::string& out, char a, char b) {
    out.push_back(a);
    out.push_back(' ');
    out.push_back(b);
    out.push_back(' ');
  });
  // ([\.,])([^0-9]) -> r' \1 \2'
  s = sub_pairs(s, is_period_comma, not_digit, [](std::string& out, char a, char b) {
    out.push_back(' ');
    out.push_back(a);
    out.push_back(' ');
    out.push_back(b);
  });
  // ([0-9])(-) -> r'\1 \2 '
  s = sub_pairs(
      s, is_digit, [](unsigned char c) { return c == '-'; },
      [](std::string& out, char a, char b) {
        out.push_back(a);
        out.push_back(' ');
        out.push_back(b);
        out.push_back(' ');
      });

  // ' '.join(line.strip().split())
  std::string out;
  out.reserve(s.size());
  for (const auto& token : py_split(s)) {
    if (!out.empty()) out.push_back(' ');
    out.append(token);
  }
  return out;
}

std::string BleuResult::format() const {
  std::string prec;
  for (size_t n = 0; n < precisions.size(); ++n) {
    if (n > 0) prec.push_back('/');
    prec += fixed(precisions[n], 1);
  }
  return "BLEU = " + fixed(score, 2) + " " + prec + " (BP = " + fixed(bp, 3) +
         " ratio = " + fixed(ratio, 3) + " hyp_len = " + std::to_string(sys_len) +
         " ref_len = " + std::to_string(ref_len) + ")";
}

BleuResult compute_bleu(const std::vector<int64_t>& correct, const std::vector<int64_t>& total,
                        int64_t sys_len, int64_t ref_len, const BleuOptions& options) {
  const std::string& method = options.smooth_method;
  const double smooth_value = checked_smooth_value("compute_bleu", options);
  const auto orders = static_cast<size_t>(options.max_ngram_order);
  if (correct.size() != orders || total.size() != orders)
    throw std::invalid_argument("compute_bleu: correct and total need max_ngram_order entries");

  BleuResult r;
  r.counts = correct;
  r.totals = total;
  r.sys_len = sys_len;
  r.ref_len = ref_len;
  r.ratio = ref_len != 0 ? static_cast<double>(sys_len) / static_cast<double>(ref_len) : 0.0;

  // Brevity penalty.
  if (sys_len < ref_len) {
    r.bp = sys_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(sys_len))
                       : 0.0;
  } else {
    r.bp = 1.0;
  }

  r.precisions.assign(orders, 0.0);
  // Early stop if there are no matches (sacreBLEU #141).
  if (std::all_of(correct.begin(), correct.end(), [](int64_t c) { return c == 0; })) {
    r.score = 0.0;
    return r;
  }

  std::vector<double> c(correct.begin(), correct.end()), t(total.begin(), total.end());
  double smooth_mteval = 1.0;
  size_t eff_order = orders;
  for (size_t n = 1; n <= orders; ++n) {
    if (method == "add-k" && n > 1) {
      c[n - 1] += smooth_value;
      t[n - 1] += smooth_value;
    }
    if (t[n - 1] == 0.0) break;
    if (options.effective_order) eff_order = n;
    if (c[n - 1] == 0.0) {
      if (method == "exp") {
        smooth_mteval *= 2.0;
        r.precisions[n - 1] = 100.0 / (smooth_mteval * t[n - 1]);
      } else if (method == "floor") {
        r.precisions[n - 1] = 100.0 * smooth_value / t[n - 1];
      }
    } else {
      r.precisions[n - 1] = 100.0 * c[n - 1] / t[n - 1];
    }
  }

  // utils.my_log: log floored at -9999999999 for 0.
  double sum = 0.0;
  for (size_t n = 0; n < eff_order; ++n)
    sum += r.precisions[n] == 0.0 ? -9999999999.0 : std::log(r.precisions[n]);
  r.score = r.bp * std::exp(sum / static_cast<double>(eff_order));
  return r;
}

BleuResult corpus_bleu(const std::vector<std::string>& hyps,
                       const std::vector<std::vector<std::string>>& refs,
                       const BleuOptions& options) {
  const char* who = "corpus_bleu";
  check_corpus(who, hyps, refs);
  if (options.tokenize != "13a" && options.tokenize != "none")
    throw std::invalid_argument("corpus_bleu: unknown tokenize '" + options.tokenize +
                                "' (13a, none)");
  checked_smooth_value(who, options);

  // BLEU._preprocess_segment: lowercase, rstrip, tokenise.
  auto preprocess = [&](std::string_view line) {
    std::string lowered;
    if (options.lowercase) {
      lowered = ascii_lower(line);
      line = lowered;
    }
    line = py_rstrip(line);
    return options.tokenize == "13a" ? tokenize_13a(line) : std::string(line);
  };

  const size_t orders = static_cast<size_t>(options.max_ngram_order);
  std::vector<int64_t> correct(orders, 0), total(orders, 0);
  int64_t sys_len = 0, ref_len = 0;
  for (size_t i = 0; i < hyps.size(); ++i) {
    // BLEU._extract_reference_info: n-gram counts maxed over the references.
    std::vector<std::unique_ptr<WordNgrams>> ref_ngrams;
    std::vector<int64_t> ref_lens;
    std::vector<Counts> merged(orders);
    for (const auto& ref : line_refs(who, refs, i)) {
      ref_ngrams.push_back(std::make_unique<WordNgrams>(preprocess(ref), options.max_ngram_order));
      ref_lens.push_back(ref_ngrams.back()->length());
      for (size_t n = 0; n < orders; ++n)
        for (const auto& [ngram, count] : ref_ngrams.back()->counts[n]) {
          int64_t& m = merged[n][ngram];
          m = std::max(m, count);
        }
    }

    // BLEU._compute_segment_statistics.
    const WordNgrams hyp(preprocess(hyps[i]), options.max_ngram_order);
    sys_len += hyp.length();
    ref_len += closest_ref_len(hyp.length(), ref_lens);
    for (size_t n = 0; n < orders; ++n)
      for (const auto& [ngram, count] : hyp.counts[n]) {
        total[n] += count;
        const auto it = merged[n].find(ngram);
        if (it != merged[n].end()) correct[n] += std::min(count, it->second);
      }
  }
  return compute_bleu(correct, total, sys_len, ref_len, options);
}

std::string ChrfResult::format() const {
  return "chrF" + std::to_string(beta) + std::string(static_cast<size_t>(word_order), '+') + " = " +
         fixed(score, 2);
}

double chrf_f_score(const std::vector<int64_t>& stats, int beta, bool eps_smoothing) {
  const size_t orders = stats.size() / 3;
  const double eps = 1e-16;
  const double factor = static_cast<double>(beta) * static_cast<double>(beta);
  double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
  int effective_order = 0;
  for (size_t i = 0; i < orders; ++i) {
    const int64_t n_hyp = stats[3 * i], n_ref = stats[3 * i + 1], n_match = stats[3 * i + 2];
    // chrF++.py style eps smoothing (also used by Moses and NLTK).
    const double prec = n_hyp > 0 ? static_cast<double>(n_match) / static_cast<double>(n_hyp) : eps;
    const double rec = n_ref > 0 ? static_cast<double>(n_match) / static_cast<double>(n_ref) : eps;
    const double denom = factor * prec + rec;
    score += denom > 0 ? (1.0 + factor) * prec * rec / denom : eps;
    // sacreBLEU < 2.0.0 style effective order smoothing (the default).
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (eps_smoothing) return 100.0 * score / static_cast<double>(orders);

  if (effective_order == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec != 0.0) {
    score = (1.0 + factor) * avg_prec * avg_rec;
    score /= (factor * avg_prec) + avg_rec;
    return 100.0 * score;
  }
  return 0.0;
}

ChrfResult corpus_chrf(const std::vector<std::string>& hyps,
                       const std::vector<std::vector<std::string>>& refs,
                       const ChrfOptions& options) {
  const char* who = "corpus_chrf";
  check_corpus(who, hyps, refs);
  check_chrf_options(options);

  // CHRF._preprocess_segment: lowercasing only.
  auto preprocess = [&](std::string_view line) {
    return options.lowercase ? ascii_lower(line) : std::string(line);
  };

  const size_t orders = static_cast<size_t>(options.char_order + options.word_order);
  std::vector<int64_t> corpus(3 * orders, 0);
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::vector<std::unique_ptr<ChrfNgrams>> ref_ngrams;
    for (const auto& ref : line_refs(who, refs, i))
      ref_ngrams.push_back(std::make_unique<ChrfNgrams>(preprocess(ref), options));
    const ChrfNgrams hyp(preprocess(hyps[i]), options);

    // CHRF._compute_segment_statistics: the reference with the best F-score.
    std::vector<int64_t> best;
    double best_f = -1.0;
    for (const auto& ref : ref_ngrams) {
      std::vector<int64_t> stats;
      stats.reserve(3 * orders);
      for (size_t n = 0; n < orders; ++n) {
        // CHRF._get_match_statistics.
        const Counts& h = hyp.counts[n];
        const Counts& r = ref->counts[n];
        int64_t match = 0, hyp_count = 0, ref_count = 0;
        for (const auto& [ngram, count] : h) {
          hyp_count += count;
          const auto it = r.find(ngram);
          if (it != r.end()) match += std::min(count, it->second);
        }
        for (const auto& kv : r) ref_count += kv.second;
        // Don't count hits if no reference exists for that n-gram order.
        stats.push_back(r.empty() ? 0 : hyp_count);
        stats.push_back(ref_count);
        stats.push_back(match);
      }
      const double f = chrf_f_score(stats, options.beta, options.eps_smoothing);
      if (f > best_f) {
        best_f = f;
        best = std::move(stats);
      }
    }
    for (size_t k = 0; k < best.size(); ++k) corpus[k] += best[k];
  }

  ChrfResult r;
  r.char_order = options.char_order;
  r.word_order = options.word_order;
  r.beta = options.beta;
  r.score = chrf_f_score(corpus, options.beta, options.eps_smoothing);
  for (size_t n = 0; n < orders; ++n) {
    r.hyp_ngrams.push_back(corpus[3 * n]);
    r.ref_ngrams.push_back(corpus[3 * n + 1]);
    r.matches.push_back(corpus[3 * n + 2]);
  }
  return r;
}

}  // namespace rnnlab::translate
