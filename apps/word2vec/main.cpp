// rnnlab-word2vec: word vectors, trained and evaluated as word2vec's users know it.
//   rnnlab-word2vec train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-word2vec normalize  --in FILE --out FILE
//   rnnlab-word2vec neighbors  --vectors FILE [-k N] WORD...
//   rnnlab-word2vec analogy    --vectors FILE --questions FILE [--restrict N]
//   rnnlab-word2vec similarity --vectors FILE --pairs FILE [--score-column C] [--restrict N]
// FILE is a word2vec text or binary file (detected), from rnnlab, word2vec.c,
// gensim or fastText; a run directory's vectors are RUN/vectors.bin.
#include <fmt/format.h>

#include <iostream>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/run_dir.h"
#include "apps/word2vec/evaluate.h"
#include "apps/word2vec/train.h"
#include "datasets/word2vec_corpus.h"
#include "datasets/word_vectors.h"

using namespace rnnlab;

namespace {

data::WordVectors load(const std::string& path) {
  return data::read_word2vec(path);
}

int train(const TrainArgs& args) {
  return train_command<w2v::W2VConfig, w2v::W2VJob>(args);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-word2vec: skip-gram and CBOW word vectors, trained and evaluated"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd = add_train_command(
      cli, train_args, "train skip-gram or CBOW vectors from a YAML config (fast or autograd)");

  std::string norm_in, norm_out;
  CLI::App* norm = cli.add_subcommand(
      "normalize",
      "write a corpus as data.normalize reads it (lower case, [a-z0-9] only), so that other "
      "tools train on identical tokens");
  norm->add_option("--in", norm_in, "text file")->required();
  norm->add_option("--out", norm_out, "normalised copy (written atomically)")->required();

  std::string vectors, questions, pairs;
  std::vector<std::string> words;
  int64_t k = 10, restrict_vocab = 30000, sim_restrict = 300000, score_column = 3;
  CLI::App* nb = cli.add_subcommand("neighbors", "the nearest words by cosine similarity");
  nb->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  nb->add_option("-k", k, "neighbours per word")->check(CLI::Range(1, 1000000));
  nb->add_option("words", words, "words to look up (exact, case-sensitive)")->required();

  CLI::App* an = cli.add_subcommand(
      "analogy", "a : b :: c : ? accuracy (3CosAdd), per section and total, as compute-accuracy");
  an->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  an->add_option("--questions", questions, "questions-words.txt format")->required();
  an->add_option("--restrict", restrict_vocab,
                 "use the first N words of the file, the most frequent (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));

  CLI::App* sm = cli.add_subcommand(
      "similarity",
      "Spearman correlation of cosines with human scores (WordSim-353, SimLex-999, RW)");
  sm->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  sm->add_option("--pairs", pairs, "word pairs with a score: csv or tab-separated")->required();
  sm->add_option("--score-column", score_column,
                 "1-based column of the human score (SimLex-999.txt: 4)")
      ->check(CLI::Range(int64_t{3}, int64_t{1000}));
  sm->add_option("--restrict", sim_restrict, "use the first N words of the file (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*train_cmd) return train(train_args);
    if (*norm) {
      std::string text = read_file(norm_in);
      write_file_atomic(norm_out, data::normalize_word2vec(text));
      return 0;
    }
    if (*nb) {
      data::WordVectors wv = load(vectors);
      // Every word is looked up before anything is printed.
      std::vector<std::vector<std::pair<std::string, double>>> found;
      for (const auto& w : words) found.push_back(w2v::neighbors(wv, w, k));
      for (size_t i = 0; i < words.size(); ++i) {
        std::cout << words[i] << "\n";
        for (const auto& [n, cos] : found[i]) std::cout << fmt::format("  {:<24} {:.4f}\n", n, cos);
      }
      return 0;
    }
    if (*an) {
      data::WordVectors wv = load(vectors);
      w2v::AnalogyResult r = w2v::evaluate_analogies(wv, questions, restrict_vocab);
      for (const auto& s : r.sections)
        std::cout << fmt::format("{:<28} {:6.2f} %  ({} / {}, {} skipped)\n", s.name,
                                 100 * s.accuracy(), s.correct, s.total, s.skipped);
      for (const auto* s : {&r.semantic, &r.syntactic, &r.overall})
        std::cout << fmt::format("{:<28} {:6.2f} %  ({} / {}, {} skipped)\n", s->name,
                                 100 * s->accuracy(), s->correct, s->total, s->skipped);
      std::cout << fmt::format("vocabulary used: the first {} words", r.vocab_used);
      if (r.malformed)
        std::cout << fmt::format("; {} malformed lines skipped (first: line {})", r.malformed,
                                 r.first_malformed_line);
      std::cout << "\n";
      return 0;
    }
    if (*sm) {
      data::WordVectors wv = load(vectors);
      w2v::SimilarityOptions o;
      o.score_column = score_column;
      o.restrict_vocab = sim_restrict;
      w2v::SimilarityResult r = w2v::evaluate_similarity(wv, pairs, o);
      std::cout << fmt::format("spearman {:.4f} : pearson {:.4f} : {} pairs, {} out of vocabulary",
                               r.spearman, r.pearson, r.pairs, r.oov);
      if (r.malformed)
        std::cout << fmt::format(" : {} malformed lines skipped (first: line {})", r.malformed,
                                 r.first_malformed_line);
      std::cout << "\n";
      return 0;
    }
    return 2;
  });
}
