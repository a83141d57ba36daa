// Error types shared by every rnnlab library and app.
//
// An rnnlab error is one line of text that names the file, key or line at
// fault. The app entry point (apps/framework/app.h) prints it as
// "error: <message>" and exits with the error's exit code:
//   0 success, 1 data or runtime error, 2 usage or config error.
#pragma once

#include <stdexcept>
#include <string>

namespace rnnlab {

/// Base class of all errors rnnlab reports to the user.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int exit_code)
      : std::runtime_error(message), exit_code_(exit_code) {}
  /// Process exit code for this error (1 runtime/data, 2 usage/config).
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

/// Missing, empty, malformed or undecodable data; exit code 1.
class DataError : public Error {
 public:
  explicit DataError(const std::string& message) : Error(message, 1) {}
};

/// A failure while running (non-finite loss, I/O failure...); exit code 1.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(message, 1) {}
};

/// Bad config file, key, type or value; exit code 2.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(message, 2) {}
};

/// Bad command line; exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(message, 2) {}
};

/// Ends the program with `code`, the error already reported (by the
/// processes a launcher started, each with its own line); prints nothing.
class ExitCode : public Error {
 public:
  explicit ExitCode(int code) : Error("", code) {}
};

/// The reason in a JSON library message, without its "[json.exception...]"
/// tag and boilerplate: "[json.exception.parse_error.101] parse error at line 1,
/// column 2: syntax error while parsing value - invalid literal; last read: 'x'"
/// -> "line 1, column 2: invalid literal; last read: 'x'".
inline std::string json_reason(std::string what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    size_t end = what.find("] ");
    if (end != std::string::npos) what.erase(0, end + 2);
  }
  for (const char* noise :
       {"parse error at ", "syntax error while parsing value - ",
        "syntax error while parsing object - ", "syntax error while parsing array - "}) {
    size_t at = what.find(noise);
    if (at != std::string::npos) what.erase(at, std::char_traits<char>::length(noise));
  }
  return what;
}

}  // namespace rnnlab
