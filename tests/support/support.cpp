// See support.h.
#include "tests/support/support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace rnnlab::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static int counter = 0;
  path = fs::temp_directory_path() /
         ("rnnlab-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path);
  fs::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string TempDir::write(const std::string& name, const std::string& bytes) const {
  return write_file(file(name), bytes);
}

std::string write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

void expect_one_line_error(const CommandResult& r, int code, const std::string& text) {
  EXPECT_EQ(r.code, code) << r.output;
  EXPECT_EQ(r.output.rfind("error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(text), std::string::npos) << r.output;
}

bool is_time_field(const std::string& k) {
  auto ends = [&](const std::string& tail) {
    return k.size() > tail.size() && k.compare(k.size() - tail.size(), tail.size(), tail) == 0;
  };
  if (ends("_seconds") || ends("_per_sec") || ends("_share")) return true;
  // A parent summary's aggregate of one ("train_seconds_mean").
  for (const char* agg : {"_mean", "_std", "_min", "_max"})
    if (ends(agg)) return is_time_field(k.substr(0, k.size() - std::strlen(agg)));
  return false;
}

nlohmann::json without_time(nlohmann::json j) {
  for (auto it = j.begin(); it != j.end();) it = is_time_field(it.key()) ? j.erase(it) : ++it;
  return j;
}

nlohmann::json read_summary(const fs::path& run) {
  return nlohmann::json::parse(read_all((run / "summary.json").string()));
}

std::string metrics_without_time(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  std::string line, out;
  while (std::getline(in, line)) out += without_time(nlohmann::json::parse(line)).dump() + "\n";
  return out;
}

std::vector<double> train_losses(const fs::path& run) {
  std::vector<double> out;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") out.push_back(j["loss"].get<double>());
  }
  return out;
}

void train_on_one_and_two(const std::string& command, const fs::path& one, const fs::path& two) {
  auto r = run_command(command + " --run-dir " + one.string());
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_command(command + " --nproc 2 --run-dir " + two.string());
  ASSERT_EQ(r.code, 0) << r.output;
}

void expect_same_training(const fs::path& one, const fs::path& many, size_t updates,
                          double relative) {
  std::vector<double> a = train_losses(one), b = train_losses(many);
  if (updates > 0)
    ASSERT_EQ(a.size(), updates);
  else
    ASSERT_GT(a.size(), 0u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], relative * std::abs(a[i])) << "update " << i + 1;
  nlohmann::json sa = read_summary(one), sb = read_summary(many);
  if (!sa.contains("val_loss")) return;
  double va = sa["val_loss"].get<double>(), vb = sb["val_loss"].get<double>();
  EXPECT_NEAR(va, vb, relative * std::abs(va));
}

std::map<std::string, std::pair<std::string, fs::file_time_type>> snapshot(const fs::path& run) {
  std::map<std::string, std::pair<std::string, fs::file_time_type>> files;
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    if (!e.is_regular_file() || e.path().filename() == ".lock") continue;
    files[fs::relative(e.path(), run).string()] = {read_all(e.path().string()),
                                                   fs::last_write_time(e.path())};
  }
  return files;
}

void expect_complete_run_unchanged_by_resume(const std::string& binary, const std::string& run) {
  auto before = snapshot(run);
  auto r = run_command(binary + " train --resume " + run);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("is complete"), std::string::npos) << r.output;
  EXPECT_TRUE(snapshot(run) == before) << "a complete run's files changed: " << r.output;
  r = run_command(binary + " train --resume " + run + " --set run.progress=lines");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("is complete"), std::string::npos) << r.output;
  auto after = snapshot(run);
  after.erase("log.txt"), before.erase("log.txt");
  EXPECT_TRUE(after == before) << "a complete run's files changed: " << r.output;
}

std::string python_with_torch() {
  static const std::string python =
      run_command("/usr/bin/python3 -c 'import torch' 2>/dev/null").code == 0 ? "/usr/bin/python3"
                                                                              : "";
  return python;
}

std::string expect_python_loads_export(const std::string& out) {
  const std::string json = out.substr(0, out.rfind('.')) + ".json";
  EXPECT_TRUE(std::filesystem::exists(out)) << out;
  EXPECT_TRUE(std::filesystem::exists(json)) << json;
  if (python_with_torch().empty()) return read_all(json);
  auto r = run_command(python_with_torch() + " " + std::string(RNNLAB_SOURCE_DIR) +
                       "/scripts/load_exported.py " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("loaded ", 0), 0u) << r.output;
  return read_all(json);
}

std::string tiny_corpus(int lines) {
  static const char* words[] = {"hello", "world", "the", "cat",  "sat",   "on",
                                "a",     "mat",   "and", "then", "slept", "well"};
  std::string text;
  unsigned x = 12345;
  for (int i = 0; i < lines; ++i) {
    int n = 4 + static_cast<int>(i % 5);
    for (int j = 0; j < n; ++j) {
      x = x * 1103515245u + 12345u;
      text += words[(x >> 16) % 12];
      text += j + 1 < n ? " " : ".\n";
    }
  }
  return text;
}

}  // namespace rnnlab::test
