// libFuzzer target: the word-vectors reader (read_word2vec, text and binary),
// datasets/word_vectors.h.
//
// Input: byte 0 = mode. limit = b & 3 (0: all words).
//   bit 2 clear: the rest is the whole file (seeds hold text and binary files).
//   bit 2 set:   a header "V D\n" is made from bytes 1 and 2 (V = 1 + b1 % 8,
//                D = 1 + b2 % 8) and the rest follows it: binary records
//                (word, ' ', 4*D raw bytes) are then easy to reach.
// The file is read as text and as binary (the format is given, never guessed;
// a name that does not tell it is a ConfigError).
// Invariant: whatever reads writes back (text and binary; or the writer
// refuses the word with a RuntimeError) and reads back, in the format it was
// written in, to the same words and the same float bits.
#include <cstdint>
#include <cstring>
#include <string>

#include "datasets/word_vectors.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void round_trip(const rnnlab::datasets::WordVectors& wv, bool binary) {
  using namespace rnnlab::fuzz;
  // The name tells the format (VectorsFormat::kAuto).
  const std::string path = scratch_dir() + (binary ? "/out.bin" : "/out.txt");
  const std::string what = binary ? "binary round trip: " : "text round trip: ";
  try {
    rnnlab::datasets::write_word2vec(wv, path, binary);
  } catch (const rnnlab::RuntimeError&) {
    return;  // words the formats cannot hold (documented: whitespace)
  }
  rnnlab::datasets::WordVectors back;
  try {
    back = rnnlab::datasets::read_word2vec(path);
  } catch (const rnnlab::Error& e) {
    check(false, what + "what write_word2vec wrote does not read back: " + e.what());
    return;
  }
  const auto n = static_cast<size_t>(wv.vectors.numel());
  check(back.words == wv.words, what + "other words");
  check(back.vectors.sizes() == wv.vectors.sizes() &&
            std::memcmp(back.vectors.data_ptr<float>(), wv.vectors.data_ptr<float>(), 4 * n) == 0,
        what + "other values");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  const int64_t limit = mode & 3;
  std::string file;
  if (mode & 4) {
    if (size < 3) return 0;
    file = std::to_string(1 + data[1] % 8) + " " + std::to_string(1 + data[2] % 8) + "\n";
    file.append(reinterpret_cast<const char*>(data) + 3, size - 3);
  } else {
    file.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  }
  // No extension: the format is given.
  const std::string path = write_file("vectors", file);
  for (auto format :
       {rnnlab::datasets::VectorsFormat::kText, rnnlab::datasets::VectorsFormat::kBinary}) {
    guarded([&] {
      auto wv = rnnlab::datasets::read_word2vec(path, format, limit);
      check(wv.vectors.defined() && wv.vectors.dim() == 2 && wv.vectors.size(0) == wv.size(),
            "vectors do not match the words");
      check(limit == 0 || wv.size() <= limit, "limit not respected");
      for (int64_t i = 0; i < wv.size(); ++i)
        check(wv.find(wv.words[static_cast<size_t>(i)]) == i, "index disagrees with words");
      round_trip(wv, false);
      round_trip(wv, true);
    });
  }
  return 0;
}
