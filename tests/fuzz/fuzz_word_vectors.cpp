// libFuzzer target: the word-vectors reader (read_word2vec, text and binary,
// detected from the content), datasets/word_vectors.h.
//
// Input: byte 0 = mode. limit = b & 3 (0: all words).
//   bit 2 clear: the rest is the whole file (seeds hold text and binary files).
//   bit 2 set:   a header "V D\n" is made from bytes 1 and 2 (V = 1 + b1 % 8,
//                D = 1 + b2 % 8) and the rest follows it: binary records
//                (word, ' ', 4*D raw bytes) are then easy to reach.
// Invariant: a file that reads writes back (text and binary) and reads back
// to the same words and the same float bits.
#include <cstdint>
#include <charconv>
#include <cstring>
#include <system_error>
#include <string>

#include "datasets/text_file.h"
#include "datasets/word_vectors.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void round_trip(const rnnlab::data::WordVectors& wv, bool binary) {
  using namespace rnnlab::fuzz;
  const std::string path = scratch_dir() + (binary ? "/out.bin" : "/out.txt");
  try {
    rnnlab::data::write_word2vec(wv, path, binary);
  } catch (const rnnlab::RuntimeError&) {
    return;  // words the formats cannot hold (documented)
  }
  // read_word2vec's detection (rules 1 and 2) takes a binary file for text when the first vector's
  // 4*D bytes hold no control byte but \t \n \r and its first line is "word <numbers>". The header
  // documents this for D <= 2 only; for D > 2 it is a reported defect
  // (regressions/word_vectors/binary_round_trip_printable_vector), skipped while RNNLAB_FUZZ_KNOWN
  // names "word_vectors-printable-vector".
  bool printable = true;
  const auto* first = reinterpret_cast<const unsigned char*>(wv.vectors.data_ptr<float>());
  for (int64_t k = 0; k < 4 * wv.dim(); ++k)
    if ((first[k] < 0x20 && first[k] != '\t' && first[k] != '\n' && first[k] != '\r') ||
        first[k] == 0x7f)
      printable = false;
  // Rule 1 also looks past the first line: a control byte in a later word (a NUL, \x01...) within
  // 4*D bytes makes a text file binary. Reported (regressions/word_vectors/
  // text_round_trip_control_byte_in_word); skipped while RNNLAB_FUZZ_KNOWN names
  // "word_vectors-control-in-word".
  bool control_in_word = false;
  for (const auto& w : wv.words)
    for (unsigned char ch : w)
      if (ch < 0x20 || ch == 0x7f) control_in_word = true;
  const bool ambiguous =
      (binary && printable && (wv.dim() <= 2 || known("word_vectors-printable-vector"))) ||
      (!binary && control_in_word && known("word_vectors-control-in-word"));
  rnnlab::data::WordVectors back;
  try {
    back = rnnlab::data::read_word2vec(path);
  } catch (const rnnlab::Error& e) {
    if (ambiguous) return;
    check(false, std::string(binary ? "binary" : "text") +
                     " round trip: what write_word2vec wrote does not read back: " + e.what());
    return;
  }
  const auto n = static_cast<size_t>(wv.vectors.numel());
  const bool same = back.words == wv.words && back.vectors.sizes() == wv.vectors.sizes() &&
                    std::memcmp(back.vectors.data_ptr<float>(), wv.vectors.data_ptr<float>(), 4 * n) == 0;
  if (ambiguous && !same) return;
  check(back.words == wv.words, std::string(binary ? "binary" : "text") + " round trip: other words");
  check(back.vectors.sizes() == wv.vectors.sizes() &&
            std::memcmp(back.vectors.data_ptr<float>(), wv.vectors.data_ptr<float>(), 4 * n) == 0,
        std::string(binary ? "binary" : "text") + " round trip: other values");
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
  // A reported defect (regressions/word_vectors/header_dim_overflow: D >= 2^62 overflows 2*D+1, a
  // UBSan report that cannot be let through): skipped while RNNLAB_FUZZ_KNOWN names it.
  if (known("word_vectors-dim-overflow")) {
    std::string_view head(file);
    head = head.substr(0, head.find('\n'));
    std::vector<std::string_view> f;
    rnnlab::data::split_fields(head, f);
    int64_t d = 0;
    if (f.size() == 2) {
      auto [p, ec] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), d);
      if (ec == std::errc() && d >= (int64_t{1} << 62)) return 0;
    }
  }
  const std::string path = write_file("vectors.bin", file);
  guarded([&] {
    auto wv = rnnlab::data::read_word2vec(path, limit);
    check(wv.vectors.defined() && wv.vectors.dim() == 2 && wv.vectors.size(0) == wv.size(),
          "vectors do not match the words");
    check(limit == 0 || wv.size() <= limit, "limit not respected");
    for (int64_t i = 0; i < wv.size(); ++i)
      check(wv.find(wv.words[static_cast<size_t>(i)]) == i, "index disagrees with words");
    round_trip(wv, false);
    round_trip(wv, true);
  });
  return 0;
}
