// rnnlab-mnist: MNIST digits read as sequences by recurrent networks.
//   rnnlab-mnist train CONFIG [--set key=value]... [--run-dir DIR] [--resume DIR]
//   rnnlab-mnist eval --run DIR [--images IDX --labels IDX]   (default: the test set)
//   rnnlab-mnist predict --run DIR (--idx IDX | IMAGE.png ...)  (one line per image)
//     (task: caption runs: eval decodes the test strips; predict captions PNG strips)
//   rnnlab-mnist gradflow CONFIG [--set key=value]... [--run-dir DIR]  (||dL/dh_t|| per step)
#include <spdlog/spdlog.h>

#include <iostream>

#include "apps/framework/experiment.h"
#include "apps/framework/run_dir.h"
#include "apps/mnist/caption.h"
#include "apps/mnist/gradflow.h"
#include "apps/mnist/task.h"
#include "core/error.h"
#include "datasets/image.h"

namespace fs = std::filesystem;
using namespace rnnlab;
using namespace rnnlab::mnist;

namespace {

/// A trained run loaded back from its run directory: the classifier and its
/// pixel order (task: classify), or the captioner (task: caption).
struct LoadedRun : rnnlab::LoadedRun<MnistConfig, SequenceClassifier> {
  std::vector<int64_t> order;
  Seq2Seq captioner{nullptr};
  bool caption() const { return cfg.task == "caption"; }
};

std::unique_ptr<LoadedRun> load_run(const RunChoice& choice) {
  auto run = open_run<LoadedRun>(choice);
  if (run->caption()) {
    run->captioner = build_caption_model(run->cfg);
    load_trained_model(*run->captioner, run->trained);
    run->captioner->to(run->device);
    return run;
  }
  if (run->cfg.data.sequence == "permuted")
    run->order = load_permutation(run->trained.dir / "permutation.json");
  run->load_model([&] { return build_model(run->cfg); });
  return run;
}

/// eval of a caption run: its test strips decoded, scored.
int eval_captions(LoadedRun* run) {
  MnistData data = load_data(run->cfg);
  const auto& st = run->cfg.strips;
  auto strips =
      draw_strips(data.test.size(), st.test, st.max_digits, static_cast<uint64_t>(st.seed) * 3 + 2);
  std::vector<Hypothesis> hyps =
      caption_strips(run->captioner, run->cfg, data.test, strips, run->device);
  std::vector<std::vector<int64_t>> h, r;
  for (size_t i = 0; i < strips.size(); ++i) {
    h.push_back(hyps[i].tokens);
    r.push_back(strip_reference(data.test, strips[i]));
  }
  CaptionScores s = score_captions(h, r);
  std::cout << fmt::format(
      "{} test strips of 1-{} digits ({}, beam {})\nexact match {:.2f}%\nword accuracy {:.2f}%\n",
      s.strips, st.max_digits, data.test.name, run->cfg.decode.beam, s.exact, s.word_accuracy);
  return 0;
}

int eval(const RunChoice& choice, const std::string& images, const std::string& labels) {
  if (images.empty() != labels.empty())
    throw UsageError("give --images and --labels together (neither: the run's test set)");
  auto run = load_run(choice);
  if (run->caption()) {
    if (!images.empty())
      throw UsageError("--images: a caption run is scored on its test strips (no --images)");
    return eval_captions(run.get());
  }
  Digits d;
  if (images.empty()) {
    d = load_data(run->cfg).test;
  } else {
    d = read_digits(images, labels);
  }
  DigitScores s =
      score_digits(classify(run->model, run->cfg, d.images, run->order, run->device), d.labels);
  std::cout << fmt::format("{}: {} images\naccuracy {:.2f}% ({}/{}), loss {:.4f}\n", d.name,
                           d.size(), s.accuracy, s.correct, d.size(), s.loss)
            << "confusion matrix (rows: true digit, columns: predicted)\n"
            << confusion_table(s.confusion);
  return 0;
}

/// predict of a caption run: one caption per PNG strip (28 pixels high).
int predict_captions(LoadedRun* run, const std::vector<std::string>& pngs) {
  std::vector<torch::Tensor> strips;
  for (const auto& path : pngs) {
    torch::Tensor g = datasets::read_png_gray(path);
    if (g.size(0) != kSide)
      throw DataError(
          fmt::format("{}: {}x{} pixels; a strip is 28 pixels high (white digits on "
                      "black, side by side)",
                      path, g.size(1), g.size(0)));
    strips.push_back(g);
  }
  DecodeOptions o;
  o.beam = run->cfg.decode.beam;
  o.max_len_a = 0;
  o.max_len_b = run->cfg.strips.max_digits + 2;
  for (size_t i = 0; i < strips.size(); ++i) {
    torch::Tensor x = image_columns(run->cfg, strips[i]);  // (W, 1, 28)
    torch::Tensor len = torch::full({1}, x.size(0), torch::kLong);
    Hypothesis h =
        translate_batch(run->captioner, x.to(run->device), len.to(run->device), o).front();
    std::cout << fmt::format("{}\t{}\n", pngs[i], caption_text(h.tokens));
  }
  return 0;
}

int predict(const RunChoice& choice, const std::string& idx, const std::vector<std::string>& pngs) {
  if (idx.empty() == pngs.empty())
    throw UsageError("give either --idx IMAGES (an idx3 file) or PNG files");
  auto run = load_run(choice);
  if (run->caption()) {
    if (!idx.empty()) throw UsageError("--idx: a caption run reads PNG strips (28 pixels high)");
    return predict_captions(run.get(), pngs);
  }
  std::vector<std::string> names;
  torch::Tensor images;
  if (!idx.empty()) {
    datasets::IdxImages im = datasets::read_idx_images(idx);
    if (im.rows() != 28 || im.cols() != 28)
      throw DataError(
          fmt::format("{}: images of {}x{}; MNIST's are 28x28", idx, im.rows(), im.cols()));
    images = im.pixels;
    for (int64_t i = 0; i < im.size(); ++i) names.push_back(fmt::format("{}:{}", idx, i));
  } else {
    std::vector<torch::Tensor> read;
    for (const auto& path : pngs) {
      torch::Tensor g = datasets::read_png_gray(path);
      if (g.size(0) != 28 || g.size(1) != 28)
        throw DataError(
            fmt::format("{}: {}x{} pixels; MNIST images are 28x28 (white digit on black)", path,
                        g.size(1), g.size(0)));
      read.push_back(g);
      names.push_back(path);
    }
    images = torch::stack(read);
  }
  torch::Tensor probs = classify(run->model, run->cfg, images, run->order, run->device);
  for (size_t i = 0; i < names.size(); ++i) {
    torch::Tensor p = probs[static_cast<int64_t>(i)];
    const auto c = p.argmax().item<int64_t>();
    std::cout << fmt::format("{}\t{}\t{:.4f}\n", names[i], c, p[c].item<double>());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-mnist: MNIST digits read as sequences (rows, pixels, permuted pixels)",
               "rnnlab-mnist"};
  cli.require_subcommand(1);
  TrainArgs train_args;
  CLI::App* train_cmd = add_train_command(cli, train_args, "train a classifier from a YAML config");

  RunChoice eval_run, pred_run;
  std::string eval_images, eval_labels, pred_idx;
  std::vector<std::string> pred_pngs;
  CLI::App* eval_cmd = cli.add_subcommand(
      "eval", "accuracy, loss and confusion matrix of a trained run (default: the test set)");
  add_run_options(eval_cmd, eval_run, "classifier");
  eval_cmd->add_option("--images", eval_images, "an idx3 image file (28 x 28)");
  eval_cmd->add_option("--labels", eval_labels, "its idx1 label file");
  CLI::App* pred_cmd = cli.add_subcommand(
      "predict", "classify images: one line per image (name, digit, probability)");
  add_run_options(pred_cmd, pred_run, "classifier");
  pred_cmd->add_option("--idx", pred_idx, "an idx3 image file (28 x 28)");
  pred_cmd->add_option("images", pred_pngs,
                       "PNG files, 28 x 28 (grey or colour, made grey; white digit on black)");

  TrainArgs gradflow_args;
  CLI::App* gradflow_cmd = add_config_command(
      cli, "gradflow", gradflow_args,
      "||dL/dh_t|| at every step of MNIST sequences for rnn_tanh, IRNN, LSTM and GRU, at init and "
      "after training; a picture");

  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*gradflow_cmd) return gradflow_command(gradflow_args);
    if (*train_cmd) return train_command<MnistConfig, MnistJob>(train_args);
    if (*eval_cmd) return eval(eval_run, eval_images, eval_labels);
    if (*pred_cmd) return predict(pred_run, pred_idx, pred_pngs);
    return 2;
  });
}
