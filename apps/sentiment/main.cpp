// rnnlab-sentiment: recurrent sentence classifiers (MR, SST-2, any TSV/CSV).
//   rnnlab-sentiment train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-sentiment predict --run DIR [--explain] [TEXT ...]   (no TEXT: one per stdin line)
//   rnnlab-sentiment eval --run DIR (--data FILE | --class LABEL=FILE...)
#include <spdlog/spdlog.h>

#include <iostream>

#include "apps/framework/checkpoint.h"
#include "apps/framework/experiment.h"
#include "apps/sentiment/task.h"
#include "datasets/error.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::sentiment;

namespace {

int train(const TrainArgs& args) {
  return train_command<SentimentConfig, SentimentJob>(args, sentiment_subruns);
}

/// A trained classifier loaded back from its run directory.
struct LoadedRun {
  SentimentConfig cfg;
  ConfigSchema schema;
  fs::path dir;
  std::unique_ptr<data::Tokenizer> tokenizer;
  std::vector<std::string> labels;
  SentenceClassifier model{nullptr};
  torch::Device device = torch::kCPU;
};

std::unique_ptr<LoadedRun> load_run(const std::string& run_dir, const std::string& subrun) {
  auto run = std::make_unique<LoadedRun>();
  run->cfg.bind(run->schema);
  TrainedRun trained = open_trained_run(run->schema, run->cfg.run, run_dir, subrun);
  run->dir = trained.dir;
  run->tokenizer = data::load_tokenizer((trained.dir / "tokenizer").string());
  fs::path labels = trained.dir / "labels.json";
  try {
    run->labels = nlohmann::json::parse(read_file(labels)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(labels.string() + ": not a JSON list of label names (" + e.what() + ")");
  }
  run->device = trained.device;
  run->model =
      build_model(run->cfg, run->tokenizer->vocab_size(), static_cast<int64_t>(run->labels.size()),
                  data::extension_size(*run->tokenizer));
  load_model_from(*run->model, trained.checkpoint);
  run->model->to(run->device);
  return run;
}

int predict(const std::string& run_dir, const std::string& subrun, std::vector<std::string> texts,
            bool explain) {
  auto run = load_run(run_dir, subrun);
  if (explain && run->cfg.model.pooling != "attention")
    throw UsageError("--explain shows attention weights; this run uses " + run->cfg.model.pooling +
                     " pooling (model.pooling: attention has them)");
  if (texts.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(line);
    }
  }
  // Empty (or blank) lines get an empty output line, in place.
  std::vector<std::vector<int64_t>> ids;
  std::vector<size_t> where;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].find_first_not_of(" \t\r\n") == std::string::npos) continue;
    ids.push_back(encode_text(run->cfg, *run->tokenizer, texts[i]));
    where.push_back(i);
  }
  std::vector<std::string> out(texts.size());
  if (!ids.empty()) {
    std::vector<std::vector<float>> attention;
    torch::Tensor probs = classify(run->model, ids, run->cfg.data.eval_batch_size, run->device,
                                   explain ? &attention : nullptr);
    for (size_t j = 0; j < ids.size(); ++j) {
      torch::Tensor p = probs[static_cast<int64_t>(j)];
      auto c = p.argmax().item<int64_t>();
      std::string line =
          fmt::format("{}\t{:.4f}", run->labels[static_cast<size_t>(c)], p[c].item<double>());
      if (explain) {
        const std::string& text = texts[where[j]];
        std::vector<std::string> pieces =
            run->tokenizer->pieces(run->cfg.data.clean == "kim" ? data::kim_clean(text) : text);
        std::string words;
        for (size_t k = 0; k < attention[j].size() && k < pieces.size(); ++k)
          words += fmt::format("{}{}:{:.3f}", k ? " " : "", pieces[k], attention[j][k]);
        line += "\t" + words;
      }
      out[where[j]] = line;
    }
  }
  for (const auto& line : out) std::cout << line << "\n";
  std::cout.flush();
  return 0;
}

