// Reading UTF-8 text files (see text_file.h).
#include "datasets/text_file.h"

#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "datasets/utf8.h"

namespace rnnlab::datasets {

namespace {

[[noreturn]] void fail_open(const std::string& path, int error) {
  throw DataError("cannot open '" + path + "': " + std::strerror(error));
}

}  // namespace

std::string read_text_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) fail_open(path, errno);
  if (S_ISDIR(info.st_mode)) fail_open(path, EISDIR);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!file) fail_open(path, errno);

  std::string text;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) text.append(buffer, n);
  if (std::ferror(file.get())) {
    throw DataError("cannot read '" + path + "': " + std::strerror(errno));
  }
  if (text.empty()) throw DataError(path + ": file is empty");
  check_utf8(text, path);
  return text;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::string text = read_text_file(path);
  std::vector<std::string> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  return lines;
}

void write_file_atomic(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RuntimeError("cannot write '" + tmp.string() + "'");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw RuntimeError("cannot write '" + tmp.string() + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw RuntimeError("cannot rename '" + tmp.string() + "' to '" + path.string() + "'");
  }
}

std::vector<std::string> read_stream_lines(std::istream& in, const std::string& name) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    check_utf8(line, name, lines.size() + 1);
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw DataError("cannot read " + name);
  return lines;
}

void split_fields(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
}

}  // namespace rnnlab::datasets
