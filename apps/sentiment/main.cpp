// rnnlab-sentiment: recurrent sentence classifiers (MR, SST-2, any TSV/CSV).
//   rnnlab-sentiment train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-sentiment predict --run DIR [--explain] [TEXT ...]   (no TEXT: one per stdin line)
//   rnnlab-sentiment eval --run DIR (--data FILE | --class LABEL=FILE...)
//   rnnlab-sentiment ensemble --run DIR   (a run of repeated seeds, scored as ensembles)
#include <spdlog/spdlog.h>

#include <iostream>
#include <set>

#include "apps/framework/checkpoint.h"
#include "apps/framework/experiment.h"
#include "apps/framework/run_dir.h"
#include "apps/framework/torch_export.h"
#include "apps/sentiment/task.h"
#include "core/error.h"
#include "datasets/text_file.h"
#include "datasets/utf8.h"
#include "results/results.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::sentiment;

namespace {

int train(const TrainArgs& args) {
  return train_command<SentimentConfig, SentimentJob>(args, sentiment_subruns);
}

/// A trained classifier loaded back from its run directory, with its
/// tokenizer and class names.
struct LoadedRun : rnnlab::LoadedRun<SentimentConfig, SentenceClassifier> {
  std::unique_ptr<datasets::Tokenizer> tokenizer;
  std::vector<std::string> labels;
};

std::unique_ptr<LoadedRun> load_run(const RunChoice& choice) {
  auto run = open_run<LoadedRun>(choice);
  run->tokenizer = datasets::load_tokenizer((run->trained.dir / "tokenizer").string());
  fs::path labels = run->trained.dir / "labels.json";
  try {
    run->labels = nlohmann::json::parse(read_file(labels)).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(labels.string() + ": not a JSON list of label names (" + json_reason(e.what()) +
                    ")");
  }
  std::set<std::string> distinct(run->labels.begin(), run->labels.end());
  if (run->labels.size() < 2 || distinct.size() != run->labels.size() || distinct.count(""))
    throw DataError(labels.string() +
                    ": needs two or more distinct, non-empty label names (the run's classes)");
  run->load_model([&] {
    return build_model(run->cfg, run->tokenizer->vocab_size(),
                       static_cast<int64_t>(run->labels.size()),
                       datasets::extension_size(*run->tokenizer));
  });
  return run;
}

/// The most probable class of each row of probabilities (N, C).
std::vector<int64_t> argmax_rows(const torch::Tensor& probs) {
  torch::Tensor pred = probs.argmax(1).contiguous();
  return {pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel()};
}

int predict(const RunChoice& choice, std::vector<std::string> texts, bool explain) {
  auto run = load_run(choice);
  if (explain && run->cfg.model.pooling != "attention")
    throw UsageError("--explain shows attention weights; this run uses " + run->cfg.model.pooling +
                     " pooling (model.pooling: attention has them)");
  if (texts.empty()) {
    texts = datasets::read_stream_lines(std::cin, "<stdin>");
  } else {
    for (size_t i = 0; i < texts.size(); ++i)
      datasets::check_utf8(texts[i], "text argument " + std::to_string(i + 1));
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
            run->tokenizer->pieces(run->cfg.data.clean == "kim" ? datasets::kim_clean(text) : text);
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

int eval(const RunChoice& choice, const std::string& file,
         const std::vector<std::string>& class_files) {
  if (file.empty() == class_files.empty())
    throw UsageError("give either --data FILE (a table) or --class LABEL=FILE for each class");
  auto run = load_run(choice);
  datasets::LabeledTexts texts;
  std::string name = file;
  if (!file.empty()) {
    texts = datasets::read_labeled_table(file, run->cfg.table_options(), &run->labels);
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
    datasets::LabeledTexts read = datasets::read_class_files(files);
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
  std::vector<int64_t> predicted =
      argmax_rows(classify(run->model, ids, run->cfg.data.eval_batch_size, run->device));
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

/// `ensemble`: a run of repeated seeds (run.repeats > 1, with or without
/// folds) scored as ensembles. Each group of seeds (each fold) classifies its
/// test part by the mean of its models' class probabilities:
///   p(c | x) = 1/K sum_k p_k(c | x),   prediction argmax_c p(c | x).
/// Prints each group's single-model and ensemble accuracy, their mean and std
/// over the groups, and writes RUN/ensemble.json.
int ensemble(const std::string& run_dir) {
  std::vector<std::string> names;
  for (const auto& sub : finished_subruns(run_dir)) names.push_back(sub.filename().string());
  const auto groups = group_seed_subruns(names);
  std::vector<std::pair<std::string, nlohmann::json>> rows;
  std::vector<std::string> labels;
  for (const auto& [group, members] : groups) {
    const std::string shown = group.empty() ? "test" : group;
    if (members.size() < 2)
      throw UsageError(
          fmt::format("run '{}': {} has one finished seed ({}); an ensemble needs two "
                      "or more (run.repeats)",
                      run_dir, shown, members.front()));
    torch::Tensor sum;
    datasets::LabeledTexts test;
    std::vector<double> single;
    for (const auto& member : members) {
      auto run = load_run({run_dir, member, ""});
      SentimentData d = load_data(run->cfg);
      if (d.test.texts.empty())
        throw UsageError(
            fmt::format("run '{}': sub-run {} has no test part to score", run_dir, member));
      if (labels.empty()) labels = run->labels;
      if (run->labels != labels)
        throw DataError(fmt::format("{}: its labels ({}) differ from {}'s",
                                    run->trained.dir.string(), fmt::join(run->labels, ", "),
                                    members.front()));
      if (test.texts.empty()) {
        test = d.test;
      } else if (d.test.texts != test.texts || d.test.labels != test.labels) {
        throw DataError(fmt::format("{}: its test part differs from {}'s (data.split_seed?)",
                                    run->trained.dir.string(), members.front()));
      }
      std::vector<std::vector<int64_t>> ids;
      for (const auto& t : test.texts) ids.push_back(encode_text(run->cfg, *run->tokenizer, t));
      torch::Tensor probs = classify(run->model, ids, run->cfg.data.eval_batch_size, run->device);
      single.push_back(
          score(test.labels, argmax_rows(probs), static_cast<int64_t>(labels.size())).accuracy);
      sum = sum.defined() ? sum + probs : probs;
    }
    Scores s = score(test.labels, argmax_rows(sum), static_cast<int64_t>(labels.size()));
    double single_mean = 0;
    for (double a : single) single_mean += a / static_cast<double>(single.size());
    std::cout << fmt::format(
        "{}: {} models, test accuracy {:.2f} (mean {:.2f}); ensemble {:.2f}, macro-F1 {:.2f}\n",
        shown, members.size(), fmt::join(single, ", "), single_mean, s.accuracy, s.macro_f1);
    rows.emplace_back(shown, nlohmann::json{{"models", members.size()},
                                            {"test_sentences", s.total},
                                            {"single_test_accuracy", single_mean},
                                            {"test_accuracy", s.accuracy},
                                            {"test_macro_f1", s.macro_f1}});
  }
  nlohmann::json out = aggregate_summaries(rows);
  out["groups"] = nlohmann::json::object();
  for (const auto& [name, row] : rows) out["groups"][name] = row;
  if (rows.size() > 1)
    std::cout << fmt::format(
        "over {} groups: ensemble test accuracy {:.2f} ± {:.2f}, macro-F1 {:.2f} ± {:.2f}; single "
        "models {:.2f} ± {:.2f}\n",
        rows.size(), out["test_accuracy_mean"].get<double>(),
        out["test_accuracy_std"].get<double>(), out["test_macro_f1_mean"].get<double>(),
        out["test_macro_f1_std"].get<double>(), out["single_test_accuracy_mean"].get<double>(),
        out["single_test_accuracy_std"].get<double>());
  write_file_atomic(fs::path(run_dir) / "ensemble.json", out.dump(2) + "\n");
  return 0;
}

/// `export`: the classifier as a Python state_dict, its JSON and vocabulary.
int export_model(const ExportArgs& args) {
  auto run = load_run(args.run);
  check_export_out(run->trained, args.out);
  const auto& m = run->cfg.model;
  nlohmann::json info = {
      {"app", "rnnlab-sentiment"},
      {"labels", run->labels},
      {"tokenizer", export_tokenizer(*run->tokenizer, run->trained.dir / "tokenizer", args.out)},
      {"clean", run->cfg.data.clean},
      {"pooling", m.pooling},
      {"forward",
       "ids: (T, B) padded with 0, lengths (B); x = " +
           std::string(m.embedding_mode == "two_channels"
                           ? "cat(static_embedding(ids), embedding(ids), dim 2)"
                           : "embedding(ids)") +
           "; o, (h, c) = encoder(pack_padded_sequence(x, lengths)); pooled = " +
           (m.pooling == "last"   ? std::string("the last layer's final h (both directions)")
            : m.pooling == "mean" ? std::string("the mean of o over each text's steps")
            : m.pooling == "max"
                ? std::string("the maximum of o over each text's steps")
                : std::string("sum_t a_t o_t, a = softmax over each text's "
                              "steps of attention_score(tanh(attention_proj(o)))")) +
           "; logits = output(pooled)"}};
  write_export(torch_export(*run->model, torch_naming(run->model)), info, run->trained, args.out,
               {export_sibling(args.out, ".vocab.json")});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-sentiment: recurrent sentence classifiers (MR, SST-2, any TSV/CSV)",
               "rnnlab-sentiment"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd = add_train_command(cli, train_args, "train a classifier from a YAML config");

  RunChoice pred_run, eval_run;
  std::vector<std::string> pred_texts;
  bool explain = false;
  CLI::App* pred_cmd = cli.add_subcommand(
      "predict", "label texts: one output line (label, probability) per text or stdin line");
  add_run_options(pred_cmd, pred_run, "classifier");
  pred_cmd->add_flag("--explain", explain, "also print each word's attention weight");
  pred_cmd->add_option("texts", pred_texts, "texts to label (none: read stdin, one per line)");

  std::string eval_data;
  std::vector<std::string> eval_classes;
  CLI::App* eval_cmd = cli.add_subcommand(
      "eval", "accuracy, macro-F1 and confusion matrix of a trained classifier on labelled texts");
  add_run_options(eval_cmd, eval_run, "classifier");
  eval_cmd->add_option("--data", eval_data,
                       "a table of text and label, laid out as the run's data.* keys say");
  eval_cmd->add_option("--class", eval_classes, "LABEL=FILE: one text per line, all of LABEL");

  std::string ens_run;
  CLI::App* ens_cmd = cli.add_subcommand(
      "ensemble",
      "score a run of repeated seeds (run.repeats) as ensembles: each fold's test part by the mean "
      "of its seeds' probabilities; writes RUN/ensemble.json");
  ens_cmd->add_option("--run", ens_run, "a run trained with run.repeats > 1")->required();

  ExportArgs exp_args;
  CLI::App* exp_cmd = add_export_command(cli, exp_args, "classifier");

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*train_cmd) return train(train_args);
    if (*exp_cmd) return export_model(exp_args);
    if (*pred_cmd) return predict(pred_run, pred_texts, explain);
    if (*eval_cmd) return eval(eval_run, eval_data, eval_classes);
    if (*ens_cmd) return ensemble(ens_run);
    return 2;
  });
}
