// The fast path of word2vec training: lock-free (Hogwild) SGD over the
// corpus in several threads, updating the model's embedding tensors in place,
// with negative sampling shared across a context window (Ji et al. 2016,
// "Parallelizing Word2Vec in Shared and Distributed Memory"): for a centre
// word w with context words c_1..c_n and negatives k_1..k_K drawn once,
//
//   S = X Y^T              X = syn0[c_1..c_n] (n, D), Y = syn1neg[w, k_1..k_K] (K+1, D)
//   G = (L - sigmoid(S)) a   L = [1 0 ... 0] per row, a the learning rate   (n, K+1)
//   syn0[c]   += G Y         (computed with the old Y)
//   syn1neg[t] += G^T X
//
// which is word2vec.c's skip-gram update (each context word's syn0 row
// predicts the centre word against negatives) with one set of negatives per
// window instead of one per pair: three small matrix products instead of
// n (K+1) dot products and axpys. CBOW uses the mean (or sum) of the context
// rows as its single row of X and adds its row of G Y to every context word,
// as word2vec.c does.
#pragma once

#include <torch/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "datasets/word2vec_corpus.h"

namespace rnnlab::word2vec {

/// Settings of the Hogwild trainer (word2vec.c's flags in brackets).
struct HogwildOptions {
  bool cbow = false;               ///< CBOW instead of skip-gram (-cbow)
  bool cbow_mean = true;           ///< CBOW: mean of the context rows, else their sum
  int64_t window = 5;              ///< maximum window; each position draws 1..window (-window)
  int64_t negative = 5;            ///< negative samples per window (-negative), > 0
  double sample = 1e-3;            ///< subsampling threshold, 0 = off (-sample)
  double lr = 0.025;               ///< starting learning rate (-alpha)
  double min_lr = 0.0001 * 0.025;  ///< the rate never goes below this
  int64_t epochs = 5;              ///< passes over the corpus (-iter)
  int64_t threads = 2;             ///< worker threads (-threads)
  uint64_t seed = 1;               ///< seeds the noise draws, subsampling and windows
};

/// What one call to train_epoch() did.
struct EpochStats {
  int64_t words = 0;     ///< corpus words processed (before subsampling)
  int64_t examples = 0;  ///< centre words trained on (after subsampling)
  double loss = 0;       ///< mean -log-likelihood per (row, target) pair
  double seconds = 0;
};

/// Where a stopped epoch stands, to continue it later exactly (with one
/// thread, bit for bit): per worker thread the next sentence, its random
/// generator, its unpublished word count, its learning rate and window count;
/// and the published word count of the run. Empty: the epoch starts afresh.
struct HogwildCursor {
  std::vector<int64_t> next_sentence, local_words, window_no;
  std::vector<uint64_t> rng;
  std::vector<double> alpha;
  int64_t words_done = 0;
  bool empty() const { return next_sentence.empty(); }
};

/// Progress of a running epoch, as the reporting callback sees it.
struct HogwildProgress {
  int64_t words_done = 0;  ///< over the whole run (all epochs)
  int64_t words_total = 0;
  double lr = 0;
  double loss = 0;  ///< running mean since the last report
};

class HogwildTrainer {
 public:
  /// `syn0` (V, D) and `syn1neg` (V, D) are contiguous float32 CPU tensors,
  /// updated in place (the modules' parameters: pass them under NoGradGuard).
  /// `counts` are the vocabulary counts (the noise distribution is
  /// count^0.75).
  HogwildTrainer(torch::Tensor syn0, torch::Tensor syn1neg, const datasets::WordVocab& vocab,
                 const datasets::EncodedCorpus& corpus, HogwildOptions options);

  /// Trains one epoch (0-based `epoch`: the learning rate decays linearly over
  /// all epochs, as in word2vec.c). `report` is called from the calling
  /// thread about every `report_seconds`; returning false stops the epoch
  /// early (a signal), which train_epoch reports in `stopped`, and
  /// `*cursor` (when given) then says where the epoch stopped. A non-empty
  /// `*cursor` on entry continues the epoch from there (it must come from this
  /// corpus, epoch and thread count; std::invalid_argument otherwise).
  EpochStats train_epoch(int64_t epoch, const std::function<bool(const HogwildProgress&)>& report,
                         double report_seconds = 0.5, HogwildCursor* cursor = nullptr);

  /// True if the last train_epoch() was stopped by its callback.
  bool stopped() const { return stopped_; }
  /// Learning rate after `words_done` of `words_total` corpus words.
  double lr_at(int64_t words_done) const;
  int64_t words_per_epoch() const { return static_cast<int64_t>(corpus_.ids.size()); }

 private:
  struct Worker;
  void run_worker(Worker& w, std::atomic<int64_t>& words_done, std::atomic<bool>& stop);

  torch::Tensor syn0_, syn1neg_;
  float* x_;  // syn0 data
  float* y_;  // syn1neg data
  int64_t dim_;
  const datasets::EncodedCorpus& corpus_;
  HogwildOptions o_;
  struct AliasCell {
    float prob;     // keep the cell's own word with this probability
    int32_t alias;  // else this word
  };
  std::vector<AliasCell> alias_;  // the noise distribution, count^0.75
  /// One draw from the noise distribution: bits 16..47 of one step of the
  /// generator pick the cell, bits 16..39 of the next the coin.
  int32_t noise(datasets::Word2VecRandom& rng) const {
    uint64_t cell = (((rng.next() >> 16) & 0xFFFFFFFFULL) * alias_.size()) >> 32;
    float coin = static_cast<float>((rng.next() >> 16) & 0xFFFFFF) / 16777216.0f;
    const AliasCell& a = alias_[cell];
    return coin < a.prob ? static_cast<int32_t>(cell) : a.alias;
  }
  std::vector<float> keep_;
  std::vector<int64_t> bounds_;  // sentence range of each thread
  bool stopped_ = false;
};

}  // namespace rnnlab::word2vec
