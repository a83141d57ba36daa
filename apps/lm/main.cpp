// rnnlab-lm: recurrent language models.
//   rnnlab-lm train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR] [--print-config]
//   rnnlab-lm generate --run DIR [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed
//   S] rnnlab-lm eval --run DIR --text FILE
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <algorithm>
#include <iostream>

#include "apps/framework/checkpoint.h"
#include "apps/framework/experiment.h"
#include "apps/framework/torch_export.h"
#include "apps/lm/inspect.h"
#include "apps/lm/task.h"
#include "core/error.h"
#include "datasets/text_file.h"
#include "datasets/vocab.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::lm;

namespace {

int train(const TrainArgs& args) {
  return train_command<LMConfig, LMJob>(args);
}

/// A trained language model loaded back from its run directory, with its tokenizer.
struct LoadedRun : rnnlab::LoadedRun<LMConfig, LanguageModel> {
  std::unique_ptr<datasets::Tokenizer> tokenizer;
};

/// `custom`: build the hand-written recurrent stack whatever the run used (the
/// parameter names are the same, so the checkpoint loads into either).
std::unique_ptr<LoadedRun> load_run(const RunChoice& choice, bool custom = false) {
  auto run = open_run<LoadedRun>(choice);
  run->tokenizer = datasets::load_tokenizer((run->trained.dir / "tokenizer").string());
  if (custom) run->cfg.model.rnn.impl = "custom";
  run->load_model([&] { return build_model(run->cfg, run->tokenizer->vocab_size()); });
  return run;
}

/// `inspect --out` writes a new page: never the input text, and never a file
/// of the run (its checkpoints, config...) but its own inspect page.
void check_inspect_out(const std::string& out, const std::string& run_dir,
                       const std::string& text) {
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(out, ec);
  if (o == fs::weakly_canonical(text, ec))
    throw UsageError("--out '" + out + "' is the input text; name another file");
  const fs::path run = fs::weakly_canonical(run_dir, ec);
  auto [end, _] = std::mismatch(run.begin(), run.end(), o.begin(), o.end());
  if (end == run.end() && o != run / "inspect.html")
    throw UsageError("--out '" + out + "' is inside the run directory '" + run_dir +
                     "'; write elsewhere (without --out: RUN/inspect.html)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-lm: recurrent language models (characters, words, subwords)", "rnnlab-lm"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd =
      add_train_command(cli, train_args, "train a language model from a YAML config");

  RunChoice gen_run, eval_run, ins_run;
  std::string prompt;
  int64_t length = 500, top_k = 0, seed = 1;
  double temperature = 0.8;
  CLI::App* gen_cmd = cli.add_subcommand("generate", "print text sampled from a trained model");
  add_run_options(gen_cmd, gen_run, "language model");
  gen_cmd->add_option("--prompt", prompt, "text to continue");
  gen_cmd->add_option("--length", length, "tokens to generate")->check(CLI::Range(0, 1 << 24));
  gen_cmd->add_option("--temperature", temperature, "0: greedy; higher: more random")
      ->check(CLI::Range(0.0, 100.0));
  gen_cmd->add_option("--top-k", top_k, "sample among the k likeliest tokens (0: all)")
      ->check(CLI::Range(0, 1 << 24));
  gen_cmd->add_option("--seed", seed, "random seed");

  std::string eval_text;
  CLI::App* eval_cmd =
      cli.add_subcommand("eval", "perplexity and bits per character of a text file");
  add_run_options(eval_cmd, eval_run, "language model");
  eval_cmd->add_option("--text", eval_text, "UTF-8 text file to score")->required();

  std::string ins_text, ins_out;
  int64_t ins_top = 5, ins_max_chars = 5000;
  CLI::App* ins_cmd = cli.add_subcommand(
      "inspect", "colour a text by each unit's activation and rank units by simple features");
  add_run_options(ins_cmd, ins_run, "language model");
  ins_cmd->add_option("--text", ins_text, "UTF-8 text file to read")->required();
  ins_cmd->add_option("--out", ins_out, "HTML page to write (default: RUN/inspect.html)");
  ins_cmd->add_option("--top", ins_top, "units listed per feature")->check(CLI::Range(1, 1000));
  ins_cmd->add_option("--max-chars", ins_max_chars, "read at most this many bytes of the text")
      ->check(CLI::Range(2, 1 << 24));

  ExportArgs exp_args;
  CLI::App* exp_cmd = add_export_command(cli, exp_args, "language model");

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*exp_cmd) {
      auto run = load_run(exp_args.run);
      check_export_out(run->trained, exp_args.out);
      const TorchExport ex = torch_export(*run->model, torch_naming(run->model));
      nlohmann::json info = {
          {"app", "rnnlab-lm"},
          {"tokenizer",
           export_tokenizer(*run->tokenizer, run->trained.dir / "tokenizer", exp_args.out)},
          {"forward",
           "ids: (T, B), the text's tokens after <bos> (a word tokenizer ends each line with "
           "<eos>); x = embedding(ids); h, state = rnn(x, state)" +
               std::string(run->model->rnn_last ? "; h, state_last = rnn_last(h, state_last)"
                                                : "") +
               (run->model->projection ? "; h = projection(h)" : "") +
               (run->model->adaptive ? "; log p = adaptive.log_prob(h)" : "; logits = decoder(h)")},
          {"tie_weights", run->cfg.model.tie_weights}};
      write_export(ex, info, run->trained, exp_args.out,
                   {export_sibling(exp_args.out, ".vocab.json")});
      return 0;
    }
    if (*ins_cmd) {
      auto run = load_run(ins_run, /*custom=*/true);
      std::string text = datasets::read_text_file(ins_text);
      if (static_cast<int64_t>(text.size()) > ins_max_chars) {
        size_t cut = static_cast<size_t>(ins_max_chars);
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
      }
      Inspection ins = inspect_text(run->model, *run->tokenizer, text, ins_top);
      std::string out =
          ins_out.empty() ? (fs::path(ins_run.run) / "inspect.html").string() : ins_out;
      if (!ins_out.empty()) check_inspect_out(ins_out, ins_run.run, ins_text);
      write_inspection_html(ins, out, "rnnlab-lm inspect: " + ins_run.run);
      // One line per feature: its best units with their correlations.
      std::string line, feature;
      for (const auto& s : ins.ranking) {
        if (s.feature != feature) {
          if (!line.empty()) std::cout << line << "\n";
          feature = s.feature;
          line = fmt::format("{:<22}", feature);
        }
        line += fmt::format(" {:>7} {:+.2f}", s.unit, s.r);
      }
      if (!line.empty()) std::cout << line << "\n";
      std::cout << ins.pieces.size() << " tokens read; wrote " << out << std::endl;
      return 0;
    }
    if (*train_cmd) return train(train_args);
    if (*gen_cmd) {
      auto run = load_run(gen_run);
      // Streamed: a long text appears as it is made.
      generate(run->model, *run->tokenizer, prompt, length, temperature, top_k, seed, run->device,
               [](const std::string& piece) { std::cout << piece << std::flush; });
      std::cout << std::endl;
      return 0;
    }
    if (*eval_cmd) {
      auto run = load_run(eval_run);
      std::string text = datasets::read_text_file(eval_text);
      StreamBatches s =
          layout_eval_text(*run->tokenizer, text, run->cfg.data.eval_batch_size, run->cfg.data.bptt,
                           eval_text, run->cfg.data.oov == "error");
      if (run->cfg.data.bpc_per == "token") s.chars = s.tokens;
      Metrics m = evaluate_stream(run->model, s, run->device);
      std::cout << fmt::format("{}: {} tokens, {} chars : loss {:.4f} : ppl {:.3f} : bpc {:.4f}",
                               eval_text, s.tokens, s.chars, m["loss"], m["ppl"], m["bpc"])
                << std::endl;
      return 0;
    }
    return 2;
  });
}
