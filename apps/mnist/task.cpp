// The MNIST sequence task (see task.h).
#include "apps/mnist/task.h"

#include "apps/mnist/caption.h"

#include <spdlog/spdlog.h>
#include <torch/nn/functional/loss.h>

#include <algorithm>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "datasets/batching.h"
#include "datasets/seed.h"
#include "datasets/text_file.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

namespace rnnlab::mnist {

namespace {

constexpr int64_t kPixels = kSide * kSide, kClasses = 10;

const char* const kTrainImages = "train-images-idx3-ubyte";
const char* const kTrainLabels = "train-labels-idx1-ubyte";
const char* const kTestImages = "t10k-images-idx3-ubyte";
const char* const kTestLabels = "t10k-labels-idx1-ubyte";

Digits subset(const Digits& d, const torch::Tensor& idx, const std::string& name) {
  return {d.images.index_select(0, idx), d.labels.index_select(0, idx), name};
}

}  // namespace

// ---- config ----

MnistConfig::MnistConfig() {
  model.rnn.stack.hidden_size(128);
  train.max_epochs = 10;
  train.early_stop_metric = "accuracy";
  train.log_every = 100;
  train.clip_norm = 1.0;
  optim.lr = 1e-3;
}

void bind_sequence_keys(ConfigSchema& s, MnistConfig::Data* d) {
  s.add("data.dir", &d->dir,
        "folder of MNIST's four unpacked idx files (train-images-idx3-ubyte, ...), relative to "
        "run.data_root (scripts/get_data.sh mnist)");
  s.add("data.sequence", &d->sequence,
        "how an image becomes a sequence: rows (28 steps of 28 pixels), pixels (784 steps of 1, "
        "scan-line order) or permuted (784 steps in one fixed random order)")
      .choices({"rows", "pixels", "permuted"});
  s.add("data.permutation_seed", &d->permutation_seed,
        "permuted: the seed of the pixel order (its own, so every run.seed sees the same order; "
        "saved in the run as permutation.json)")
      .range(0, INT64_MAX);
  s.add("data.normalize", &d->normalize,
        "pixel scaling: unit (x / 255, in [0, 1]) or standard ((x / 255 - 0.1307) / 0.3081, the "
        "training set's mean and deviation)")
      .choices({"unit", "standard"});
}

void MnistConfig::bind(ConfigSchema& s) {
  s.add("task", &task,
        "classify: one digit per image (many-to-one); caption: strips of digits captioned with "
        "their words by the seq2seq decoder (one-to-many)")
      .choices({"classify", "caption"});
  bind_sequence_keys(s, &data);
  s.add("data.validation", &data.validation,
        "which training images validate (early stopping, best checkpoint): the last "
        "data.val_size, or a random choice of them (data.split_seed)")
      .choices({"last", "random"});
  s.add("data.val_size", &data.val_size, "training images held out for validation").range(1, 59999);
  s.add("data.split_seed", &data.split_seed, "validation random: the seed of the choice")
      .range(0, INT64_MAX);
  s.add("data.train_limit", &data.train_limit,
        "train on only the first N images of the training part (0: all; quick looks and tests)")
      .range(0, 60000);
  s.add("data.batch_size", &data.batch_size, "images per training batch").range(1, 1 << 16);
  s.add("data.eval_batch_size", &data.eval_batch_size, "images per batch when evaluating")
      .range(1, 1 << 16);
  s.add("strips.max_digits", &strips.max_digits,
        "caption: digits per strip, 1 to this many (each count equally likely)")
      .range(1, 20);
  s.add("strips.train", &strips.train, "caption: training strips (from the training images)")
      .range(1, 10000000);
  s.add("strips.valid", &strips.valid,
        "caption: validation strips (from the validation images only)")
      .range(1, 10000000);
  s.add("strips.test", &strips.test, "caption: test strips (from the 10,000 test images only)")
      .range(1, 10000000);
  s.add("strips.seed", &strips.seed,
        "caption: the seed the strips are drawn from (fixed, so every run.seed sees the same)")
      .range(0, INT64_MAX);
  model.rnn.bind(s, "model.rnn");
  s.add("model.dropout", &model.dropout,
        "classify: dropout on the final state; caption: on the word embeddings and h~")
      .range(0.0, 0.99);
  model.decoder.bind(s, "model.decoder");
  s.add("model.embedding_dim", &model.embedding_dim, "caption: word embedding size")
      .range(1, 1 << 16);
  s.add("model.attention", &model.attention,
        "caption: the decoder's attention over the strip's columns")
      .choices({"none", "bahdanau", "luong_dot", "luong_general"});
  s.add("decode.beam", &decode.beam, "caption: beam size when decoding (1: greedy)")
      .range(1, 100)
      .resumable();
  run.bind(s);
  train.bind(s);
  optim.bind(s);
}

void MnistConfig::validate(const ConfigSchema& s) const {
  if (data.train_limit > 0 && data.train_limit > 60000 - data.val_size)
    throw s.error("data.train_limit",
                  fmt::format("the training part has {} images (60000 less data.val_size {})",
                              60000 - data.val_size, data.val_size));
  model.rnn.validate(s, "model.rnn");
  if (task == "caption") {
    model.decoder.validate(s, "model.decoder");
    if (model.decoder.type != model.rnn.type)
      throw s.error("model.decoder.type",
                    "the decoder's state is bridged from the encoder's, so "
                    "its cell must be model.rnn.type (" +
                        model.rnn.type + ")");
    if (model.decoder.stack.bidirectional())
      throw s.error("model.decoder.bidirectional", "a decoder writes left to right");
    if (data.sequence != "rows")
      throw s.error("data.sequence", "caption reads a strip column by column; leave it rows");
  }
  train.validate(s);
  optim.validate(s, train);
}

int64_t MnistConfig::steps() const {
  return data.sequence == "rows" ? kSide : kPixels;
}

int64_t MnistConfig::features() const {
  return data.sequence == "rows" ? kSide : 1;
}

// ---- the permutation ----

std::vector<int64_t> draw_permutation(int64_t seed, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = datasets::splitmix64(static_cast<uint64_t>(seed) ^ 0x7065726d75746521ULL);
  // Fisher-Yates, from the back; j uniform in [0, i] (the modulo bias of a
  // 64-bit draw over 784 values is below 1e-16).
  for (int64_t i = n - 1; i > 0; --i) {
    state = datasets::splitmix64(state);
    auto j = static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

void save_permutation(const fs::path& file, const std::vector<int64_t>& order) {
  write_file_atomic(file, nlohmann::json(order).dump() + "\n");
}

std::vector<int64_t> load_permutation(const fs::path& file, int64_t n) {
  std::vector<int64_t> order;
  try {
    order = nlohmann::json::parse(read_file(file)).get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(file.string() + ": not a JSON list of pixel indices (" + json_reason(e.what()) +
                    ")");
  }
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int64_t i : order)
    if (i < 0 || i >= n || seen[static_cast<size_t>(i)]) {
      throw DataError(fmt::format("{}: not a permutation of 0..{} ({} is out of range or repeated)",
                                  file.string(), n - 1, i));
    } else {
      seen[static_cast<size_t>(i)] = true;
    }
  if (static_cast<int64_t>(order.size()) != n)
    throw DataError(
        fmt::format("{}: {} pixel indices, expected {}", file.string(), order.size(), n));
  return order;
}

torch::Tensor scale_pixels(const MnistConfig& cfg, const torch::Tensor& pixels) {
  // The training images' mean and deviation after /255 (the usual figures).
  constexpr double kMean = 0.1307, kStd = 0.3081;
  torch::Tensor x = pixels.to(torch::kFloat).div_(255.0);
  if (cfg.data.normalize == "standard") x.sub_(kMean).div_(kStd);
  return x;
}

torch::Tensor to_sequences(const MnistConfig& cfg, const torch::Tensor& images,
                           const std::vector<int64_t>& order) {
  const int64_t N = images.size(0);
  torch::Tensor x = scale_pixels(cfg, images);
  if (cfg.data.sequence == "rows") return x.permute({1, 0, 2}).contiguous();  // (28, N, 28)
  x = x.reshape({N, kPixels});
  if (cfg.data.sequence == "permuted") x = x.index_select(1, torch::tensor(order, torch::kLong));
  return x.t().unsqueeze(2).contiguous();  // (784, N, 1)
}

// ---- data ----

Digits read_digits(const std::string& images_path, const std::string& labels_path) {
  datasets::IdxImages images = datasets::read_idx_images(images_path);
  if (images.rows() != kSide || images.cols() != kSide)
    throw DataError(fmt::format("{}: images of {}x{}; MNIST's are 28x28", images_path,
                                images.rows(), images.cols()));
  torch::Tensor labels = datasets::read_idx_labels(labels_path, kClasses);
  datasets::check_same_count(images, labels, labels_path);
  return {images.pixels, labels, images_path};
}

MnistData load_data(const MnistConfig& cfg) {
  const auto& d = cfg.data;
  auto file = [&](const char* name) {
    return data_path(cfg.run, (fs::path(d.dir) / name).string(), "data.dir");
  };
  Digits all = read_digits(file(kTrainImages), file(kTrainLabels));
  MnistData out;
  out.test = read_digits(file(kTestImages), file(kTestLabels));
  const int64_t N = all.size();
  if (d.val_size >= N)
    throw DataError(
        fmt::format("{}: {} images, and data.val_size holds out {}", all.name, N, d.val_size));
  torch::Tensor order = torch::arange(N);
  if (d.validation == "random") {
    // A seeded choice, kept in file order within each part.
    std::vector<int64_t> perm = draw_permutation(d.split_seed, N);
    std::vector<int64_t> val(perm.end() - d.val_size, perm.end());
    std::sort(val.begin(), val.end());
    std::vector<bool> held(static_cast<size_t>(N), false);
    for (int64_t i : val) held[static_cast<size_t>(i)] = true;
    std::vector<int64_t> train;
    for (int64_t i = 0; i < N; ++i)
      if (!held[static_cast<size_t>(i)]) train.push_back(i);
    std::vector<int64_t> joined = train;
    joined.insert(joined.end(), val.begin(), val.end());
    order = torch::tensor(joined, torch::kLong);
  }
  const int64_t n_train = N - d.val_size;
  const int64_t used = d.train_limit > 0 ? std::min(d.train_limit, n_train) : n_train;
  const std::string base = fs::path(all.name).filename().string();
  out.train = subset(
      all, order.narrow(0, 0, used),
      d.validation == "last"
          ? fmt::format("{}[:{}]", base, used)
          : fmt::format("{} less {} random (split_seed {}){}", base, d.val_size, d.split_seed,
                        used < n_train ? fmt::format(", first {}", used) : ""));
  out.valid = subset(all, order.narrow(0, n_train, d.val_size),
                     d.validation == "last" ? fmt::format("{}[{}:]", base, n_train)
                                            : fmt::format("{} random {} (split_seed {})", base,
                                                          d.val_size, d.split_seed));
  out.test.name = fs::path(out.test.name).filename().string();
  return out;
}

// ---- model ----

SequenceClassifier build_model(const MnistConfig& cfg) {
  return SequenceClassifier(
      SequenceClassifierOptions(cfg.model.rnn.options(cfg.features()), kClasses)
          .dropout(cfg.model.dropout));
}

torch::Tensor classify(SequenceClassifier& model, const MnistConfig& cfg,
                       const torch::Tensor& images, const std::vector<int64_t>& order,
                       torch::Device device) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t N = images.size(0), B = cfg.data.eval_batch_size;
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < N; start += B) {
    StopSignals::throw_if_requested();
    torch::Tensor x = to_sequences(cfg, images.narrow(0, start, std::min(B, N - start)), order);
    parts.push_back(torch::softmax(model->forward(x.to(device)), 1).to(torch::kCPU));
  }
  return torch::cat(parts, 0);
}

