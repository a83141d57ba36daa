// Word vectors as the start of a model's embedding (see vectors.h).
#include "apps/framework/vectors.h"

#include <fmt/format.h>

#include <cctype>

#include "core/error.h"
#include "datasets/vocab.h"

namespace rnnlab {

void bind_vectors(ConfigSchema& s, const std::string& prefix, std::string* path,
                  std::string* format, const std::string& without) {
  s.add(prefix + ".vectors", path,
        "word2vec file (text or binary) to initialise the embedding from, relative to the "
        "current directory (\"\": " +
            without + ")");
  s.add(prefix + ".vectors_format", format,
        "how " + prefix +
            ".vectors is written: text or binary (word2vec's -binary 0 / 1, gensim's binary=), "
            "or auto: by the file name (.bin: binary; .txt, .vec: text)")
      .choices({"auto", "text", "binary"});
}

void validate_vectors(const ConfigSchema& s, const std::string& prefix, const std::string& path,
                      const std::string& format, const std::string& tokenizer_type) {
  if (path.empty()) return;
  if (tokenizer_type != "word")
    throw s.error(prefix + ".vectors",
                  "word vectors need data.tokenizer.type: word (it is '" + tokenizer_type + "')");
  if (format == "auto" && datasets::vectors_format_by_name(path) == datasets::VectorsFormat::kAuto)
    throw s.error(prefix + ".vectors_format",
                  "auto cannot tell from the name '" + path +
                      "' whether the vectors are text or binary (.bin: binary; .txt, .vec: "
                      "text); set text or binary");
}

VocabularyVectors vocabulary_vectors(const datasets::Tokenizer& tokenizer,
                                     const datasets::WordVectors& wv, int64_t dim,
                                     const std::string& path, const std::string& dim_key) {
  if (wv.dim() != dim)
    throw DataError(
        fmt::format("{}:1: the vectors have {} dimensions, the model's embedding {} (set {}: {})",
                    path, wv.dim(), dim, dim_key, wv.dim()));
  const int64_t V = tokenizer.vocab_size();
  VocabularyVectors out;
  out.rows = torch::zeros({V, dim});
  out.covered.assign(static_cast<size_t>(V), false);
  for (int64_t id = datasets::Vocab::kEos + 1; id < V; ++id) {
    const std::string word = tokenizer.id_to_piece(id);
    int64_t row = wv.find(word);
    if (row < 0) {
      std::string lower = word;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      row = wv.find(lower);
      // Kim's cleaning keeps quotes on words ('comedian'); the vectors rarely do.
      const size_t first = lower.find_first_not_of("'`"), last = lower.find_last_not_of("'`");
      if (row < 0 && first != std::string::npos && (first > 0 || last + 1 < lower.size()))
        row = wv.find(lower.substr(first, last - first + 1));
    }
    if (row < 0) continue;
    out.rows[id] = wv.vectors[row];
    out.covered[static_cast<size_t>(id)] = true;
    ++out.count;
  }
  return out;
}

}  // namespace rnnlab
