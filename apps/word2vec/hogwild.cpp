// Lock-free word2vec training (see hogwild.h).
#include "apps/word2vec/hogwild.h"

#include "datasets/seed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

namespace rnnlab::word2vec {

namespace {

constexpr int kExpTableSize = 1000;
constexpr float kMaxExp = 6.0f;
constexpr int64_t kWordsPerUpdate = 10'000;  // a thread publishes its count this often
constexpr int kLossEvery = 16;               // the loss is estimated on 1 window in 16

// word2vec.c's sigmoid table: sigmoid(x) for x in [-6, 6] in 1000 steps.
struct SigmoidTable {
  float v[kExpTableSize + 1];
  SigmoidTable() {
    for (int i = 0; i <= kExpTableSize; ++i) {
      float e = std::exp((static_cast<float>(i) / kExpTableSize * 2 - 1) * kMaxExp);
      v[i] = e / (e + 1);
    }
  }
};
const SigmoidTable kSigmoid;

// x . y with eight partial sums: the compiler keeps the exact order of a plain
// `f += x[d] * y[d]` and leaves it scalar; this order it vectorises.
__attribute__((always_inline)) inline float dot(const float* x, const float* y, int64_t D) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t d = 0;
  for (; d + 8 <= D; d += 8)
    for (int j = 0; j < 8; ++j) acc[j] += x[d + j] * y[d + j];
  float f = 0;
  for (; d < D; ++d) f += x[d] * y[d];
  for (int j = 0; j < 8; ++j) f += acc[j];
  return f;
}

// Asks for the cache lines of a row of D floats.
inline void prefetch_row(const float* row, int64_t D) {
  for (int64_t d = 0; d < D; d += 16) __builtin_prefetch(row + d);
}

// One window's update, written as three small matrix products (see hogwild.h):
//   rows:    n row pointers into syn0 (skip-gram: the context words), or one
//            row `h` (CBOW: the mean of the context rows)
//   targets: T rows of syn1neg, label 1 for the first (the centre word), 0 after
// Returns the summed loss of the pairs when `loss` is set (else 0).
// Compiled twice (AVX2+FMA and baseline) and chosen at run time.
__attribute__((target_clones("arch=haswell", "default"))) double window_update(
    float* const* rows, int n, float* syn1, const int32_t* targets, int T, int64_t D, float alpha,
    float* G, float* neu, bool loss) {
  double total = 0;
  // S = X Y^T, G = (L - sigmoid(S)) alpha                                (n, T)
  for (int c = 0; c < n; ++c) {
    const float* x = rows[c];
    for (int t = 0; t < T; ++t) {
      const float f = dot(x, syn1 + targets[t] * D, D);
      float label = t == 0 ? 1.0f : 0.0f;
      // (written so that a NaN, from a run that diverged, reads as 0 and never
      // indexes the table)
      float s = 0.0f;
      if (f >= kMaxExp)
        s = 1.0f;
      else if (f > -kMaxExp)
        s = kSigmoid.v[static_cast<int>((f + kMaxExp) * (kExpTableSize / kMaxExp / 2))];
      G[c * T + t] = (label - s) * alpha;
      if (loss) {
        // -log sigmoid(f) for the centre word, -log sigmoid(-f) for a negative
        float z = t == 0 ? f : -f;
        total += z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
      }
    }
  }
  // neu = G Y (with the old Y)                                          (n, D)
  for (int c = 0; c < n; ++c) {
    float* e = neu + c * D;
    std::fill(e, e + D, 0.0f);
    for (int t = 0; t < T; ++t) {
      const float* y = syn1 + targets[t] * D;
      float g = G[c * T + t];
      for (int64_t d = 0; d < D; ++d) e[d] += g * y[d];
    }
  }
  // Y += G^T X                                                          (T, D)
  for (int t = 0; t < T; ++t) {
    float* y = syn1 + targets[t] * D;
    for (int c = 0; c < n; ++c) {
      const float* x = rows[c];
      float g = G[c * T + t];
      for (int64_t d = 0; d < D; ++d) y[d] += g * x[d];
    }
  }
  return total;
}

// Adds `e` to every row (skip-gram: each row its own; CBOW: the same to all).
__attribute__((target_clones("arch=haswell", "default"))) void add_rows(float* const* rows, int n,
                                                                        const float* e,
                                                                        int64_t stride, int64_t D) {
  for (int c = 0; c < n; ++c) {
    float* x = rows[c];
    const float* ec = e + c * stride;
    for (int64_t d = 0; d < D; ++d) x[d] += ec[d];
  }
}

}  // namespace

