// libFuzzer target: the word2vec corpus reader (build_word_vocab,
// encode_word_corpus) and the draws on it (keep_probabilities, subsample,
// dynamic_window), datasets/word2vec_corpus.h.
//
// Input: byte 0 = options (bit 0 normalize, bits 1-3 min_count - 1,
// bits 4-5 max_size, bits 6-7 sample exponent), byte 1 = max_sentence - 1
// (low 4 bits) and window - 1 (high 4 bits), then up to 2 corpus files split
// at '\0'.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/word2vec_corpus.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  if (size < 2) return 0;
  const uint8_t o = data[0], s = data[1];
  std::string_view body(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::vector<std::string> files;
  for (auto part : split_parts(body, 2))
    files.push_back(write_file("corpus" + std::to_string(files.size()) + ".txt", part));

  rnnlab::datasets::WordVocabOptions vo;
  vo.normalize = o & 1;
  vo.min_count = ((o >> 1) & 7) + 1;
  vo.max_size = (o >> 4) & 3;
  const double sample = (o >> 6) == 0 ? 0.0 : std::pow(10.0, -static_cast<int>(o >> 6));
  const int64_t max_sentence = (s & 15) + 1, window = (s >> 4) + 1;
  guarded([&] {
    auto vocab = rnnlab::datasets::build_word_vocab(files, vo);
    check(vocab.size() > 0 && vocab.words.size() == vocab.counts.size(), "vocabulary shape");
    check(vo.max_size == 0 || vocab.size() <= vo.max_size, "max_size not respected");
    for (int64_t i = 0; i < vocab.size(); ++i) {
      check(vocab.find(vocab.words[static_cast<size_t>(i)]) == i, "index disagrees with words");
      check(vocab.counts[static_cast<size_t>(i)] >= vo.min_count, "count below min_count");
    }
    auto corpus = rnnlab::datasets::encode_word_corpus(files, vocab, vo.normalize, max_sentence);
    check(!corpus.offsets.empty() && corpus.offsets.front() == 0 &&
              corpus.offsets.back() == static_cast<int64_t>(corpus.ids.size()),
          "offsets do not frame the ids");
    auto keep = rnnlab::datasets::keep_probabilities(vocab, sample);
    rnnlab::datasets::Word2VecRandom rng(1);
    std::vector<int32_t> out;
    for (int64_t k = 0; k < corpus.sentences(); ++k) {
      const int64_t a = corpus.offsets[static_cast<size_t>(k)],
                    b = corpus.offsets[static_cast<size_t>(k) + 1];
      check(a < b && b - a <= max_sentence, "sentence empty or longer than max_sentence");
      for (int64_t j = a; j < b; ++j)
        check(corpus.ids[static_cast<size_t>(j)] >= 0 &&
                  corpus.ids[static_cast<size_t>(j)] < vocab.size(),
              "id out of range");
      rnnlab::datasets::subsample(corpus.ids.data() + a, corpus.ids.data() + b, keep, rng, out);
      int64_t w = rnnlab::datasets::dynamic_window(window, rng);
      check(w >= 1 && w <= window, "dynamic window out of range");
    }
  });
  return 0;
}
