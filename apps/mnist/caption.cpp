// Digit-strip captioning (see caption.h).
#include "apps/mnist/caption.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <sstream>

#include "apps/framework/run_dir.h"
#include "apps/framework/signals.h"
#include "datasets/batching.h"
#include "datasets/seed.h"
#include "datasets/text_file.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace rnnlab::mnist {

namespace {

constexpr int64_t kBos = 2, kEos = 3;

// Word edit distance (Levenshtein) between two token sequences.
int64_t edit_distance(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diag = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Indices 0..n-1 in consecutive batches of `size` (the last may be shorter).
std::vector<std::vector<int64_t>> consecutive_batches(int64_t n, int64_t size) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t start = 0; start < n; start += size) {
    out.emplace_back();
    for (int64_t i = start; i < std::min(n, start + size); ++i) out.back().push_back(i);
  }
  return out;
}

const char* const kWords[] = {"zero", "one", "two",   "three", "four",
                              "five", "six", "seven", "eight", "nine"};

}  // namespace

std::string digit_word(int64_t digit) {
  return kWords[digit];
}

std::string caption_text(const std::vector<int64_t>& tokens) {
  std::string out;
  for (int64_t t : tokens) {
    if (t < kFirstDigitId || t >= kFirstDigitId + 10) continue;
    out += (out.empty() ? "" : " ") + digit_word(t - kFirstDigitId);
  }
  return out;
}

std::vector<std::vector<int64_t>> draw_strips(int64_t n_images, int64_t count, int64_t max_digits,
                                              uint64_t seed) {
  std::vector<std::vector<int64_t>> strips(static_cast<size_t>(count));
  uint64_t state = datasets::splitmix64(seed ^ 0x7374726970732121ULL);
  auto next = [&](int64_t n) {
    state = datasets::splitmix64(state);
    return static_cast<int64_t>(state % static_cast<uint64_t>(n));
  };
  for (auto& strip : strips) {
    const int64_t k = 1 + next(max_digits);
    for (int64_t j = 0; j < k; ++j) strip.push_back(next(n_images));
  }
  return strips;
}

std::vector<int64_t> strip_reference(const Digits& part, const std::vector<int64_t>& strip) {
  std::vector<int64_t> ref;
  const auto* y = part.labels.data_ptr<int64_t>();
  for (int64_t i : strip) ref.push_back(kFirstDigitId + y[i]);
  return ref;
}

StripBatch make_strip_batch(const MnistConfig& cfg, const Digits& part,
                            const std::vector<std::vector<int64_t>>& strips,
                            const std::vector<int64_t>& which) {
  const auto B = static_cast<int64_t>(which.size());
  int64_t most = 0;
  for (int64_t w : which) most = std::max<int64_t>(most, strips[static_cast<size_t>(w)].size());
  StripBatch b;
  b.columns = torch::zeros({most * kSide, B, kSide});
  b.lengths = torch::empty({B}, torch::kLong);
  b.tgt_in = torch::zeros({most + 1, B}, torch::kLong);
  b.tgt_out = torch::zeros({most + 1, B}, torch::kLong);
  for (int64_t j = 0; j < B; ++j) {
    const auto& strip = strips[static_cast<size_t>(which[static_cast<size_t>(j)])];
    const auto k = static_cast<int64_t>(strip.size());
    // k images (k, 28 rows, 28 cols) -> columns (k*28, 28 pixels of a column)
    torch::Tensor img =
        scale_pixels(cfg, part.images.index_select(0, torch::tensor(strip, torch::kLong)));
    b.columns.narrow(0, 0, k * kSide)
        .select(1, j)
        .copy_(img.transpose(1, 2).reshape({k * kSide, kSide}));
    b.lengths[j] = k * kSide;
    const std::vector<int64_t> ref = strip_reference(part, strip);
    b.tgt_in[0][j] = kBos;
    for (int64_t t = 0; t < k; ++t) {
      b.tgt_in[t + 1][j] = ref[static_cast<size_t>(t)];
      b.tgt_out[t][j] = ref[static_cast<size_t>(t)];
    }
    b.tgt_out[k][j] = kEos;
  }
  return b;
}

