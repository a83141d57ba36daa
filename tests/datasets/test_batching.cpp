// Tests of datasets/batching.h: padded batches, fixed-size batches, token-budget
// batches with length bucketing, and epoch seeds.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "datasets/batching.h"
#include "datasets/seed.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using Batches = std::vector<std::vector<int64_t>>;

// (T, B) int64 tensor from rows.
torch::Tensor int_rows(const std::vector<std::vector<int64_t>>& rows) {
  const auto T = static_cast<int64_t>(rows.size());
  const auto B = T ? static_cast<int64_t>(rows[0].size()) : 0;
  auto t = torch::empty({T, B}, torch::kInt64);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < B; ++j) t[i][j] = rows[i][j];
  return t;
}

// Fails unless `batches` holds every index 0..n-1 exactly once and no empty batch.
void expect_batches_partition(const Batches& batches, int64_t n) {
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (const auto& batch : batches) {
    EXPECT_FALSE(batch.empty());
    for (int64_t i : batch) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, n);
      ++seen[static_cast<size_t>(i)];
    }
  }
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], 1) << "index " << i;
}

// `n` lengths in [1, 60] from a fixed generator, plus three longer than 200.
std::vector<int64_t> random_lengths(int64_t n) {
  std::mt19937_64 rng(12345);
  std::vector<int64_t> lengths;
  for (int64_t i = 0; i < n; ++i) lengths.push_back(1 + static_cast<int64_t>(rng() % 60));
  lengths[7] = 250;
  lengths[100] = 201;
  lengths[300] = 999;
  return lengths;
}

// ---------------------------------------------------------------- pad_batch

const std::vector<std::vector<int64_t>> kSeqs = {{4, 5, 6}, {7}, {8, 9}, {}};

TEST(PadBatch, PadsTimeMajorWithExactValuesLengthsAndMask) {
  const PaddedBatch b = pad_batch(kSeqs, {2, 0, 1});
  ASSERT_EQ(b.tokens.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(b.tokens.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(b.tokens, int_rows({{8, 4, 7}, {9, 5, 0}, {0, 6, 0}})));
  EXPECT_EQ(b.lengths.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(b.lengths, torch::tensor({2, 3, 1}, torch::kInt64)));
  EXPECT_EQ(b.mask.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(b.mask, int_rows({{1, 1, 1}, {1, 1, 0}, {0, 1, 0}}).to(torch::kBool)));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{2, 0, 1}));
}

TEST(PadBatch, UsesThePadIdAndKeepsIndicesInColumnOrder) {
  const PaddedBatch b = pad_batch(kSeqs, {1, 2}, /*pad_id=*/-1);
  EXPECT_TRUE(torch::equal(b.tokens, int_rows({{7, 8}, {-1, 9}})));
  EXPECT_TRUE(torch::equal(b.lengths, torch::tensor({1, 2}, torch::kInt64)));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{1, 2}));
  // a single full-length column has no padding at all
  const PaddedBatch one = pad_batch(kSeqs, {0});
  EXPECT_TRUE(torch::equal(one.tokens, int_rows({{4}, {5}, {6}})));
  EXPECT_TRUE(one.mask.all().item<bool>());
}

TEST(PadBatch, EmptySequenceErrorNamesTheExample) {
  const std::string message = error_of<DataError>([] { pad_batch(kSeqs, {0, 3, 1}); });
  EXPECT_NE(message.find("example 3 is empty"), std::string::npos) << message;
}

