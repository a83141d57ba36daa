// Word vectors (a word2vec file) as the start of a model's embedding: the
// model.vectors keys, declared once for every app, and the rows of a
// vocabulary found in a vectors file.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "apps/framework/config.h"
#include "datasets/tokenizer.h"
#include "datasets/word_vectors.h"

namespace rnnlab {

/// Declares `<prefix>.vectors` (a word2vec file) and `<prefix>.vectors_format`;
/// `without` says what the embedding starts as when no file is given.
void bind_vectors(ConfigSchema& s, const std::string& prefix, std::string* path,
                  std::string* format, const std::string& without);

/// Config errors (naming the key): vectors for a tokenizer that is not
/// word-level (`tokenizer_type`), and a format that `auto` cannot tell from
/// the file's name.
void validate_vectors(const ConfigSchema& s, const std::string& prefix, const std::string& path,
                      const std::string& format, const std::string& tokenizer_type);

/// The rows of an embedding table for `tokenizer`'s vocabulary.
struct VocabularyVectors {
  torch::Tensor rows;         // (V, D): the word's vector where covered, else 0
  std::vector<bool> covered;  // (V): whether row v came from the file
  int64_t count = 0;          // how many rows did
};

/// Looks each vocabulary word up in `wv` (read from `path`): as written, then
/// lower-cased, then without the quotes around it ('comedian', as Kim's
/// cleaning leaves them). The special ids (<pad>, <unk>, <bos>, <eos>) are
/// never covered. DataError naming the file when the vectors do not have
/// `dim` dimensions; `dim_key` is the key that sets the model's size.
VocabularyVectors vocabulary_vectors(const datasets::Tokenizer& tokenizer,
                                     const datasets::WordVectors& wv, int64_t dim,
                                     const std::string& path, const std::string& dim_key);

}  // namespace rnnlab
