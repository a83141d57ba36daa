// Word vectors in word2vec's file formats: what word2vec.c writes (and its
// distance / compute-accuracy tools read) and what gensim's
// KeyedVectors.load_word2vec_format / save_word2vec_format read and write.
//
// Both formats start with a text header line "V D\n" (V words, D dimensions),
// then one record per word, in the file's order (for word2vec-written files:
// most frequent first):
//   text:   "word v1 v2 ... vD\n", the values as decimal numbers;
//   binary: "word " then D little-endian IEEE float32 (4*D bytes), then "\n"
//           in word2vec.c's files; gensim 4.2's save_word2vec_format writes no
//           "\n" there. Both tools read either.
//
// Typical use:
//   WordVectors wv = read_word2vec("vectors.bin");      // text or binary, detected
//   int64_t i = wv.find("king");                        // -1 if absent
//   torch::Tensor v = wv.vectors[i];                    // (D) float32
//   write_word2vec(wv, "vectors.txt", /*binary=*/false);
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rnnlab::data {

/// A vocabulary of words with one dense vector each.
struct WordVectors {
  /// The words, in file order (row i of `vectors` is words[i]). No two are equal.
  std::vector<std::string> words;
  /// (V, D) float32, contiguous, on the CPU.
  torch::Tensor vectors;
  /// words[i] -> i.
  std::unordered_map<std::string, int64_t> index;

  /// D, the number of dimensions (0 if `vectors` is undefined).
  int64_t dim() const { return vectors.defined() ? vectors.size(1) : 0; }
  /// V, the number of words.
  int64_t size() const { return static_cast<int64_t>(words.size()); }
  /// The row of `word`, or -1 if it is not in the vocabulary (exact,
  /// case-sensitive match).
  int64_t find(std::string_view word) const;
};

/// Builds a WordVectors from `words` and their (V, D) `vectors` (any floating
/// dtype; stored as contiguous float32 on the CPU) and fills `index`.
/// Throws std::invalid_argument if the shapes disagree, D < 1, or a word is
/// repeated.
WordVectors make_word_vectors(std::vector<std::string> words, torch::Tensor vectors);

/// Writes `wv` to `path` in word2vec's text (`binary` false) or binary format.
///   text:   "V D\n", then per word "word v1 ... vD\n": values separated by
///           one space, no trailing space, each the shortest decimal that reads
///           back as the same float32 (std::to_chars; what gensim writes with
///           repr() of a numpy float32), so a text round trip is exact too.
///   binary: "V D\n", then per word "word ", the D float32 little-endian, "\n"
///           (as word2vec.c writes it; gensim reads it).
/// The text output is byte for byte what gensim 4.2 writes for the same
/// vectors (checked on a 3,724 x 50 model).
/// The file is written to "<path>.tmp.<pid>" and renamed onto `path`, so a
/// reader never sees a partial file; on failure the temporary is removed.
/// Throws RuntimeError if the vocabulary is empty, a word is empty, contains
/// whitespace (' ', \t, \n, \r, \v, \f: the formats cannot hold it; the
/// message names the word), is repeated, or has a non-finite value, and if the
/// file cannot be written ("cannot write '<path>': <reason>"). Throws
/// std::invalid_argument if `wv.vectors` is not (V, D) with V = words.size().
void write_word2vec(const WordVectors& wv, const std::string& path, bool binary);

/// Reads a word2vec file, text or binary, detected from its content.
///   limit: 0 reads every word; N > 0 reads only the first N words (gensim's
///     limit=): the file is read no further, and the result has min(N, V) rows.
///
/// Detection, after the header, on the first record: the first word is read
/// up to its space, then the next 4*D bytes (what a binary vector takes) are
/// examined, in this order:
///  1. a control byte other than \t \n \r among them: binary (a float32
///     vector nearly always has one; text never does);
///  2. the rest of the first line is whitespace-separated numbers: text;
///  3. the byte after those 4*D bytes is "\n" or the end of the file (where
///     word2vec.c puts the newline after a vector): binary;
///  4. those bytes are valid UTF-8: text (a text file whose first line has a
///     bad value, reported as such); otherwise binary.
/// Only a binary file with very few dimensions (D of 1 or 2) can be misread
/// as text, when its first vector's bytes happen to spell "<digits>\n"; it
/// then fails with an error rather than loading wrongly.
///
/// Tolerated, as real files have them: "\r\n" line ends; spaces or tabs
/// around and between values (word2vec.c ends each text line with a space);
/// no final newline; binary records with or without the "\n" after the vector
/// (whitespace before a binary word is skipped); anything after the V-th
/// record is ignored only if it is whitespace.
///
/// Values are parsed with std::from_chars (locale-independent); a value that
/// underflows float32 reads as its nearest float (0 or a subnormal).
///
/// A repeated word is an error (gensim keeps the first and warns): `index`
/// must be unambiguous, and a file with a repeated word is usually a broken
/// one. Words must be valid UTF-8 (gensim's default unicode_errors='strict').
///
/// Throws DataError, one line naming the file and the 1-based line (text) or
/// word number (binary):
///   "cannot open '<path>': <reason>"
///   "<path>:1: bad header '<line>': expected 'V D' (two positive integers)"
///   "<path>:5: expected 100 values after 'king', got 99"            (text)
///   "<path>:5: value 3 of 'king' is not a number: '0.1x'"           (text)
///   "<path>:5: value 3 of 'king' is not finite: 'nan'"              (text)
///   "<path>: word 3 of 10: value 7 of 'king' is not finite"         (binary)
///   "<path>: word 3 of 10: the file ends inside its vector"         (binary)
///   "<path>: word 3 of 10: the file ends inside the word"           (binary)
///   "<path>: the file ends after 7 of the 10 words its header promises"
///   "<path>:9: duplicate word 'king' (first at line 5)"             (text)
///   "<path>: word 9 of 10: duplicate word 'king' (first is word 5)" (binary)
///   "<path>:5: word is not valid UTF-8"                             (text)
///   "<path>:12: more lines than the 10 words the header promises"   (text)
///   "<path>: more bytes after the 10 words the header promises"     (binary)
/// Throws ConfigError if limit < 0.
WordVectors read_word2vec(const std::string& path, int64_t limit = 0);

}  // namespace rnnlab::data