torch::Tensor image_columns(const MnistConfig& cfg, const torch::Tensor& image) {
  // (28, W) -> (W, 1, 28): step s is column s
  return scale_pixels(cfg, image).t().unsqueeze(1).contiguous();
}

Seq2Seq build_caption_model(const MnistConfig& cfg) {
  const auto& m = cfg.model;
  return Seq2Seq(Seq2SeqOptions(/*src_vocab=*/0, kFirstDigitId + 10, m.rnn.options(kSide),
                                m.decoder.options(m.embedding_dim))
                     .attention(m.attention)
                     .dropout(m.dropout));
}

CaptionScores score_captions(const std::vector<std::vector<int64_t>>& hyps,
                             const std::vector<std::vector<int64_t>>& refs) {
  CaptionScores s;
  int64_t exact = 0, edits = 0, words = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    exact += hyps[i] == refs[i];
    edits += edit_distance(hyps[i], refs[i]);
    words += static_cast<int64_t>(refs[i].size());
  }
  s.strips = static_cast<int64_t>(refs.size());
  s.exact = s.strips ? 100.0 * static_cast<double>(exact) / static_cast<double>(s.strips) : 0;
  s.word_accuracy =
      words ? 100.0 * (1.0 - static_cast<double>(edits) / static_cast<double>(words)) : 0;
  return s;
}

std::vector<Hypothesis> caption_strips(Seq2Seq& model, const MnistConfig& cfg, const Digits& part,
                                       const std::vector<std::vector<int64_t>>& strips,
                                       torch::Device device) {
  DecodeOptions o;
  o.beam = cfg.decode.beam;
  o.max_len_a = 0;
  o.max_len_b = cfg.strips.max_digits + 2;
  std::vector<Hypothesis> out;
  for (const auto& which :
       consecutive_batches(static_cast<int64_t>(strips.size()), cfg.data.eval_batch_size)) {
    StopSignals::throw_if_requested();
    StripBatch b = make_strip_batch(cfg, part, strips, which);
    for (auto& h : translate_batch(model, b.columns.to(device), b.lengths.to(device), o))
      out.push_back(std::move(h));
  }
  return out;
}

bool plot_attention(const fs::path& dir, int n, const torch::Tensor& strip_image,
                    const Hypothesis& hyp, const std::string& reference) {
  const std::string stem = fmt::format("attention_{}", n);
  const int64_t W = strip_image.size(1);
  std::string image;
  torch::Tensor img = strip_image.to(torch::kLong).contiguous();
  for (int64_t r = 0; r < kSide; ++r) {
    for (int64_t c = 0; c < W; ++c)
      image += fmt::format("{}{}", c ? " " : "", img[r][c].item<int64_t>());
    image += "\n";
  }
  write_file_atomic(dir / (stem + "_image.dat"), image);
  std::string weights, ytics;
  std::vector<std::string> words;
  for (int64_t t : hyp.tokens) words.push_back(digit_word(t - kFirstDigitId));
  words.push_back("<eos>");
  for (size_t w = 0; w < hyp.attention.size() && w < words.size(); ++w) {
    for (int64_t c = 0; c < W; ++c)
      weights += fmt::format(
          "{}{:.5f}", c ? " " : "",
          c < static_cast<int64_t>(hyp.attention[w].size()) ? hyp.attention[w][c] : 0.f);
    weights += "\n";
    ytics += fmt::format("{}{} {}", w ? ", " : "", gnuplot_quote(words[w]), w);
  }
  write_file_atomic(dir / (stem + "_weights.dat"), weights);
  const auto rows = static_cast<int64_t>(std::min(hyp.attention.size(), words.size()));
  const std::string script = fmt::format(
      "set terminal svg size {},{} dynamic font 'sans,12' background rgb 'white'\n"
      "set output {}\n"
      "set multiplot title {}\n"
      "unset colorbox\nunset key\nset tics scale 0\n"
      "set lmargin at screen 0.1\nset rmargin at screen 0.97\n"
      "set tmargin at screen 0.86\nset bmargin at screen {:.3f}\n"
      "set xrange [-0.5:{}.5]\nset yrange [27.5:-0.5]\nunset xtics\nunset ytics\n"
      "set palette gray\n"
      "plot {} matrix with image pixels\n"
      "set tmargin at screen {:.3f}\nset bmargin at screen 0.14\n"
      "set yrange [{}.5:-0.5]\nset ytics ({})\nset xtics 0,28\nset xlabel 'column of the strip'\n"
      "set palette defined (0 '#ffffff', 1 '#08306b')\nset cbrange [0:*]\n"
      "plot {} matrix with image pixels\n"
      "unset multiplot\n",
      std::max<int64_t>(420, 160 + 4 * W), 420, gnuplot_quote(stem + ".svg"),
      gnuplot_quote(
          fmt::format("reference: {}    caption: {}", reference, caption_text(hyp.tokens))),
      0.86 - 0.36, W - 1, gnuplot_quote(stem + "_image.dat"), 0.86 - 0.38, rows - 1, ytics,
      gnuplot_quote(stem + "_weights.dat"));
  const fs::path gp = dir / (stem + ".gp");
  write_file_atomic(gp, script);
  return run_gnuplot(gp, dir);
}