DigitScores score_digits(const torch::Tensor& probs, const torch::Tensor& labels) {
  DigitScores s;
  s.loss = F::nll_loss(probs.clamp_min(1e-12).log(), labels).item<double>();
  torch::Tensor pred = probs.argmax(1).contiguous();
  torch::Tensor gold = labels.contiguous();
  s.confusion.assign(kClasses, std::vector<int64_t>(kClasses, 0));
  const auto* g = gold.data_ptr<int64_t>();
  const auto* q = pred.data_ptr<int64_t>();
  for (int64_t i = 0; i < gold.size(0); ++i) {
    ++s.confusion[g[i]][q[i]];
    s.correct += g[i] == q[i];
  }
  s.accuracy = 100.0 * static_cast<double>(s.correct) / static_cast<double>(gold.size(0));
  return s;
}

std::string confusion_table(const std::vector<std::vector<int64_t>>& confusion) {
  std::string out = "true\\pred";
  for (size_t c = 0; c < confusion.size(); ++c) out += fmt::format("{:>6}", c);
  out += fmt::format("{:>8}\n", "recall");
  for (size_t r = 0; r < confusion.size(); ++r) {
    out += fmt::format("{:<9}", r);
    int64_t total = 0;
    for (size_t c = 0; c < confusion.size(); ++c) {
      out += fmt::format("{:>6}", confusion[r][c]);
      total += confusion[r][c];
    }
    out += fmt::format(
        "{:>7.2f}%\n",
        total ? 100.0 * static_cast<double>(confusion[r][r]) / static_cast<double>(total) : 0.0);
  }
  return out;
}

