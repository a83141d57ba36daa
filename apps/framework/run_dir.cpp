// Run directories: atomic files, metrics.jsonl, summary.json, plots, logging.
#include "apps/framework/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "datasets/text_file.h"
#include "results/gnuplot.h"

namespace fs = std::filesystem;

namespace rnnlab {

void write_file_atomic(const fs::path& path, const std::string& content) {
  datasets::write_file_atomic(path, content);
}

std::string read_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw DataError("'" + path.string() + "' is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path.string() + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// A temporary an atomic write leaves when its process is killed mid-write
// ("checkpoint_last.pt.tmp", "config.yaml.tmp.<pid>").
bool is_temporary(const std::string& name) {
  return (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) ||
         name.find(".tmp.") != std::string::npos;
}

}  // namespace

bool RunDir::is_unused(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return true;
  if (!fs::is_directory(path, ec)) return false;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const std::string name = e.path().filename().string();
    if (name != ".lock" && !(is_temporary(name) && e.is_regular_file(ec))) return false;
  }
  return true;
}

void RunDir::check_unused(const fs::path& path, bool can_resume) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    throw UsageError("run directory '" + path.string() + "' is a file, not a directory");
  if (!is_unused(path))
    throw UsageError("run directory '" + path.string() + "' already exists and is not empty; " +
                     (can_resume ? "use --resume to continue it" : "choose another --run-dir"));
}

RunDir RunDir::create(const fs::path& path) {
  check_unused(path);
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec)
    throw RuntimeError("cannot create run directory '" + path.string() + "': " + ec.message());
  RunDir dir(path);
  dir.remove_temporaries();  // of a creation that was stopped before config.yaml
  return dir;
}

bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

RunDir RunDir::open(const fs::path& path) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    throw UsageError("'" + path.string() + "' is a file, not a run directory");
  if (!fs::is_directory(path, ec))
    throw UsageError("run directory '" + path.string() + "' does not exist");
  if (!fs::is_regular_file(path / "config.yaml", ec)) {
    if (fs::exists(path / ".lock", ec) && is_unused(path))
      throw UsageError("'" + path.string() +
                       "' is a run that was stopped before its config.yaml was written; start it "
                       "again with: train CONFIG --run-dir " +
                       path.string());
    throw UsageError("'" + path.string() + "' is not a run directory (no config.yaml)");
  }
  return RunDir(path);
}

RunDirLock::RunDirLock(const fs::path& dir) {
  fs::path file = dir / ".lock";
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw RuntimeError("cannot create '" + file.string() + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw RuntimeError("run directory '" + dir.string() + "' is in use by another process (pid " +
                       pid + "); wait for it to end or stop it first");
  }
  std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
    // The pid is only a courtesy for the message above; the lock holds without it.
  }
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

NewRun create_run(const fs::path& path, const std::string& config_text,
                  std::unique_ptr<RunDirLock> held) {
  RunDir dir = RunDir::create(path);
  std::unique_ptr<RunDirLock> lock = held ? std::move(held) : std::make_unique<RunDirLock>(path);
  write_file_atomic(dir.file("config.yaml"), config_text);
  return {std::move(dir), std::move(lock)};
}

fs::path RunDir::default_path(const std::string& runs_root, const std::string& experiment) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  fs::path p = fs::path(runs_root) / experiment / stamp;
  // Two runs started in the same second get distinct directories.
  for (int i = 2; fs::exists(p); ++i)
    p = fs::path(runs_root) / experiment / (std::string(stamp) + "-" + std::to_string(i));
  return p;
}

void RunDir::append_metrics(const nlohmann::json& record) const {
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  out << record.dump() << "\n";
}

void RunDir::truncate_metrics_after(int64_t step) const {
  fs::path p = file("metrics.jsonl");
  if (!fs::exists(p)) return;
  std::istringstream in(read_file(p));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto rec = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded()) continue;  // a line cut off by a crash
    if (rec.value("step", int64_t{0}) > step) continue;
    kept += line + "\n";
  }
  write_file_atomic(p, kept);
}

void RunDir::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(file("summary.json"), summary.dump(2) + "\n");
}

std::optional<nlohmann::json> RunDir::completed_summary() const {
  fs::path p = file("summary.json");
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  auto j = nlohmann::json::parse(read_file(p), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw DataError("'" + p.string() + "' is not JSON");
  return j;
}

fs::path RunDir::resume_checkpoint() const {
  std::error_code ec;
  for (const char* name : {"checkpoint_last.pt", "checkpoint_best.pt"})
    if (fs::is_regular_file(file(name), ec)) return file(name);
  return {};
}

void RunDir::mark_incomplete() const {
  std::error_code ec;
  fs::remove(file("summary.json"), ec);
}

void RunDir::remove_temporaries() const {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(path_, ec))
    if (e.is_regular_file(ec) && is_temporary(e.path().filename().string()))
      stale.push_back(e.path());
  for (const auto& p : stale) fs::remove(p, ec);
}

