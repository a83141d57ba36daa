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
// The format is never guessed from the bytes (a binary vector can spell
// text, and a text word can hold any byte but whitespace): it is given, as
// gensim's binary=True/False and word2vec.c's -binary, or told by the file
// name (VectorsFormat::kAuto: ".bin" binary, ".txt" / ".vec" text).
//
// Typical use:
//   WordVectors wv = read_word2vec("vectors.bin");       // binary, by its name
//   WordVectors wv2 = read_word2vec("glove.6B.50d", VectorsFormat::kText);
//   int64_t i = wv.find("king");                         // -1 if absent
//   torch::Tensor v = wv.vectors[i];                     // (D) float32
//   write_word2vec(wv, "vectors.txt", /*binary=*/false);
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rnnlab::datasets {

/// How the records after the "V D" header are written.
enum class VectorsFormat {
  kAuto,    ///< told by the file name: ".bin" binary; ".txt", ".vec" text (any case)
  kText,    ///< "word v1 ... vD\n"
  kBinary,  ///< "word " then D float32
};

/// "auto", "text" or "binary" (a config key's or option's value) as a format.
/// Throws ConfigError "vectors format must be auto, text or binary, got '<name>'".
VectorsFormat parse_vectors_format(std::string_view name);

/// "auto", "text" or "binary".
const char* vectors_format_name(VectorsFormat format);

/// The format `path`'s file name tells: kBinary for a ".bin" extension, kText
/// for ".txt" or ".vec" (any case), kAuto for any other name.
VectorsFormat vectors_format_by_name(std::string_view path);

/// `format` if it is kText or kBinary, else what the file name tells. Throws
/// ConfigError "'<path>': the file name does not tell whether the vectors are
/// text or binary (.bin: binary; .txt, .vec: text); give the format" if
/// neither does.
VectorsFormat resolve_vectors_format(const std::string& path, VectorsFormat format);

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
///
/// Every file it writes, read_word2vec reads back identically in the same
/// format (the same words, the same bits of every float): a word may hold any
/// valid UTF-8, control characters (U+0005, a NUL...) included, but not
/// whitespace. Throws RuntimeError, one line naming the word's 1-based
/// index, "cannot write '<path>': word 3 ('new york') <reason>", if a word is
/// empty, contains whitespace (' ', \t, \n, \r, \v, \f: a reader would split
/// the word there), is not valid UTF-8 (the readers refuse it, as gensim
/// does), repeats an earlier word, or has a non-finite value; if the
/// vocabulary is empty; and if the file cannot be written
/// ("cannot write '<path>': <reason>"). Nothing is written then. Throws
/// std::invalid_argument if `wv.vectors` is not (V, D) with V = words.size().
void write_word2vec(const WordVectors& wv, const std::string& path, bool binary);

/// Reads a word2vec file in `format` (kAuto: as its name tells, see
/// resolve_vectors_format; ConfigError if it does not).
///   limit: 0 reads every word; N > 0 reads only the first N words (gensim's
///     limit=): the file is read no further, and the result has min(N, V) rows.
///
/// A file read in the wrong format fails with one of the errors below in
/// nearly every case; a text file read as binary can only load if its bytes
/// happen to form V binary records of finite floats.
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
/// word number (binary); file content in it (a word, a value, the header) is
/// quoted with control characters and bytes that are not UTF-8 as \xNN:
///   "cannot open '<path>': <reason>"
///   "<path>:1: bad header '<line>': expected 'V D' (two positive integers)"
///   "<path>:5: expected 100 values after 'king', got 99"            (text)
///   "<path>:5: value 3 of 'king' is not a number: '0.1x'"           (text)
///   "<path>:5: value 3 of 'king' is not finite: 'nan'"              (text)
///   "<path>: word 3 of 10: value 7 of 'king' is not finite"         (binary)
///   "<path>: word 3 of 10: the file ends inside its vector"         (binary)
///   "<path>: word 3 of 10: the file ends inside the word"           (binary)
///   "<path>: word 3 of 10: bad word 'ab\x0a' (a line break or tab before its
///    space: is the file text, or the header's D = 300 wrong?)"      (binary)
///   "<path>: the file ends after 7 of the 10 words its header promises"
///   "<path>:9: duplicate word 'king' (first at line 5)"             (text)
///   "<path>: word 9 of 10: duplicate word 'king' (first is word 5)" (binary)
///   "<path>:5: word is not valid UTF-8"                             (text)
///   "<path>:12: more lines than the 10 words the header promises"   (text)
///   "<path>: more bytes after the 10 words the header promises"     (binary)
/// Throws ConfigError if limit < 0, or if `format` is kAuto and the name
/// does not tell the format.
WordVectors read_word2vec(const std::string& path, VectorsFormat format = VectorsFormat::kAuto,
                          int64_t limit = 0);

}  // namespace rnnlab::datasets