bool plot_confusion(const std::vector<std::vector<int64_t>>& confusion, const fs::path& svg,
                    const std::string& title) {
  const fs::path dir = svg.parent_path();
  const std::string stem = svg.stem().string();
  // The matrix as gnuplot reads "matrix": one row per true digit.
  std::string data;
  for (const auto& row : confusion) {
    for (size_t c = 0; c < row.size(); ++c) data += fmt::format("{}{}", c ? " " : "", row[c]);
    data += "\n";
  }
  write_file_atomic(dir / (stem + ".dat"), data);
  // Counts on a log colour scale (the diagonal holds ~1000, errors a few).
  const std::string script = fmt::format(
      "set terminal svg size 640,560 dynamic font 'sans,12' background '#ffffff'\n"
      "set output {}\n"
      "set title {}\n"
      "set xlabel 'predicted digit'\nset ylabel 'true digit'\n"
      "set xrange [-0.5:9.5]\nset yrange [9.5:-0.5]\n"
      "set xtics 0,1,9 scale 0\nset ytics 0,1,9 scale 0\n"
      "set logscale cb\nset cbrange [1:*]\nset cblabel 'images (log scale)'\n"
      "set palette defined (0 '#f7fbff', 1 '#6baed6', 2 '#08306b')\n"
      "plot {} matrix using 1:2:($3 > 0 ? $3 : 1/0) with image pixels notitle, \\\n"
      "     {} matrix using 1:2:($3 > 0 ? sprintf('%d', $3) : ''):($3 > 300 ? 0xffffff : 0) "
      "with labels tc rgb variable notitle\n",
      gnuplot_quote(svg.filename().string()), gnuplot_quote(title), gnuplot_quote(stem + ".dat"),
      gnuplot_quote(stem + ".dat"));
  const fs::path gp = dir / (stem + ".gp");
  write_file_atomic(gp, script);
  return run_gnuplot(gp, dir);
}