bool RunDir::plot_learning_curve(const std::string& loss_label, const std::string& metric) const {
  fs::path metrics = file("metrics.jsonl");
  if (!fs::exists(metrics)) return false;
  // Data blocks for gnuplot, "step value" per line: training loss, validation
  // loss, and the validation metric when there is one.
  std::ostringstream train, valid, score;
  std::optional<std::pair<int64_t, double>> best;  // the last "new best" validation
  const bool with_metric = !metric.empty() && metric != "loss";
  std::istringstream in(read_file(metrics));
  std::string line;
  while (std::getline(in, line)) {
    auto rec = nlohmann::json::parse(line, nullptr, false);
    if (rec.is_discarded() || !rec.contains("step")) continue;
    const std::string kind = rec.value("type", "");
    if (kind != "train" && kind != "valid") continue;
    const auto step = rec["step"].get<int64_t>();
    auto point = [&](const std::string& key) {
      return fmt::format("{} {}\n", step, rec[key].get<double>());
    };
    if (rec.contains("loss") && rec["loss"].is_number())
      (kind == "train" ? train : valid) << point("loss");
    if (kind == "valid" && with_metric && rec.contains(metric) && rec[metric].is_number()) {
      score << point(metric);
      if (rec.value("best", false)) best = {step, rec[metric].get<double>()};
    }
  }
  const std::string train_data = train.str(), valid_data = valid.str(), score_data = score.str();
  if (train_data.empty() && valid_data.empty()) return false;
  auto block = [](const std::string& data) { return data.empty() ? "nan nan\n" : data; };
  write_file_atomic(file("learning_curve.dat"),
                    "# step value (block 0: training loss, 1: validation loss, 2: validation " +
                        (with_metric ? metric : std::string("metric")) + ")\n" + block(train_data) +
                        "\n\n" + block(valid_data) + "\n\n" + block(score_data));
  std::vector<std::string> plots;
  if (!train_data.empty())
    plots.push_back(
        "'learning_curve.dat' index 0 using 1:2 with lines lw 1.5 title 'training loss'");
  if (!valid_data.empty())
    plots.push_back(
        "'learning_curve.dat' index 1 using 1:2 with linespoints lw 2 pt 7 title 'validation "
        "loss'");
  std::string axes;
  if (!score_data.empty()) {
    // the metric on the right axis, its best value ringed and named
    axes = "set y2label 'validation " + metric + "'\nset ytics nomirror\nset y2tics\n";
    plots.push_back(
        "'learning_curve.dat' index 2 using 1:2 axes x1y2 with linespoints lw 2 pt 5 "
        "dt 2 lc rgb '#d95f02' title 'validation " +
        metric + " (right axis)'");
    if (best)
      plots.push_back(
          fmt::format("'+' using ({}):({}) every ::0::0 axes x1y2 with points pt 6 ps 2.5 lw 2 "
                      "lc rgb '#d95f02' title 'best: {:.4g} at step {}'",
                      best->first, best->second, best->second, best->first));
  }
  // the key below the plot, where no curve runs
  std::string script =
      "set terminal svg size 900,560 dynamic background rgb 'white'\n"
      "set output 'learning_curve.svg'\n"
      "set title 'learning curve'\n"
      "set xlabel 'training step'\n"
      "set ylabel '" +
      loss_label + "'\n" + axes +
      "set grid\n"
      "set key below horizontal\n"
      "plot " +
      fmt::format("{}", fmt::join(plots, ", ")) + "\n";
  write_file_atomic(file("learning_curve.gp"), script);
  return run_gnuplot(file("learning_curve.gp"), path_);
}

namespace {
std::shared_ptr<spdlog::logger>& logger_instance() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    console->set_pattern("%v");
    auto l = std::make_shared<spdlog::logger>("rnnlab", console);
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return instance;
}
}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  return logger_instance();
}

void log_to_file(const fs::path& log_file) {
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), false);
  file_sink->set_pattern("[%Y-%m-%d %H:%M:%S] %v");
  logger_instance()->sinks().push_back(file_sink);
}

LogFile::LogFile(const fs::path& log_file) {
  auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), false);
  file_sink->set_pattern("[%Y-%m-%d %H:%M:%S] %v");
  logger_instance()->sinks().push_back(file_sink);
  sink_ = file_sink;
}

LogFile::~LogFile() {
  auto& sinks = logger_instance()->sinks();
  for (auto it = sinks.begin(); it != sinks.end(); ++it)
    if (it->get() == sink_.get()) {
      sinks.erase(it);
      break;
    }
}

}  // namespace rnnlab