TEST(PadBatch, AllowEmptyGivesZeroLengthColumns) {
  const PaddedBatch b = pad_batch(kSeqs, {3, 1}, 0, /*allow_empty=*/true);
  EXPECT_TRUE(torch::equal(b.tokens, int_rows({{0, 7}})));
  EXPECT_TRUE(torch::equal(b.lengths, torch::tensor({0, 1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.mask, int_rows({{0, 1}}).to(torch::kBool)));
  const PaddedBatch none = pad_batch(kSeqs, {3}, 0, true);
  EXPECT_EQ(none.tokens.sizes(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(none.mask.sizes(), (std::vector<int64_t>{0, 1}));
}

TEST(PadBatch, RejectsBadIndices) {
  EXPECT_THROW(pad_batch(kSeqs, {}), std::invalid_argument);
  EXPECT_THROW(pad_batch(kSeqs, {0, 4}), std::invalid_argument);
  EXPECT_THROW(pad_batch(kSeqs, {-1}), std::invalid_argument);
}

// ------------------------------------------------------------- make_batches

TEST(MakeBatches, NoShuffleIsInOrderWithAShortLastBatch) {
  const Batches b = make_batches(10, 3, /*shuffle=*/false, 1);
  EXPECT_EQ(b, (Batches{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}}));
  EXPECT_EQ(make_batches(6, 3, false, 99), (Batches{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_TRUE(make_batches(0, 3, true, 1).empty());
}

TEST(MakeBatches, ShuffleCoversEveryIndexOnce) {
  const Batches b = make_batches(103, 10, true, 7);
  ASSERT_EQ(b.size(), 11u);
  for (size_t i = 0; i + 1 < b.size(); ++i) EXPECT_EQ(b[i].size(), 10u);
  EXPECT_EQ(b.back().size(), 3u);
  expect_batches_partition(b, 103);
  EXPECT_NE(b, make_batches(103, 10, false, 7));
}

TEST(MakeBatches, SameSeedSameOrderDifferentSeedDifferentOrder) {
  EXPECT_EQ(make_batches(100, 8, true, 1), make_batches(100, 8, true, 1));
  EXPECT_NE(make_batches(100, 8, true, 1), make_batches(100, 8, true, 2));
}

TEST(MakeBatches, ShuffleIsTheSameOnEveryPlatform) {
  // Known answer of std::mt19937_64(42) with this file's Fisher-Yates; it
  // changes only if the shuffle algorithm does.
  EXPECT_EQ(make_batches(10, 10, true, 42), (Batches{{1, 7, 9, 0, 3, 8, 4, 2, 5, 6}}));
}

TEST(MakeBatches, ShuffleIsUniformOverPermutations) {
  // 6000 seeds over the 6 orders of 3 examples: about 1000 each; a biased
  // shuffle (e.g. swapping with any position) would give 5/27 vs 4/27 shares.
  std::map<std::vector<int64_t>, int> counts;
  for (uint64_t seed = 0; seed < 6000; ++seed) ++counts[make_batches(3, 3, true, seed)[0]];
  ASSERT_EQ(counts.size(), 6u);
  for (const auto& [order, count] : counts) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

TEST(MakeBatches, RejectsBadArguments) {
  EXPECT_THROW(make_batches(10, 0, false, 1), ConfigError);
  EXPECT_THROW(make_batches(-1, 2, false, 1), std::invalid_argument);
}

// ---------------------------------------------------------- batch_by_tokens

TEST(BatchByTokens, KnownAnswerWithoutShuffle) {
  // sorted by (length, index): 5(1) 1(2) 3(2) 2(3) 6(3) 0(5) 4(7) 7(13)
  const std::vector<int64_t> lengths = {5, 2, 3, 2, 7, 1, 3, 13};
  TokenBudgetOptions opt;
  opt.max_tokens = 12;
  opt.shuffle = false;
  // 4*3=12 fits, a 5th (3) would be 15; 2*5=10, a 3rd (7) would be 21;
  // 7 alone, 2*13 > 12; 13 alone exceeds the budget but is kept.
  EXPECT_EQ(batch_by_tokens(lengths, opt), (Batches{{5, 1, 3, 2}, {6, 0}, {4}, {7}}));
  opt.max_sentences = 2;
  EXPECT_EQ(batch_by_tokens(lengths, opt), (Batches{{5, 1}, {3, 2}, {6, 0}, {4}, {7}}));
}

TEST(BatchByTokens, CoversEveryIndexWithinBudgetInLengthRuns) {
  const std::vector<int64_t> lengths = random_lengths(500);
  TokenBudgetOptions opt;
  opt.max_tokens = 200;
  opt.seed = 3;
  const Batches batches = batch_by_tokens(lengths, opt);
  expect_batches_partition(batches, 500);
  int singletons_over = 0;
  for (const auto& batch : batches) {
    int64_t lo = INT64_MAX, hi = 0;
    for (int64_t i : batch) {
      lo = std::min(lo, lengths[i]);
      hi = std::max(hi, lengths[i]);
    }
    const auto padded = static_cast<int64_t>(batch.size()) * hi;
    if (padded > opt.max_tokens) {
      // only an example longer than the budget on its own
      EXPECT_EQ(batch.size(), 1u);
      EXPECT_GT(hi, opt.max_tokens);
      ++singletons_over;
    }
    // bucketing: no example of another batch is strictly between lo and hi
    for (const auto& other : batches) {
      if (&other == &batch) continue;
      for (int64_t j : other) {
        EXPECT_FALSE(lengths[j] > lo && lengths[j] < hi)
            << "batch [" << lo << ", " << hi << "] and length " << lengths[j];
      }
    }
    EXPECT_LE(hi - lo, 10) << "lengths in a batch should be close";
  }
  EXPECT_EQ(singletons_over, 3);
  // short examples are packed: more than one batch of at least 20
  const auto big =
      std::count_if(batches.begin(), batches.end(), [](const auto& b) { return b.size() >= 20; });
  EXPECT_GT(big, 1);
}

TEST(BatchByTokens, RespectsMaxSentences) {
  const std::vector<int64_t> lengths = random_lengths(500);
  TokenBudgetOptions opt;
  opt.max_tokens = 1000;
  opt.max_sentences = 16;
  const Batches batches = batch_by_tokens(lengths, opt);
  expect_batches_partition(batches, 500);
  size_t largest = 0;
  for (const auto& batch : batches) largest = std::max(largest, batch.size());
  EXPECT_EQ(largest, 16u);
}

TEST(BatchByTokens, DeterministicUnderSeedAndDifferentAcrossSeeds) {
  const std::vector<int64_t> lengths = random_lengths(500);
  TokenBudgetOptions a;
  a.max_tokens = 300;
  a.seed = 11;
  TokenBudgetOptions b = a;
  b.seed = 12;
  EXPECT_EQ(batch_by_tokens(lengths, a), batch_by_tokens(lengths, a));
  EXPECT_NE(batch_by_tokens(lengths, a), batch_by_tokens(lengths, b));
  // shuffle off: batches come in ascending length order
  TokenBudgetOptions sorted = a;
  sorted.shuffle = false;
  const Batches s = batch_by_tokens(lengths, sorted);
  for (size_t k = 1; k < s.size(); ++k) {
    EXPECT_LE(lengths[s[k - 1].back()], lengths[s[k].front()]);
  }
  EXPECT_NE(batch_by_tokens(lengths, a), s);
}

TEST(BatchByTokens, ShuffleBreaksLengthTiesBySeed) {
  const std::vector<int64_t> lengths(40, 5);
  TokenBudgetOptions opt;
  opt.max_tokens = 50;  // 10 per batch
  opt.shuffle = false;
  EXPECT_EQ(batch_by_tokens(lengths, opt)[1],
            (std::vector<int64_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}));
  opt.shuffle = true;
  auto contents = [&](uint64_t seed) {
    opt.seed = seed;
    std::set<std::set<int64_t>> sets;
    for (const auto& batch : batch_by_tokens(lengths, opt)) {
      EXPECT_EQ(batch.size(), 10u);
      sets.emplace(batch.begin(), batch.end());
    }
    return sets;
  };
  EXPECT_EQ(contents(1), contents(1));
  EXPECT_NE(contents(1), contents(2));  // not just the batch order: the contents
}

TEST(BatchByTokens, EmptyExamplesCountAsOneToken) {
  TokenBudgetOptions opt;
  opt.max_tokens = 2;
  opt.shuffle = false;
  EXPECT_EQ(batch_by_tokens({0, 0, 0, 0, 0}, opt), (Batches{{0, 1}, {2, 3}, {4}}));
  EXPECT_TRUE(batch_by_tokens({}, opt).empty());
}

TEST(BatchByTokens, RejectsBadOptions) {
  TokenBudgetOptions opt;
  opt.max_tokens = 0;
  EXPECT_THROW(batch_by_tokens({1, 2}, opt), ConfigError);
  opt.max_tokens = 10;
  opt.max_sentences = -1;
  EXPECT_THROW(batch_by_tokens({1, 2}, opt), ConfigError);
  opt.max_sentences = 0;
  EXPECT_THROW(batch_by_tokens({1, -2}, opt), std::invalid_argument);
}

TEST(BatchByTokens, MaxLengthsForTranslation) {
  EXPECT_EQ(max_lengths({3, 7, 2}, {5, 1, 2}), (std::vector<int64_t>{5, 7, 2}));
  EXPECT_THROW(max_lengths({1, 2}, {1}), std::invalid_argument);
}

// --------------------------------------------------------------- epoch_seed

TEST(BatchSeeds, EpochSeedIsReproducibleAndDiffersPerEpoch) {
  EXPECT_EQ(epoch_seed(7, 3), epoch_seed(7, 3));
  std::set<uint64_t> seeds;
  for (int64_t epoch = 0; epoch < 100; ++epoch) seeds.insert(epoch_seed(7, epoch));
  EXPECT_EQ(seeds.size(), 100u);
  EXPECT_NE(epoch_seed(7, 0), epoch_seed(8, 0));
  EXPECT_NE(make_batches(50, 5, true, epoch_seed(7, 0)),
            make_batches(50, 5, true, epoch_seed(7, 1)));
}

TEST(BatchSeeds, NamedStreamsAreUnrelatedAndPinned) {
  // Values from an independent Python transcription of derive_seed (FNV-1a
  // of the name, splitmix64 of the seed and each index): a change of the
  // function would silently change every run's draws.
  EXPECT_EQ(derive_seed(1, "batches", {0}), 0x3ef8cf2b8cacba09ULL);
  EXPECT_EQ(derive_seed(1, "dev-split", {0}), 0xb28bf2bfe1507e7eULL);
  EXPECT_EQ(derive_seed(7, "hogwild-thread", {2, 1}), 0x51197311b0ef3f8aULL);
  EXPECT_EQ(epoch_seed(1, 0), derive_seed(1, "batches", {0}));
  // The ad-hoc formulas it replaced let epoch 1's batches and fold 0's dev
  // split share a seed; named streams never do.
  std::set<uint64_t> seeds;
  for (const char* name : {"batches", "dev-split", "word2vec-batch", "hogwild-thread"})
    for (uint64_t seed : {1, 2})
      for (uint64_t i = 0; i < 50; ++i) {
        seeds.insert(derive_seed(seed, name, {i}));
        seeds.insert(derive_seed(seed, name, {i, 0}));
      }
  EXPECT_EQ(seeds.size(), 4u * 2 * 50 * 2);
  EXPECT_NE(derive_seed(1, "x", {1, 2}), derive_seed(1, "x", {2, 1}));
}

}  // namespace
}  // namespace rnnlab::datasets
