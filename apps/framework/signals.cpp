// SIGINT/SIGTERM guard (see signals.h).
#include "apps/framework/signals.h"

#include <time.h>

#include <atomic>
#include <cstdint>

namespace rnnlab {

namespace {

std::atomic<int> g_requested{0};
std::atomic<int64_t> g_requested_at{0};  // CLOCK_MONOTONIC nanoseconds of the request
int g_depth = 0;                         // guards alive: the outermost one owns the request

int64_t monotonic_ns() {  // clock_gettime is async-signal-safe
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

extern "C" void on_stop_signal(int sig) {
  const int64_t now = monotonic_ns();
  if (g_requested.load() == 0) {
    g_requested_at = now;
    g_requested = sig;
    return;
  }
  // The same request delivered twice: timeout(1) signals the command and
  // then its whole process group, a shell script's group gets one each.
  if (now - g_requested_at.load() < StopSignals::kSameRequestNs) return;
  // A second Ctrl-C or SIGTERM, later: kill at once (the default action, on
  // return from this handler).
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

StopSignals::StopSignals() {
  if (g_depth++ == 0) g_requested = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  --g_depth;
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::requested() {
  return g_requested.load();
}

void StopSignals::clear() {
  if (g_depth <= 1) g_requested = 0;
}

void StopSignals::throw_if_requested() {
  if (int sig = g_requested.load())
    throw Interrupted(sig == SIGTERM ? "stopped by SIGTERM" : "stopped by SIGINT", sig);
}

}  // namespace rnnlab