HogwildTrainer::HogwildTrainer(torch::Tensor syn0, torch::Tensor syn1neg,
                               const datasets::WordVocab& vocab,
                               const datasets::EncodedCorpus& corpus, HogwildOptions options)
    : syn0_(std::move(syn0)), syn1neg_(std::move(syn1neg)), corpus_(corpus), o_(options) {
  if (syn0_.scalar_type() != torch::kFloat || !syn0_.is_contiguous() || !syn0_.device().is_cpu() ||
      syn0_.dim() != 2 || !syn1neg_.sizes().equals(syn0_.sizes()) ||
      syn1neg_.scalar_type() != torch::kFloat || !syn1neg_.is_contiguous())
    throw std::invalid_argument(
        "HogwildTrainer: syn0 and syn1neg must be contiguous (V, D) float CPU tensors");
  if (syn0_.size(0) != vocab.size())
    throw std::invalid_argument("HogwildTrainer: syn0 has " + std::to_string(syn0_.size(0)) +
                                " rows, the vocabulary " + std::to_string(vocab.size()));
  if (o_.negative < 1 || o_.window < 1 || o_.threads < 1 || o_.epochs < 1)
    throw std::invalid_argument("HogwildTrainer: negative, window, threads, epochs must be >= 1");
  x_ = syn0_.data_ptr<float>();
  y_ = syn1neg_.data_ptr<float>();
  dim_ = syn0_.size(1);
  keep_ = datasets::keep_probabilities(vocab, o_.sample);

  // The noise distribution P(i) = count_i^0.75 / Z as Walker's alias table
  // (Vose's construction): V cells of {probability, alias}, one draw = one
  // uniform cell and one coin. word2vec.c's 1e8-entry table approximates the
  // same distribution, and a draw from it is a cache miss into 400 MB; the
  // alias table (8 bytes a word) stays in cache.
  const size_t V = vocab.counts.size();
  std::vector<double> scaled(V);
  double z = 0;
  for (int64_t c : vocab.counts) z += std::pow(static_cast<double>(c), 0.75);
  for (size_t w = 0; w < V; ++w)
    scaled[w] = std::pow(static_cast<double>(vocab.counts[w]), 0.75) / z * static_cast<double>(V);
  alias_.assign(V, AliasCell{1.0f, 0});
  std::vector<int32_t> small, large;
  for (size_t w = 0; w < V; ++w)
    (scaled[w] < 1.0 ? small : large).push_back(static_cast<int32_t>(w));
  while (!small.empty() && !large.empty()) {
    int32_t s = small.back(), l = large.back();
    small.pop_back();
    alias_[static_cast<size_t>(s)] = {static_cast<float>(scaled[static_cast<size_t>(s)]), l};
    scaled[static_cast<size_t>(l)] -= 1.0 - scaled[static_cast<size_t>(s)];
    if (scaled[static_cast<size_t>(l)] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  for (int32_t w : small) alias_[static_cast<size_t>(w)] = {1.0f, w};  // rounding leftovers
  for (int32_t w : large) alias_[static_cast<size_t>(w)] = {1.0f, w};

  // Each thread takes a contiguous run of sentences with about 1/threads of the words.
  int64_t words = static_cast<int64_t>(corpus_.ids.size());
  bounds_.push_back(0);
  for (int64_t t = 1; t < o_.threads; ++t) {
    int64_t target = words * t / o_.threads;
    auto it = std::lower_bound(corpus_.offsets.begin(), corpus_.offsets.end(), target);
    bounds_.push_back(std::max(bounds_.back(), static_cast<int64_t>(it - corpus_.offsets.begin())));
  }
  bounds_.push_back(corpus_.sentences());
}

double HogwildTrainer::lr_at(int64_t words_done) const {
  double total = static_cast<double>(o_.epochs) * static_cast<double>(words_per_epoch()) + 1;
  return std::max(o_.min_lr, o_.lr * (1 - static_cast<double>(words_done) / total));
}

// One worker thread's position and tallies.
struct HogwildTrainer::Worker {
  int64_t thread = 0;
  int64_t next_sentence = 0, local_words = 0, window_no = 0;
  datasets::Word2VecRandom rng{0};
  double alpha = 0;
  double loss_sum = 0;
  int64_t loss_n = 0, examples = 0;
};

void HogwildTrainer::run_worker(Worker& wk, std::atomic<int64_t>& words_done,
                                std::atomic<bool>& stop) {
  datasets::Word2VecRandom& rng = wk.rng;
  const int64_t D = dim_;
  const int W = static_cast<int>(o_.window);
  const int K = static_cast<int>(o_.negative);
  std::vector<float*> rows(static_cast<size_t>(2 * W));
  std::vector<int32_t> targets(static_cast<size_t>(K + 1)), next_targets(targets.size());
  std::vector<float> G(static_cast<size_t>(2 * W * (K + 1)));
  std::vector<float> neu(static_cast<size_t>(2 * W * D));
  std::vector<float> h(static_cast<size_t>(D));
  float* hrow = h.data();
  std::vector<int32_t> sent;  // the current sentence after subsampling, reused
  int64_t& local_words = wk.local_words;
  int64_t& window_no = wk.window_no;
  double& alpha = wk.alpha;
  double& loss_sum = wk.loss_sum;
  int64_t& loss_n = wk.loss_n;
  int64_t& examples = wk.examples;

  int64_t s = wk.next_sentence;
  for (; s < bounds_[static_cast<size_t>(wk.thread) + 1] && !stop.load(std::memory_order_relaxed);
       ++s) {
    const int32_t* begin = corpus_.ids.data() + corpus_.offsets[static_cast<size_t>(s)];
    const int32_t* end = corpus_.ids.data() + corpus_.offsets[static_cast<size_t>(s) + 1];
    if (o_.sample > 0)
      datasets::subsample(begin, end, keep_, rng, sent);
    else
      sent.assign(begin, end);
    local_words += end - begin;
    if (local_words >= kWordsPerUpdate) {
      words_done += local_words;
      local_words = 0;
      alpha = lr_at(words_done.load());
    }
    const int len = static_cast<int>(sent.size());
    if (len < 2) continue;  // no context word anywhere
    // Each position's window and targets are drawn one position ahead, and
    // their rows prefetched, so that the memory latency of the random rows
    // overlaps the current window's arithmetic.
    int next_b = 0, next_T = 0;
    auto plan = [&](int i) {
      const int32_t w = sent[static_cast<size_t>(i)];
      next_b = static_cast<int>(datasets::dynamic_window(W, rng));
      next_T = 0;
      next_targets[static_cast<size_t>(next_T++)] = w;
      for (int k = 0; k < K; ++k) {  // K shared negatives; a draw of the centre word is dropped
        int32_t neg = noise(rng);
        if (neg != w) next_targets[static_cast<size_t>(next_T++)] = neg;
      }
      for (int t = 0; t < next_T; ++t)
        prefetch_row(y_ + next_targets[static_cast<size_t>(t)] * D, D);
      // the rightmost context word of that window (the others are mostly in use now)
      int right = std::min(len - 1, i + next_b);
      if (right != i) prefetch_row(x_ + sent[static_cast<size_t>(right)] * D, D);
    };
    plan(0);
    for (int i = 0; i < len; ++i) {
      const int b = next_b;
      const int T = next_T;
      std::copy(next_targets.begin(), next_targets.begin() + T, targets.begin());
      if (i + 1 < len) plan(i + 1);
      // The context rows: positions i-b .. i+b except i, inside the sentence.
      int n = 0;
      for (int j = std::max(0, i - b); j <= std::min(len - 1, i + b); ++j)
        if (j != i) rows[static_cast<size_t>(n++)] = x_ + sent[static_cast<size_t>(j)] * D;
      bool with_loss = (++window_no % kLossEvery) == 0;
      double l;
      if (!o_.cbow) {
        l = window_update(rows.data(), n, y_, targets.data(), T, D, static_cast<float>(alpha),
                          G.data(), neu.data(), with_loss);
        add_rows(rows.data(), n, neu.data(), D, D);
        if (with_loss) loss_sum += l, loss_n += n * T;
      } else {
        // h = mean (or sum) of the context rows; its update goes to every row.
        std::fill(h.begin(), h.end(), 0.0f);
        for (int c = 0; c < n; ++c)
          for (int64_t d = 0; d < D; ++d)
            h[static_cast<size_t>(d)] += rows[static_cast<size_t>(c)][d];
        if (o_.cbow_mean)
          for (auto& v : h) v /= static_cast<float>(n);
        l = window_update(&hrow, 1, y_, targets.data(), T, D, static_cast<float>(alpha), G.data(),
                          neu.data(), with_loss);
        add_rows(rows.data(), n, neu.data(), 0, D);
        if (with_loss) loss_sum += l, loss_n += T;
      }
      ++examples;
    }
  }
  wk.next_sentence = s;
  // A finished range publishes its count; a stopped one keeps it in the cursor.
  if (s == bounds_[static_cast<size_t>(wk.thread) + 1]) {
    words_done += local_words;
    local_words = 0;
  }
}

EpochStats HogwildTrainer::train_epoch(int64_t epoch,
                                       const std::function<bool(const HogwildProgress&)>& report,
                                       double report_seconds, HogwildCursor* cursor) {
  auto t0 = std::chrono::steady_clock::now();
  stopped_ = false;
  const size_t n_threads = static_cast<size_t>(o_.threads);
  std::vector<Worker> wk(n_threads);
  std::atomic<int64_t> words_done{epoch * words_per_epoch()};
  bool resumed = cursor && !cursor->empty();
  if (resumed) {
    const HogwildCursor& c = *cursor;
    bool fits = c.next_sentence.size() == n_threads && c.rng.size() == n_threads &&
                c.local_words.size() == n_threads && c.window_no.size() == n_threads &&
                c.alpha.size() == n_threads && c.words_done >= epoch * words_per_epoch() &&
                c.words_done <= (epoch + 1) * words_per_epoch();
    for (size_t t = 0; fits && t < n_threads; ++t)
      fits = c.next_sentence[t] >= bounds_[t] && c.next_sentence[t] <= bounds_[t + 1];
    if (!fits)
      throw std::invalid_argument("HogwildTrainer: the saved position (" +
                                  std::to_string(c.words_done) + " words, " +
                                  std::to_string(c.next_sentence.size()) +
                                  " threads) does not fit this corpus, epoch and thread count");
    words_done = c.words_done;
  }
  const int64_t words_at_start = words_done.load();
  int64_t unpublished_at_start = 0;
  for (size_t t = 0; t < n_threads; ++t) {
    Worker& w = wk[t];
    w.thread = static_cast<int64_t>(t);
    if (resumed) {
      w.next_sentence = cursor->next_sentence[t];
      w.rng.state = cursor->rng[t];
      w.local_words = cursor->local_words[t];
      unpublished_at_start += w.local_words;
      w.window_no = cursor->window_no[t];
      w.alpha = cursor->alpha[t];
    } else {
      w.next_sentence = bounds_[t];
      w.rng.state = datasets::derive_seed(o_.seed, "hogwild-thread",
                                          {static_cast<uint64_t>(epoch), static_cast<uint64_t>(t)});
      w.alpha = lr_at(words_done.load());
    }
  }
  std::atomic<bool> stop{false}, finished{false};
  std::vector<std::thread> workers;
  for (size_t t = 0; t < n_threads; ++t)
    workers.emplace_back([&, t] { run_worker(wk[t], words_done, stop); });
  // Report from this thread while the workers run.
  std::thread waiter([&] {
    for (auto& w : workers) w.join();
    finished = true;
  });
  double last_sum = 0;
  int64_t last_n = 0;
  auto last = std::chrono::steady_clock::now();
  while (!finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!report || std::chrono::duration<double>(std::chrono::steady_clock::now() - last).count() <
                       report_seconds)
      continue;
    last = std::chrono::steady_clock::now();
    // The loss sums are read without a lock: a display value, not a result.
    double sum = 0;
    int64_t n = 0;
    for (const Worker& w : wk) sum += w.loss_sum, n += w.loss_n;
    HogwildProgress p;
    p.words_done = words_done.load();
    p.words_total = o_.epochs * words_per_epoch();
    p.lr = lr_at(p.words_done);
    p.loss = n > last_n ? (sum - last_sum) / static_cast<double>(n - last_n) : 0;
    last_sum = sum, last_n = n;
    if (!report(p)) {
      stop = true;
      stopped_ = true;
    }
  }
  waiter.join();
  // Stopped, but every worker may have finished its range before it saw the flag.
  bool all_done = true;
  for (size_t t = 0; t < n_threads; ++t)
    all_done = all_done && wk[t].next_sentence == bounds_[t + 1];
  if (all_done) stopped_ = false;
  if (cursor) {
    *cursor = HogwildCursor{};
    if (stopped_) {
      for (const Worker& w : wk) {
        cursor->next_sentence.push_back(w.next_sentence);
        cursor->local_words.push_back(w.local_words);
        cursor->window_no.push_back(w.window_no);
        cursor->rng.push_back(w.rng.state);
        cursor->alpha.push_back(w.alpha);
      }
      cursor->words_done = words_done.load();
    }
  }
  EpochStats st;
  st.words = words_done.load() - words_at_start - unpublished_at_start;
  for (const Worker& w : wk) st.words += w.local_words;  // counted, not yet published
  double sum = 0;
  int64_t n = 0;
  for (const Worker& w : wk) {
    sum += w.loss_sum, n += w.loss_n;
    st.examples += w.examples;
  }
  st.loss = n > 0 ? sum / static_cast<double>(n) : 0;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace rnnlab::word2vec