// ---- the task ----

MnistTask::MnistTask(const MnistConfig& cfg, const fs::path& resume_dir, torch::Device device)
    : cfg_(cfg), device_(device) {
  data_ = load_data(cfg);
  if (cfg.data.sequence == "permuted")
    order_ = resume_dir.empty() ? draw_permutation(cfg.data.permutation_seed)
                                : load_permutation(resume_dir / "permutation.json");
  model_ = build_model(cfg);
  model_->to(device_);
}

int64_t MnistTask::batches_per_epoch() const {
  return (data_.train.size() + cfg_.data.batch_size - 1) / cfg_.data.batch_size;
}

void MnistTask::start_epoch(int64_t epoch) {
  batches_ =
      datasets::make_batches(data_.train.size(), cfg_.data.batch_size, /*shuffle=*/true,
                             datasets::epoch_seed(static_cast<uint64_t>(cfg_.run.seed), epoch));
}

StepOutput MnistTask::train_step(int64_t index) {
  // Data-parallel: this rank's images of the batch (every image costs the same).
  const std::vector<int64_t> mine =
      share(batches_[static_cast<size_t>(index)], [](int64_t) { return 1; });
  if (mine.empty()) return no_examples();
  torch::Tensor idx = torch::tensor(mine, torch::kLong);
  torch::Tensor x = to_sequences(cfg_, data_.train.images.index_select(0, idx), order_);
  torch::Tensor y = data_.train.labels.index_select(0, idx);
  torch::Tensor loss = F::cross_entropy(model_->forward(x.to(device_)), y.to(device_));
  return {loss, idx.size(0)};
}