// ---- the task ----

CaptionTask::CaptionTask(const MnistConfig& cfg, torch::Device device)
    : cfg_(cfg), device_(device) {
  data_ = load_data(cfg);
  const auto& s = cfg.strips;
  const auto seed = static_cast<uint64_t>(s.seed);
  // Each part's strips from its own images and its own stream.
  train_strips_ = draw_strips(data_.train.size(), s.train, s.max_digits, seed * 3 + 0);
  valid_strips_ = draw_strips(data_.valid.size(), s.valid, s.max_digits, seed * 3 + 1);
  test_strips_ = draw_strips(data_.test.size(), s.test, s.max_digits, seed * 3 + 2);
  model_ = build_caption_model(cfg);
  model_->to(device_);
}

int64_t CaptionTask::batches_per_epoch() const {
  return (static_cast<int64_t>(train_strips_.size()) + cfg_.data.batch_size - 1) /
         cfg_.data.batch_size;
}

void CaptionTask::start_epoch(int64_t epoch) {
  batches_ = datasets::make_batches(
      static_cast<int64_t>(train_strips_.size()), cfg_.data.batch_size, /*shuffle=*/true,
      datasets::epoch_seed(static_cast<uint64_t>(cfg_.run.seed), epoch));
}

StepOutput CaptionTask::train_step(int64_t index) {
  // Data-parallel: this rank's strips of the batch, balanced by columns.
  const std::vector<int64_t> which = share(batches_[static_cast<size_t>(index)], [&](int64_t i) {
    return static_cast<int64_t>(train_strips_[static_cast<size_t>(i)].size());
  });
  if (which.empty()) return no_examples();
  StripBatch b = make_strip_batch(cfg_, data_.train, train_strips_, which);
  torch::Tensor logits = model_->forward(b.columns.to(device_), b.lengths.to(device_),
                                         b.tgt_in.to(device_));  // (T, B, V)
  torch::Tensor target = b.tgt_out.to(device_);
  torch::Tensor loss = F::cross_entropy(logits.flatten(0, 1), target.flatten(),
                                        F::CrossEntropyFuncOptions().ignore_index(0));
  StepOutput out{loss, static_cast<int64_t>(which.size())};
  out.loss_items = target.ne(0).sum().item<int64_t>();  // the loss is a mean per word
  return out;
}

