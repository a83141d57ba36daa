// Running gnuplot without a shell.
#include "results/gnuplot.h"

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace rnnlab {

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "''";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

bool run_gnuplot(const std::filesystem::path& script, const std::filesystem::path& workdir) {
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (chdir, open, dup2, execvp, _exit).
  std::error_code ec;
  const std::string script_arg = std::filesystem::absolute(script, ec).string();
  if (ec) return false;
  const std::string dir = workdir.string();
  std::vector<char*> argv = {const_cast<char*>("gnuplot"), const_cast<char*>(script_arg.c_str()),
                             nullptr};

  pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
      ::dup2(null_fd, STDERR_FILENO);
      if (null_fd > STDERR_FILENO) ::close(null_fd);
    }
    if (!dir.empty() && ::chdir(dir.c_str()) != 0) ::_exit(126);
    ::execvp("gnuplot", argv.data());
    ::_exit(127);  // not installed
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace rnnlab
