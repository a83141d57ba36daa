// rnnlab-lm: recurrent language models.
//   rnnlab-lm train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR] [--print-config]
//   rnnlab-lm generate --run DIR [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed
//   S] rnnlab-lm eval --run DIR --text FILE
#include <spdlog/spdlog.h>
#include <torch/serialize.h>

#include <iostream>

#include "apps/lm/inspect.h"
#include "apps/lm/lm_task.h"
#include "datasets/error.h"
#include "datasets/text_file.h"
#include "datasets/vocab.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::lm;

namespace {

int train(const TrainArgs& args) {
  LMConfig cfg;
  ConfigSchema schema;
  cfg.bind(schema);
  if (args.list_keys) {
    std::cout << keys_table(schema);
    return 0;
  }
  load_config(schema, args);
  if (args.print_config) {
    std::cout << schema.to_yaml();
    return 0;
  }
  torch::Device device = resolve_device(cfg.run.device);
  bool resume = !args.resume.empty();
  // Data first, so that bad data fails before a run directory is created.
  LMTask task(cfg, resume ? (fs::path(args.resume) / "tokenizer").string() : "", device);
  RunDir dir = start_run(schema, cfg.run, args);
  if (!resume) task.save_tokenizer(dir.file("tokenizer"));
  logger()->info("run directory: {}", dir.path().string());
  int64_t n_params = 0;
  for (const auto& p : task.model().parameters()) n_params += p.numel();
  logger()->info(
      "{} tokenizer, vocabulary {}; {} train / {} valid / {} test tokens; {} batches "
      "of {}x{} per epoch",
      task.tokenizer().type(), task.tokenizer().vocab_size(), task.tokens("train"),
      task.tokens("valid"), task.tokens("test"), task.batches_per_epoch(), cfg.data.batch_size,
      cfg.data.bptt);
  logger()->info("model: {} {} x{} hidden {} ({}), {} parameters, device {}", cfg.model.rnn.impl,
                 cfg.model.rnn.type, cfg.model.rnn.layers, cfg.model.rnn.hidden,
                 cfg.model.tie_weights ? "tied" : "untied", n_params, device.str());

  Trainer trainer(task, cfg.train, cfg.optim, cfg.run, dir);
  nlohmann::json summary = trainer.fit(resume);
  for (const char* key : {"val_loss", "val_bpc", "val_ppl", "test_loss", "test_bpc", "test_ppl"})
    if (summary.contains(key)) logger()->info("{} {:.4f}", key, summary[key].get<double>());

  if (cfg.sample.length > 0) {
    std::string text = generate(task.lm(), task.tokenizer(), cfg.sample.prompt, cfg.sample.length,
                                cfg.sample.temperature, cfg.sample.top_k, cfg.run.seed, device);
    write_file_atomic(dir.file("sample.txt"), text + "\n");
    logger()->info("sample (temperature {}):\n{}", cfg.sample.temperature, text);
  }
  return 0;
}

/// A trained model loaded back from its run directory.
struct LoadedRun {
  LMConfig cfg;
  ConfigSchema schema;
  std::unique_ptr<data::Tokenizer> tokenizer;
  LanguageModel model{nullptr};
  torch::Device device = torch::kCPU;
};

/// `custom`: build the hand-written recurrent stack whatever the run used (the
/// parameter names are the same, so the checkpoint loads into either).
std::unique_ptr<LoadedRun> load_run(const std::string& run_dir, bool custom = false) {
  auto run = std::make_unique<LoadedRun>();
  RunDir dir = RunDir::open(run_dir);
  run->cfg.bind(run->schema);
  run->schema.load_file(dir.file("config.yaml").string());
  run->schema.finalize();
  run->tokenizer = data::load_tokenizer(dir.file("tokenizer").string());
  run->device = resolve_device(run->cfg.run.device);
  if (custom) run->cfg.model.rnn.impl = "custom";
  run->model = build_model(run->cfg, run->tokenizer->vocab_size());
  fs::path ckpt = dir.file("checkpoint_best.pt");
  if (!fs::exists(ckpt)) ckpt = dir.file("checkpoint_last.pt");
  if (!fs::exists(ckpt))
    throw DataError("run directory '" + run_dir + "' has no checkpoint (checkpoint_best.pt)");
  torch::serialize::InputArchive archive, model;
  try {
    archive.load_from(ckpt.string());
    archive.read("model", model);
    run->model->load(model);
  } catch (const c10::Error&) {
    throw DataError("checkpoint '" + ckpt.string() + "' is unreadable or does not fit the model");
  }
  run->model->to(run->device);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-lm: recurrent language models (characters, words, subwords)"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd =
      add_train_command(cli, train_args, "train a language model from a YAML config");

  std::string gen_run, prompt;
  int64_t length = 500, top_k = 0, seed = 1;
  double temperature = 0.8;
  CLI::App* gen_cmd = cli.add_subcommand("generate", "print text sampled from a trained model");
  gen_cmd->add_option("--run", gen_run, "run directory of a trained model")->required();
  gen_cmd->add_option("--prompt", prompt, "text to continue");
  gen_cmd->add_option("--length", length, "tokens to generate")->check(CLI::Range(0, 1 << 24));
  gen_cmd->add_option("--temperature", temperature, "0: greedy; higher: more random")
      ->check(CLI::Range(0.0, 100.0));
  gen_cmd->add_option("--top-k", top_k, "sample among the k likeliest tokens (0: all)")
      ->check(CLI::Range(0, 1 << 24));
  gen_cmd->add_option("--seed", seed, "random seed");

  std::string eval_run, eval_text;
  CLI::App* eval_cmd =
      cli.add_subcommand("eval", "perplexity and bits per character of a text file");
  eval_cmd->add_option("--run", eval_run, "run directory of a trained model")->required();
  eval_cmd->add_option("--text", eval_text, "UTF-8 text file to score")->required();

  std::string ins_run, ins_text, ins_out;
  int64_t ins_top = 5, ins_max_chars = 5000;
  CLI::App* ins_cmd = cli.add_subcommand(
      "inspect", "colour a text by each unit's activation and rank units by simple features");
  ins_cmd->add_option("--run", ins_run, "run directory of a trained model")->required();
  ins_cmd->add_option("--text", ins_text, "UTF-8 text file to read")->required();
  ins_cmd->add_option("--out", ins_out, "HTML page to write (default: RUN/inspect.html)");
  ins_cmd->add_option("--top", ins_top, "units listed per feature")->check(CLI::Range(1, 1000));
  ins_cmd->add_option("--max-chars", ins_max_chars, "read at most this many bytes of the text")
      ->check(CLI::Range(2, 1 << 24));

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*ins_cmd) {
      auto run = load_run(ins_run, /*custom=*/true);
      std::string text = data::read_text_file(ins_text);
      if (static_cast<int64_t>(text.size()) > ins_max_chars) {
        size_t cut = static_cast<size_t>(ins_max_chars);
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        text.resize(cut);
      }
      Inspection ins = inspect_text(run->model, *run->tokenizer, text, ins_top);
      std::string out = ins_out.empty() ? (fs::path(ins_run) / "inspect.html").string() : ins_out;
      write_inspection_html(ins, out, "rnnlab-lm inspect: " + ins_run);
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
      std::cout << generate(run->model, *run->tokenizer, prompt, length, temperature, top_k, seed,
                            run->device)
                << std::endl;
      return 0;
    }
    if (*eval_cmd) {
      auto run = load_run(eval_run);
      std::string text = data::read_text_file(eval_text);
      StreamBatches s = layout_text(*run->tokenizer, text, run->cfg.data.eval_batch_size,
                                    run->cfg.data.bptt, eval_text);
      Metrics m = evaluate_stream(run->model, s, run->device);
      std::cout << fmt::format("{}: {} tokens, {} chars : loss {:.4f} : ppl {:.3f} : bpc {:.4f}",
                               eval_text, s.tokens, s.chars, m["loss"], m["ppl"], m["bpc"])
                << std::endl;
      return 0;
    }
    return 2;
  });
}