Metrics CaptionTask::evaluate(const std::string& split) {
  const bool test = split == "test";
  const Digits& part = test ? data_.test : data_.valid;
  const auto& strips = test ? test_strips_ : valid_strips_;
  // Teacher-forced loss per word, then the decoded captions. Data-parallel:
  // this rank's part of the strips; the summed loss and its words add up
  // over the ranks, the decoded parts are joined.
  const auto [first, last] = eval_part(static_cast<int64_t>(strips.size()));
  std::vector<std::vector<int64_t>> mine(strips.begin() + first, strips.begin() + last);
  double loss_sum = 0;
  int64_t words = 0;
  {
    torch::NoGradGuard no_grad;
    model_->eval();
    for (auto which : consecutive_batches(last - first, cfg_.data.eval_batch_size)) {
      StopSignals::throw_if_requested();
      for (auto& i : which) i += first;
      StripBatch b = make_strip_batch(cfg_, part, strips, which);
      torch::Tensor logits =
          model_->forward(b.columns.to(device_), b.lengths.to(device_), b.tgt_in.to(device_));
      torch::Tensor target = b.tgt_out.to(device_);
      loss_sum +=
          F::cross_entropy(logits.flatten(0, 1), target.flatten(),
                           F::CrossEntropyFuncOptions().ignore_index(0).reduction(torch::kSum))
              .item<double>();
      words += target.ne(0).sum().item<int64_t>();
    }
  }
  std::vector<double> sums = sum_over_ranks({loss_sum, static_cast<double>(words)});
  std::vector<std::string> decoded;  // each caption's word ids, space-separated
  for (const auto& hyp : caption_strips(model_, cfg_, part, mine, device_))
    decoded.push_back(fmt::format("{}", fmt::join(hyp.tokens, " ")));
  decoded = gather_over_ranks(decoded);
  std::vector<std::vector<int64_t>> h, r;
  for (size_t i = 0; i < strips.size(); ++i) {
    std::vector<int64_t> tokens;
    std::istringstream in(decoded[i]);
    for (int64_t t; in >> t;) tokens.push_back(t);
    h.push_back(std::move(tokens));
    r.push_back(strip_reference(part, strips[i]));
  }
  CaptionScores s = score_captions(h, r);
  return {{"loss", sums[0] / std::max(1.0, sums[1])},
          {"accuracy", s.exact},
          {"word_accuracy", s.word_accuracy}};
}

std::vector<MetricInfo> CaptionTask::metrics() const {
  return {{"accuracy", true}, {"word_accuracy", true}, {"loss", false}};
}

void CaptionTask::add_summary(nlohmann::json& summary, double) const {
  summary["task"] = "caption";
  summary["max_digits"] = cfg_.strips.max_digits;
  summary["train_strips"] = train_strips_.size();
  summary["val_strips"] = valid_strips_.size();
  summary["test_strips"] = test_strips_.size();
  // The names: exact caption match is accuracy.
  if (summary.contains("test_accuracy")) summary["test_exact_match"] = summary["test_accuracy"];
}

void CaptionTask::write_examples(const fs::path& dir) {
  // The first test strips of 3 or more digits (4 of them) and 20 captions.
  std::vector<std::vector<int64_t>> shown;
  for (const auto& s : test_strips_)
    if (s.size() >= 3 && shown.size() < 4) shown.push_back(s);
  std::vector<std::vector<int64_t>> listed(
      test_strips_.begin(), test_strips_.begin() + std::min<size_t>(20, test_strips_.size()));
  std::vector<Hypothesis> hyps = caption_strips(model_, cfg_, data_.test, shown, device_);
  std::vector<Hypothesis> more = caption_strips(model_, cfg_, data_.test, listed, device_);
  std::string text = "test strip  reference  ->  caption\n";
  for (size_t i = 0; i < listed.size(); ++i)
    text += fmt::format(
        "{:>3}  {}  ->  {}{}\n", i, caption_text(strip_reference(data_.test, listed[i])),
        caption_text(more[i].tokens),
        more[i].tokens == strip_reference(data_.test, listed[i]) ? "" : "   (wrong)");
  write_file_atomic(dir / "caption_examples.txt", text);
  for (size_t i = 0; i < shown.size(); ++i) {
    torch::Tensor digits = data_.test.images.index_select(0, torch::tensor(shown[i], torch::kLong));
    torch::Tensor strip = digits.permute({1, 0, 2}).reshape({kSide, -1});  // (28, 28k)
    plot_attention(dir, static_cast<int>(i + 1), strip, hyps[i],
                   caption_text(strip_reference(data_.test, shown[i])));
  }
}

}  // namespace rnnlab::mnist
