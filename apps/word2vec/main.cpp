// rnnlab-word2vec: word vectors, trained and evaluated as word2vec's users know it.
//   rnnlab-word2vec train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-word2vec normalize  --in FILE --out FILE
//   rnnlab-word2vec neighbors  --vectors FILE [--format F] [-k N] WORD... [-- WORD...]
//   rnnlab-word2vec analogy    --vectors FILE [--format F] --questions FILE [--restrict N]
//   rnnlab-word2vec similarity --vectors FILE [--format F] --pairs FILE [--score-column C]
//                              [--restrict N]
// FILE is a word2vec text or binary file, from rnnlab, word2vec.c, gensim or
// fastText; --format text|binary says which, auto (the default) goes by the
// name (.bin: binary; .txt, .vec: text). A run directory's vectors are
// RUN/vectors.bin and RUN/vectors.txt.
// neighbors takes its words byte for byte ("[and]" is one word, never a
// list); a word that starts with '-' goes after "--", which ends the options.
#include <fmt/format.h>

#include <iostream>
#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/framework/experiment.h"
#include "apps/framework/run_dir.h"
#include "apps/framework/torch_export.h"
#include "apps/word2vec/evaluate.h"
#include "apps/word2vec/task.h"
#include "datasets/word2vec_corpus.h"
#include "datasets/word_vectors.h"

using namespace rnnlab;
namespace fs = std::filesystem;

namespace {

datasets::WordVectors load(const std::string& path, const std::string& format) {
  const datasets::VectorsFormat f = datasets::parse_vectors_format(format);
  if (f == datasets::VectorsFormat::kAuto &&
      datasets::vectors_format_by_name(path) == datasets::VectorsFormat::kAuto)
    throw UsageError("--vectors '" + path +
                     "': the name does not tell whether the file is text or binary (.bin: "
                     "binary; .txt, .vec: text); give --format text or --format binary");
  return datasets::read_word2vec(path, f);
}

// neighbors' words, taken out of the command line before CLI11 parses it:
// CLI11 would read "[a,b]" as a list of two words, and would end the
// subcommand at a "--" after a word. `args` are the arguments after the
// subcommand's name. An argument that is one of `sub`'s options (-k, -k5,
// --vectors, --vectors=V, --help) stays in `options`, with the value that
// follows it if the option takes one; one that starts with '-' and is no
// option stays there too (CLI11 then reports it); every other argument, and
// every argument after the first "--", is a word, kept as it is.
struct SplitArgs {
  std::vector<char*> options;
  std::vector<std::string> words;
};

SplitArgs split_words(const CLI::App& sub, const std::vector<char*>& args) {
  SplitArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    if (arg == "--") {
      for (size_t j = i + 1; j < args.size(); ++j) out.words.emplace_back(args[j]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      out.words.push_back(arg);
      continue;
    }
    out.options.push_back(args[i]);
    // "--name=value" and "-kVALUE" carry their value; "--name" and "-k" take the next argument.
    const bool bare =
        arg.rfind("--", 0) == 0 ? arg.find('=') == std::string::npos : arg.size() == 2;
    const CLI::Option* opt = bare ? sub.get_option_no_throw(arg) : nullptr;
    if (opt && opt->get_items_expected_min() > 0 && i + 1 < args.size())
      out.options.push_back(args[++i]);
  }
  return out;
}

int train(const TrainArgs& args) {
  return train_command<word2vec::W2VConfig, word2vec::W2VJob>(args);
}

/// A trained word2vec run: its config, and the model rebuilt over the
/// vocabulary of its corpus.
struct LoadedW2V {
  word2vec::W2VConfig cfg;
  ConfigSchema schema;
  TrainedRun trained;
  datasets::WordVocab vocab;
  word2vec::Word2VecModel model;
};

/// `export`: syn0 as `input.weight` and syn1neg (syn1 of hierarchical
/// softmax) as `output.weight` (`output_hs.weight`): torch.nn.Embedding
/// tables whose row i is the word at line i of FILE.vocab.json.
int export_model(const ExportArgs& args) {
  LoadedW2V run;
  run.cfg.bind(run.schema);
  run.trained = open_trained_run(run.schema, run.cfg.run, args.run);
  check_export_out(run.trained, args.out);
  run.vocab = word2vec::corpus_vocabulary(run.cfg).second;
  run.model = word2vec::build_model(run.cfg, run.vocab);
  load_trained_model(run.model.module(), run.trained);
  TorchNaming naming;
  for (const auto& p : run.model.module().named_parameters(/*recurse=*/false)) {
    naming.renames.emplace_back(p.key(), p.key() + ".weight");
    naming.modules[p.key()] = {
        {"class", "Embedding"},
        {"args", {{"num_embeddings", p.value().size(0)}, {"embedding_dim", p.value().size(1)}}}};
  }
  const fs::path vocab_file = export_sibling(args.out, ".vocab.json");
  write_file_atomic(vocab_file, nlohmann::json(run.vocab.words).dump() + "\n");
  nlohmann::json info = {
      {"app", "rnnlab-word2vec"},
      {"arch", run.cfg.model.arch},
      {"vocabulary", vocab_file.filename().string()},
      {"counts", run.vocab.counts},
      {"forward",
       "input.weight[i] is word i's vector (syn0, what vectors.bin holds); output.weight "
       "(negative sampling's syn1neg) or output_hs.weight (hierarchical softmax's syn1, one row "
       "per inner node of the Huffman tree) scores contexts"}};
  write_export(torch_export(run.model.module(), naming), info, run.trained, args.out, {vocab_file});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-word2vec: skip-gram and CBOW word vectors, trained and evaluated",
               "rnnlab-word2vec"};
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