int eval(const std::string& run_dir, const std::string& subrun, const std::string& file,
         const std::vector<std::string>& class_files) {
  if (file.empty() == class_files.empty())
    throw UsageError("give either --data FILE (a table) or --class LABEL=FILE for each class");
  auto run = load_run(run_dir, subrun);
  data::LabeledTexts texts;
  std::string name = file;
  if (!file.empty()) {
    texts = data::read_labeled_table(file, run->cfg.table_options(), &run->labels);
  } else {
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& entry : class_files) {
      auto eq = entry.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UsageError("--class '" + entry + "' is not of the form LABEL=FILE");
      std::string label = entry.substr(0, eq);
      if (std::find(run->labels.begin(), run->labels.end(), label) == run->labels.end())
        throw UsageError(fmt::format("--class: label '{}' is not one of the model's ({})", label,
                                     fmt::join(run->labels, ", ")));
      files.emplace_back(label, entry.substr(eq + 1));
      name += (name.empty() ? "" : ", ") + entry.substr(eq + 1);
    }
    data::LabeledTexts read = data::read_class_files(files);
    // Map the file's labels onto the model's label indices.
    texts = read;
    texts.label_names = run->labels;
    for (auto& l : texts.labels) {
      const std::string& label_name = read.label_names[static_cast<size_t>(l)];
      l = std::find(run->labels.begin(), run->labels.end(), label_name) - run->labels.begin();
    }
  }
  std::vector<std::vector<int64_t>> ids;
  for (const auto& t : texts.texts) ids.push_back(encode_text(run->cfg, *run->tokenizer, t));
  torch::Tensor pred =
      classify(run->model, ids, run->cfg.data.eval_batch_size, run->device).argmax(1).contiguous();
  std::vector<int64_t> predicted(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
  const auto C = static_cast<int64_t>(run->labels.size());
  Scores s = score(texts.labels, predicted, C);
  std::cout << fmt::format("{}: {} sentences\naccuracy {:.2f}% ({}/{})\nmacro-F1 {:.2f}\n", name,
                           s.total, s.accuracy, s.correct, s.total, s.macro_f1);
  size_t width = 9;
  for (const auto& l : run->labels) width = std::max(width, l.size() + 1);
  std::cout << "confusion matrix (rows: true label, columns: predicted)\n"
            << fmt::format("{:<{}}", "", width);
  for (const auto& l : run->labels) std::cout << fmt::format("{:>{}}", l, width);
  std::cout << "\n";
  for (int64_t r = 0; r < C; ++r) {
    std::cout << fmt::format("{:<{}}", run->labels[static_cast<size_t>(r)], width);
    for (int64_t c = 0; c < C; ++c) std::cout << fmt::format("{:>{}}", s.confusion[r][c], width);
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-sentiment: recurrent sentence classifiers (MR, SST-2, any TSV/CSV)"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd = add_train_command(cli, train_args, "train a classifier from a YAML config");

  std::string subrun;
  auto add_run = [&](CLI::App* cmd, std::string& run) {
    cmd->add_option("--run", run, "run directory of a trained classifier")->required();
    cmd->add_option("--subrun", subrun,
                    "of folds or repeated runs, use this sub-run (default: the best dev accuracy)");
  };
  std::string pred_run;
  std::vector<std::string> pred_texts;
  bool explain = false;
  CLI::App* pred_cmd = cli.add_subcommand(
      "predict", "label texts: one output line (label, probability) per text or stdin line");
  add_run(pred_cmd, pred_run);
  pred_cmd->add_flag("--explain", explain, "also print each word's attention weight");
  pred_cmd->add_option("texts", pred_texts, "texts to label (none: read stdin, one per line)");

  std::string eval_run, eval_data;
  std::vector<std::string> eval_classes;
  CLI::App* eval_cmd = cli.add_subcommand(
      "eval", "accuracy, macro-F1 and confusion matrix of a trained classifier on labelled texts");
  add_run(eval_cmd, eval_run);
  eval_cmd->add_option("--data", eval_data,
                       "a table of text and label, laid out as the run's data.* keys say");
  eval_cmd->add_option("--class", eval_classes, "LABEL=FILE: one text per line, all of LABEL");

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*train_cmd) return train(train_args);
    if (*pred_cmd) return predict(pred_run, subrun, pred_texts, explain);
    if (*eval_cmd) return eval(eval_run, subrun, eval_data, eval_classes);
    return 2;
  });
}
