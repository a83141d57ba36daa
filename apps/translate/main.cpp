// rnnlab-translate: sequence-to-sequence translation with attention.
//   rnnlab-translate train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-translate translate --run DIR [--beam K] [--attention-plot OUT.svg]  (stdin -> stdout)
//   rnnlab-translate eval --run DIR --src FILE --ref FILE [--beam K]
//   rnnlab-translate score --hyp FILE --ref FILE
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "apps/framework/checkpoint.h"
#include "apps/framework/experiment.h"
#include "apps/framework/torch_export.h"
#include "apps/translate/bleu.h"
#include "apps/translate/task.h"
#include "core/error.h"
#include "datasets/text_file.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::translate;

namespace {

int train(const TrainArgs& args) {
  return train_command<TranslateConfig, TranslateJob>(args);
}

/// A trained translation model loaded back from its run directory, with its
/// tokenizers and the longest training source (the decoding length limit).
struct LoadedRun : rnnlab::LoadedRun<TranslateConfig, Seq2Seq> {
  Tokenizers tok;
  int64_t longest_train_source = 0;
};

std::unique_ptr<LoadedRun> load_run(const RunChoice& choice) {
  auto run = open_run<LoadedRun>(choice);
  run->tok = Tokenizers::load(run->trained.dir);
  run->longest_train_source = read_longest_train_source(run->trained.dir);
  run->load_model([&] {
    return build_model(run->cfg, run->tok.src->vocab_size(), run->tok.tgt->vocab_size());
  });
  return run;
}

/// A heatmap of one sentence's attention: source tokens across, target
/// tokens down, drawn by gnuplot into `out` (.svg); the data and script are
/// kept beside it (out.dat, out.gp).
void plot_attention(const LoadedRun& run, const std::string& source, const Hypothesis& hyp,
                    const std::string& out) {
  std::vector<std::string> src = run.tok.src->pieces(source);
  std::vector<std::string> tgt;
  for (int64_t id : hyp.tokens) {
    std::string piece = run.tok.tgt->id_to_piece(id);
    const std::string space = "\xE2\x96\x81";  // sentencepiece's word-start mark
    if (piece.rfind(space, 0) == 0) piece = piece.substr(space.size());
    tgt.push_back(piece);
  }
  tgt.push_back("</s>");
  fs::path svg = fs::absolute(out);
  std::string dat = svg.string() + ".dat", gp = svg.string() + ".gp";
  {
    std::ofstream d(dat);
    for (const auto& row : hyp.attention) {
      for (size_t j = 0; j < src.size() && j < row.size(); ++j) d << (j ? " " : "") << row[j];
      d << "\n";
    }
  }
  std::string xt, yt;
  for (size_t j = 0; j < src.size(); ++j)
    xt += fmt::format("{}{} {}", j ? ", " : "", gnuplot_quote(src[j]), j);
  for (size_t i = 0; i < tgt.size(); ++i)
    yt += fmt::format("{}{} {}", i ? ", " : "", gnuplot_quote(tgt[i]), i);
  std::ofstream g(gp);
  g << "set terminal svg size " << 200 + 40 * src.size() << "," << 150 + 30 * tgt.size()
    << " font 'sans,11'\n"
    << "set output " << gnuplot_quote(svg.string()) << "\n"
    << "set xtics (" << xt << ") rotate by 45 right\nset ytics (" << yt << ")\n"
    << "set yrange [" << tgt.size() << "-0.5:-0.5]\nset xrange [-0.5:" << src.size()
    << "-0.5]\nset cbrange [0:1]\nset palette grey negative\nset xlabel 'source'\n"
    << "set ylabel 'translation'\nset title 'attention'\n"
    << "plot " << gnuplot_quote(dat) << " matrix with image pixels notitle\n";
  g.close();
  if (!run_gnuplot(gp, svg.parent_path()))
    throw RuntimeError("gnuplot could not draw " + svg.string() +
                       " (is it installed?); the data "
                       "is in " +
                       dat);
}

void print_scores(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  std::cout << fmt::format("BLEU = {:.2f}\nchrF = {:.2f}\n", corpus_bleu(hyps, {refs}).score,
                           corpus_chrf(hyps, {refs}).score);
}

void check_same_length(const std::vector<std::string>& a, const std::string& a_name,
                       const std::vector<std::string>& b, const std::string& b_name) {
  if (a.size() != b.size())
    throw DataError("line-aligned files differ in length: " + a_name + " has " +
                    std::to_string(a.size()) + " lines, " + b_name + " has " +
                    std::to_string(b.size()));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-translate: sequence-to-sequence translation with attention",
               "rnnlab-translate"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd = add_train_command(cli, train_args, "train a translation model");

  RunChoice choice;
  std::string attention_plot, src_file, ref_file, hyp_file;
  int64_t beam = 0;
  auto add_run = [&](CLI::App* cmd) {
    add_run_options(cmd, choice, "translation model");
    cmd->add_option("--beam", beam, "beam size (default: the run's decode.beam; 1: greedy)")
        ->check(CLI::Range(1, 1000));
  };
  CLI::App* tr_cmd = cli.add_subcommand(
      "translate", "translate stdin, one sentence per line, to stdout, one line each");
  add_run(tr_cmd);
  tr_cmd->add_option("--attention-plot", attention_plot,
                     "draw the first sentence's attention as a heatmap into this .svg");
  CLI::App* eval_cmd = cli.add_subcommand("eval", "translate a file and print BLEU and chrF");
  add_run(eval_cmd);
  eval_cmd->add_option("--src", src_file, "source sentences, one per line")->required();
  eval_cmd->add_option("--ref", ref_file, "reference translations, line-aligned")->required();
  CLI::App* score_cmd = cli.add_subcommand("score", "BLEU and chrF of given translations");
  score_cmd->add_option("--hyp", hyp_file, "translations, one per line")->required();
  score_cmd->add_option("--ref", ref_file, "reference translations, line-aligned")->required();

  ExportArgs exp_args;
  CLI::App* exp_cmd = add_export_command(cli, exp_args, "translation model");

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*train_cmd) return train(train_args);
    if (*exp_cmd) {
      auto run = load_run(exp_args.run);
      check_export_out(run->trained, exp_args.out);
      const auto& m = run->cfg.model;
      const bool joint = run->tok.src == run->tok.tgt;
      const fs::path& dir = run->trained.dir;
      nlohmann::json info = {
          {"app", "rnnlab-translate"},
          {"source_tokenizer",
           export_tokenizer(*run->tok.src, dir / (joint ? "tokenizer" : "tokenizer_src"),
                            exp_args.out, ".src_vocab.json")},
          {"target_tokenizer",
           export_tokenizer(*run->tok.tgt, dir / (joint ? "tokenizer" : "tokenizer_tgt"),
                            exp_args.out, ".tgt_vocab.json")},
          {"attention", m.attention},
          {"input_feeding", m.input_feeding},
          {"tie_embeddings", m.tie_embeddings},
          {"forward",
           "encoder over src_embedding(source ids); the decoder's first state from bridge_h "
           "(and bridge_c) of the encoder's final states; each step: decoder over "
           "tgt_embedding(previous target)" +
               std::string(m.input_feeding ? " and the previous attentional vector" : "") +
               ", attention (" + m.attention +
               ": key_proj, query_proj, score_v as it uses them) over the encoder's outputs, "
               "attentional vector = tanh(combine([context; h])), logits = output(it)"}};
      write_export(torch_export(*run->model, torch_naming(run->model)), info, run->trained,
                   exp_args.out,
                   {export_sibling(exp_args.out, ".src_vocab.json"),
                    export_sibling(exp_args.out, ".tgt_vocab.json")});
      return 0;
    }
    if (*score_cmd) {
      auto hyps = datasets::read_lines(hyp_file);
      auto refs = datasets::read_lines(ref_file);
      check_same_length(hyps, hyp_file, refs, ref_file);
      check_references(refs, ref_file);
      print_scores(hyps, refs);
      return 0;
    }
    auto run = load_run(choice);
    DecodeOptions opt =
        run->cfg.decode_options(beam > 0 ? beam : run->cfg.decode.beam, run->longest_train_source);
    if (*tr_cmd) {
      std::vector<std::string> lines = datasets::read_stream_lines(std::cin, "<stdin>");
      std::vector<Hypothesis> hyps;
      auto out = translate_texts(run->model, run->tok, lines, opt, run->cfg.data.eval_batch_size,
                                 run->device, attention_plot.empty() ? nullptr : &hyps);
      for (const auto& line : out) std::cout << line << "\n";
      std::cout.flush();
      if (!attention_plot.empty()) {
        for (size_t i = 0; i < lines.size(); ++i)
          if (!hyps[i].attention.empty()) {
            plot_attention(*run, lines[i], hyps[i], attention_plot);
            break;
          }
      }
      return 0;
    }
    if (*eval_cmd) {
      auto src = datasets::read_lines(src_file);
      auto refs = datasets::read_lines(ref_file);
      check_same_length(src, src_file, refs, ref_file);
      check_references(refs, ref_file);
      auto start = std::chrono::steady_clock::now();
      auto hyps = translate_texts(run->model, run->tok, src, opt, run->cfg.data.eval_batch_size,
                                  run->device);
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      print_scores(hyps, refs);
      std::cout << fmt::format("decoded {} sentences in {:.1f} s: {:.1f} sentences/s (beam {})\n",
                               src.size(), seconds, static_cast<double>(src.size()) / seconds,
                               opt.beam);
      return 0;
    }
    return 2;
  });
}