  std::string vectors, format = "auto", questions, pairs;
  std::vector<std::string> words, stray;
  const char* format_help =
      "how --vectors is written: text or binary (word2vec's -binary 0 / 1, gensim's binary=); "
      "auto: by the name (.bin: binary; .txt, .vec: text)";
  auto add_format = [&](CLI::App* sub) {
    sub->add_option("--format", format, format_help)
        ->check(CLI::IsMember({"auto", "text", "binary"}))
        ->capture_default_str();
  };
  int64_t k = 10, restrict_vocab = 30000, sim_restrict = 300000, score_column = 3;
  CLI::App* nb = cli.add_subcommand("neighbors", "the nearest words by cosine similarity");
  nb->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  add_format(nb);
  nb->add_option("-k", k, "neighbours per word")->check(CLI::Range(1, 1000000));
  // For --help only: split_words takes the words before CLI11 parses.
  nb->add_option("words", stray,
                 "words to look up, exact, case-sensitive and byte for byte ('[and]' is one "
                 "word); before or after the options");
  nb->footer(
      "A word that starts with '-' goes after '--', which ends the options: every argument "
      "after it is a word, '--' too:\n  rnnlab-word2vec neighbors --vectors V.bin -k 5 king -- "
      "-lrb- --");

  CLI::App* an = cli.add_subcommand(
      "analogy", "a : b :: c : ? accuracy (3CosAdd), per section and total, as compute-accuracy");
  an->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  add_format(an);
  an->add_option("--questions", questions, "questions-words.txt format")->required();
  an->add_option("--restrict", restrict_vocab,
                 "use the first N words of the file, the most frequent (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));

  CLI::App* sm = cli.add_subcommand(
      "similarity",
      "Spearman correlation of cosines with human scores (WordSim-353, SimLex-999, RW)");
  sm->add_option("--vectors", vectors, "word2vec text or binary file")->required();
  add_format(sm);
  sm->add_option("--pairs", pairs, "word pairs with a score: csv or tab-separated")->required();
  sm->add_option("--score-column", score_column,
                 "1-based column of the human score (SimLex-999.txt: 4)")
      ->check(CLI::Range(int64_t{3}, int64_t{1000}));
  sm->add_option("--restrict", sim_restrict, "use the first N words of the file (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));

  // neighbors' words never reach CLI11 (split_words).
  std::vector<char*> args(argv, argv + argc);
  if (argc > 1 && nb->check_name(argv[1])) {
    SplitArgs split = split_words(*nb, std::vector<char*>(argv + 2, argv + argc));
    args.resize(2);
    args.insert(args.end(), split.options.begin(), split.options.end());
    words = std::move(split.words);
  }

  ExportArgs exp_args;
  CLI::App* exp_cmd = add_export_command(cli, exp_args, "word2vec model");

  return guarded_main(cli, static_cast<int>(args.size()), args.data(), [&]() -> int {
    if (*train_cmd) return train(train_args);
    if (*exp_cmd) return export_model(exp_args);
    if (*norm) {
      std::string text = read_file(norm_in);
      write_file_atomic(norm_out, datasets::normalize_word2vec(text));
      return 0;
    }
    if (*nb) {
      if (!stray.empty())
        throw UsageError("'" + stray.front() +
                         "' is not an option of neighbors; a word that starts with '-' goes "
                         "after '--' (see --help)");
      if (words.empty()) throw UsageError("neighbors needs a WORD to look up (see --help)");
      datasets::WordVectors wv = load(vectors, format);
      // Every word is looked up before anything is printed.
      std::vector<std::vector<std::pair<std::string, double>>> found;
      for (const auto& w : words) found.push_back(word2vec::neighbors(wv, w, k));
      for (size_t i = 0; i < words.size(); ++i) {
        std::cout << words[i] << "\n";
        for (const auto& [n, cos] : found[i]) std::cout << fmt::format("  {:<24} {:.4f}\n", n, cos);
      }
      return 0;
    }
    if (*an) {
      datasets::WordVectors wv = load(vectors, format);
      word2vec::AnalogyResult r = word2vec::evaluate_analogies(wv, questions, restrict_vocab);
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
      datasets::WordVectors wv = load(vectors, format);
      word2vec::SimilarityOptions o;
      o.score_column = score_column;
      o.restrict_vocab = sim_restrict;
      word2vec::SimilarityResult r = word2vec::evaluate_similarity(wv, pairs, o);
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