Metrics MnistTask::evaluate(const std::string& split) {
  const Digits& part = split == "test" ? data_.test : data_.valid;
  // Data-parallel: this rank's part of the images; the summed loss, the
  // correct count and the confusion matrix add up over the ranks.
  const auto [first, last] = eval_part(part.size());
  std::vector<double> sums(2 + kClasses * kClasses, 0.0);
  if (last > first) {
    torch::Tensor labels = part.labels.slice(0, first, last);
    DigitScores mine = score_digits(
        classify(model_, cfg_, part.images.slice(0, first, last), order_, device_), labels);
    sums[0] = mine.loss * static_cast<double>(last - first);
    sums[1] = static_cast<double>(mine.correct);
    for (int64_t g = 0; g < kClasses; ++g)
      for (int64_t p = 0; p < kClasses; ++p)
        sums[static_cast<size_t>(2 + g * kClasses + p)] = static_cast<double>(mine.confusion[g][p]);
  }
  sums = sum_over_ranks(sums);
  const double n = static_cast<double>(part.size());
  if (split == "test") {
    test_confusion_.assign(kClasses, std::vector<int64_t>(kClasses, 0));
    for (int64_t g = 0; g < kClasses; ++g)
      for (int64_t p = 0; p < kClasses; ++p)
        test_confusion_[g][p] =
            static_cast<int64_t>(sums[static_cast<size_t>(2 + g * kClasses + p)]);
  }
  return {{"loss", sums[0] / n}, {"accuracy", 100.0 * sums[1] / n}};
}

std::vector<MetricInfo> MnistTask::metrics() const {
  return {{"accuracy", true}, {"loss", false}};
}

void MnistTask::add_summary(nlohmann::json& summary, double) const {
  summary["sequence"] = cfg_.data.sequence;
  summary["sequence_length"] = cfg_.steps();
  summary["train_images"] = data_.train.size();
  summary["val_images"] = data_.valid.size();
  summary["test_images"] = data_.test.size();
  if (!test_confusion_.empty()) summary["test_confusion"] = test_confusion_;
}

// ---- the job ----

MnistJob::MnistJob(const MnistConfig& cfg, const ConfigSchema& schema, const fs::path& resume_dir)
    : cfg_(cfg), device_(resolve_device(cfg.run.device)) {
  if (cfg.task == "caption") {
    caption_ = std::make_unique<CaptionTask>(cfg, device_);
    trainer_ = std::make_unique<Trainer>(*caption_, cfg.train, cfg.optim, cfg.run, &schema);
  } else {
    task_ = std::make_unique<MnistTask>(cfg, resume_dir, device_);
    trainer_ = std::make_unique<Trainer>(*task_, cfg.train, cfg.optim, cfg.run, &schema);
  }
}

MnistJob::~MnistJob() = default;

void MnistJob::save_assets(const RunDir& dir) {
  if (task_ && cfg_.data.sequence == "permuted")
    save_permutation(dir.file("permutation.json"), task_->order());
}

