// Shared helpers of the libFuzzer targets (tests/fuzz, scripts/fuzz.sh).
//
// Each target turns the fuzzer's bytes into one or more files in a private
// scratch folder (/dev/shm when it exists: no disk traffic), calls a reader
// and lets only rnnlab's own user-facing errors (rnnlab::Error: DataError,
// ConfigError, UsageError, RuntimeError) through. Anything else that escapes
// (std::out_of_range, std::bad_alloc, c10::Error, YAML::Exception, ...) is a
// defect: the target prints it and aborts, so libFuzzer saves the input.
//
// RNNLAB_FUZZ_KNOWN: a '|'-separated list of substrings; an escaping
// exception whose "type: what()" contains one of them is treated as expected.
// It exists only to keep fuzzing past a defect that has been reported and
// not yet fixed (scripts/fuzz.sh --known ...); the regression inputs in
// regressions/<target>/ are the record of it.
// RNNLAB_FUZZ_VERBOSE=1 prints each expected error (to check what seeds reach).
#pragma once

#include <cxxabi.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "core/error.h"

namespace rnnlab::fuzz {

/// A scratch folder for this process, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string root = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = root + "/rnnlab-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    static struct Remover {
      std::string d;
      ~Remover() {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    } remover{d};
    return d;
  }();
  return dir;
}

/// Writes `data` to <scratch>/<name> and returns the path.
inline std::string write_file(const std::string& name, std::string_view data) {
  std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) std::abort();
  if (std::fclose(f) != 0) std::abort();
  return path;
}

/// Splits `data` at every '\0' into at most `max_parts` parts (the last one
/// keeps any further '\0' bytes).
/// The bytes of a file ("" if it cannot be read).
inline std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "";
  std::string out;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

inline std::vector<std::string_view> split_parts(std::string_view data, size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    size_t z = data.find('\0');
    if (z == std::string_view::npos) break;
    parts.push_back(data.substr(0, z));
    data.remove_prefix(z + 1);
  }
  parts.push_back(data);
  return parts;
}

inline std::string type_name(const std::type_info* t) {
  if (!t) return "unknown";
  int status = 0;
  char* s = abi::__cxa_demangle(t->name(), nullptr, nullptr, &status);
  std::string out = status == 0 && s ? s : t->name();
  std::free(s);
  return out;
}

inline bool known(const std::string& text) {
  const char* env = std::getenv("RNNLAB_FUZZ_KNOWN");
  if (!env || !*env) return false;
  std::string_view list(env);
  while (!list.empty()) {
    size_t bar = list.find('|');
    std::string_view item = list.substr(0, bar);
    if (!item.empty() && text.find(item) != std::string::npos) return true;
    if (bar == std::string_view::npos) break;
    list.remove_prefix(bar + 1);
  }
  return false;
}

[[noreturn]] inline void defect(const std::string& what) {
  std::fprintf(stderr, "==rnnlab-fuzz== DEFECT: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// A broken invariant (a round trip that does not give back what was written...).
inline void check(bool ok, const std::string& what) {
  if (!ok && !known("invariant: " + what)) defect("invariant: " + what);
}

/// Runs `body`; rnnlab::Error is expected, any other exception is a defect.
template <class F>
void guarded(F&& body) {
  try {
    body();
  } catch (const rnnlab::Error& e) {
    // the reader's documented, user-facing failure (RNNLAB_FUZZ_VERBOSE=1 prints it)
    static const bool verbose = std::getenv("RNNLAB_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "expected error: %s\n", e.what());
  } catch (const std::exception& e) {
    std::string text =
        "uncaught " + type_name(abi::__cxa_current_exception_type()) + ": " + e.what();
    if (!known(text)) defect(text);
  } catch (...) {
    std::string text = "uncaught " + type_name(abi::__cxa_current_exception_type());
    if (!known(text)) defect(text);
  }
}

}  // namespace rnnlab::fuzz
