// Stopping a run cleanly: SIGINT (Ctrl-C) and SIGTERM (what a cluster
// scheduler sends before it kills a job) only raise a flag; the loop that
// owns a StopSignals checks it between updates, saves a checkpoint and
// throws Interrupted. The previous handlers come back when the guard goes out
// of scope, on every exit path (return, exception).
#pragma once

#include <csignal>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace rnnlab {

/// Installs the SIGINT and SIGTERM handlers for its lifetime. Guards nest: the
/// outermost one (run_experiment's, installed before anything is read or
/// created) starts with no request, and a signal caught while an inner one
/// (the Trainer's) is being set up is kept for it.
class StopSignals {
 public:
  /// A second signal this soon after the first is the same request, delivered
  /// twice (timeout(1) without --foreground signals the command, then its
  /// process group); a later one kills at once.
  static constexpr int64_t kSameRequestNs = 1000000000;

  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// The signal that asked to stop (SIGINT or SIGTERM), or 0.
  static int requested();
  /// Forgets a request (a new run starts); inside an outer guard, a request
  /// belongs to the outer guard's owner and is kept.
  static void clear();
  /// Throws Interrupted ("stopped by SIGTERM") when a stop was requested: for
  /// long loops outside the training updates (evaluation, decoding), so that a
  /// signal is honoured in every phase. The loop's owner (the Trainer) saves
  /// what it must and rethrows with a message of its own. Outside a
  /// StopSignals guard nothing is ever requested, so it is free to call.
  static void throw_if_requested();

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

/// Thrown when a signal stopped a run after its checkpoint was saved; exit
/// code 128 + the signal (130 for SIGINT, 143 for SIGTERM), as a shell reports it.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message, 128 + signal) {}
};

}  // namespace rnnlab