nlohmann::json MnistJob::run(const RunDir& dir, bool resume, const std::string& label,
                             const std::function<void(int64_t)>& on_resumed) {
  if (caption_) return run_caption(dir, resume, label, on_resumed);
  const auto& d = task_->data();
  const auto& r = cfg_.model.rnn;
  int64_t n_params = 0;
  for (const auto& p : task_->model().parameters()) n_params += p.numel();
  const auto& o = r.options(cfg_.features());
  std::string init;
  if (o.hidden_init() != HiddenInit::kDefault) init += ", W_hh " + to_string(o.hidden_init());
  if (o.forget_bias() != ForgetBiasInit::kDefault)
    init += ", forget bias " + to_string(o.forget_bias()) +
            (o.chrono_max() > 0 ? fmt::format(" (T_max {})", o.chrono_max()) : "");
  std::vector<std::string> intro = {
      fmt::format("data: MNIST as {} ({} steps of {}), pixels {}; {} train ({}) / {} validation "
                  "({}) / {} test images",
                  cfg_.data.sequence, cfg_.steps(), cfg_.features(), cfg_.data.normalize,
                  d.train.size(), d.train.name, d.valid.size(), d.valid.name, d.test.size()),
      fmt::format(
          "model: {} {}{}{} x{} hidden {}{}{}, dropout {}; {} parameters, device {}, seed {}",
          r.impl, r.stack.bidirectional() ? "bi-" : "", r.type,
          r.type == "rnn" ? "_" + r.nonlinearity : "", r.stack.num_layers(), r.stack.hidden_size(),
          init, r.stack.layer_norm() ? ", layer norm" : "", cfg_.model.dropout, n_params,
          device_.str(), cfg_.run.seed)};
  trainer_->set_intro(intro);
  trainer_->set_label(label);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  trainer_->on_finish([&](nlohmann::json&) {
    const auto& confusion = task_->test_confusion();
    if (confusion.empty()) return;
    write_file_atomic(dir.file("confusion.txt"),
                      "test set confusion matrix (rows: true digit, columns: predicted)\n" +
                          confusion_table(confusion));
    plot_confusion(
        confusion, dir.file("confusion.svg"),
        fmt::format("MNIST {} test confusion ({} {})", cfg_.data.sequence, r.impl, r.type));
  });
  nlohmann::json summary = trainer_->fit(dir, resume);
  for (const char* key : {"val_accuracy", "test_accuracy"})
    if (summary.contains(key)) logger()->info("{} {:.2f}", key, summary[key].get<double>());
  return summary;
}

nlohmann::json MnistJob::run_caption(const RunDir& dir, bool resume, const std::string& label,
                                     const std::function<void(int64_t)>& on_resumed) {
  const auto& d = caption_->data();
  const auto& m = cfg_.model;
  const auto& st = cfg_.strips;
  int64_t n_params = 0;
  for (const auto& p : caption_->model().parameters()) n_params += p.numel();
  trainer_->set_intro(
      {fmt::format("data: MNIST strips of 1-{} digits read column by column (28 pixels a step), "
                   "pixels {}; {} train strips of {} images ({}), {} validation strips of {}, {} "
                   "test strips of {}",
                   st.max_digits, cfg_.data.normalize, st.train, d.train.size(), d.train.name,
                   st.valid, d.valid.size(), st.test, d.test.size()),
       fmt::format("model: encoder {} {}{} x{} hidden {}; decoder {} x{} hidden {}, attention {}, "
                   "embedding {}, dropout {}; {} parameters, beam {}, device {}, seed {}",
                   m.rnn.impl, m.rnn.stack.bidirectional() ? "bi-" : "", m.rnn.type,
                   m.rnn.stack.num_layers(), m.rnn.stack.hidden_size(), m.decoder.type,
                   m.decoder.stack.num_layers(), m.decoder.stack.hidden_size(), m.attention,
                   m.embedding_dim, m.dropout, n_params, cfg_.decode.beam, device_.str(),
                   cfg_.run.seed)});
  trainer_->set_label(label);
  if (on_resumed) trainer_->on_resumed(on_resumed);
  trainer_->on_finish([&](nlohmann::json&) { caption_->write_examples(dir.path()); });
  nlohmann::json summary = trainer_->fit(dir, resume);
  for (const char* key : {"val_accuracy", "test_accuracy", "test_word_accuracy"})
    if (summary.contains(key)) logger()->info("{} {:.2f}", key, summary[key].get<double>());
  return summary;
}

}  // namespace rnnlab::mnist
