// SIGINT/SIGTERM guard (see signals.h).
#include "apps/framework/signals.h"

#include <atomic>

namespace rnnlab {

namespace {

std::atomic<int> g_requested{0};
int g_depth = 0;  // guards alive: the outermost one owns the request

extern "C" void on_stop_signal(int sig) {
  g_requested = sig;
  // A second Ctrl-C or SIGTERM kills at once (the default action).
  std::signal(sig, SIG_DFL);
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
