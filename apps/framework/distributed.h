// Data-parallel training on PyTorch's own distributed engine, c10d: where
// this process stands in a job (from its launcher's environment) and the
// collectives the trainer needs (gradients averaged in buckets, sums of
// metrics, agreed decisions), over a c10d process group (Gloo on CPU)
// that meets through c10d's TCPStore.
//
// Launchers, as PyTorch jobs are launched:
//   torchrun --nproc-per-node=2 --no-python build/bin/rnnlab-lm train CFG
//       RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   srun (inside a Slurm step: SLURM_STEP_ID set)
//       SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; MASTER_ADDR and
//       MASTER_PORT from the environment, else the caller's defaults
//   none of these: one process.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rnnlab {

/// Where this process stands in a data-parallel job.
struct LaunchInfo {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 0;
  std::string launcher = "none";  ///< "none", "torchrun", "slurm"
  bool distributed() const { return world_size > 1; }
};

/// Reads an environment variable; nullptr when unset (std::getenv by default).
using EnvReader = std::function<const char*(const char*)>;

/// The launch variables of this process. UsageError (one line naming the
/// variable) for a partial set ("RANK is set but WORLD_SIZE is not"), a
/// value that is not a number, a rank outside 0..WORLD_SIZE-1, a port
/// outside 1..65535. Under Slurm without MASTER_ADDR/MASTER_PORT in the
/// environment, `slurm_addr` and `slurm_port` are used (keys of the config);
/// an empty `slurm_addr` is an error naming both.
LaunchInfo read_launch(const EnvReader& env = nullptr, const std::string& slurm_addr = "",
                       int64_t slurm_port = 29500);

/// The collectives of a data-parallel job over a c10d Gloo process group.
class Collective {
 public:
  /// Meets the other ranks through a TCPStore at master_addr:master_port
  /// (rank 0 serves it) and builds the process group. RuntimeError naming
  /// the address when the ranks do not meet within `timeout`, which also
  /// bounds every later collective.
  Collective(const LaunchInfo& info, std::chrono::milliseconds timeout);
  ~Collective();
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;

  int64_t rank() const { return rank_; }
  int64_t size() const { return size_; }
  /// Set by the Trainer that trains over this job: a command whose job has
  /// no such trainer cannot run data-parallel.
  void mark_used() { used_ = true; }
  bool used() const { return used_; }

  /// Averages the gradients of `params` over the ranks, bucket by bucket:
  /// each bucket (parameters in order, about `bucket_bytes` of gradients)
  /// is one flat buffer and one all-reduce, as DDP's reducer does.
  /// Parameters without a gradient count as zeros; sparse gradients become dense.
  void average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 25 << 20);
  /// Element-wise sums over the ranks (in double precision).
  std::vector<double> sum(const std::vector<double>& values);
  /// Rank 0's `value`, on every rank.
  int64_t broadcast(int64_t value);
  /// Whether `flag` is true on any rank.
  bool any(bool flag);
  /// Every rank's `t` (the same shape on every rank, contiguous), concatenated
  /// along dimension `dim` in rank order.
  torch::Tensor all_gather(const torch::Tensor& t, int64_t dim);
  /// Every rank's `texts`, concatenated in rank order, on every rank
  /// (through the TCPStore: decoded hypotheses for BLEU, captions).
  std::vector<std::string> all_gather_texts(const std::vector<std::string>& texts);
  /// Rank 0's `value` of `key`, on every rank (through the TCPStore; each
  /// key is used once).
  std::string share(const std::string& key, const std::string& value);
  void barrier();

  // Independent work spread over the ranks (sub-runs): no rank waits for
  // another while it works; each publishes its results, rank 0 collects.
  /// Publishes `value` under `key` (through the TCPStore).
  void publish(const std::string& key, const std::string& value);
  /// The value published under `key`, or nullopt when there is none yet
  /// (does not wait).
  std::optional<std::string> published(const std::string& key);
  /// From now until destruction, a thread of this rank publishes a sign of
  /// life every second (on a store connection of its own).
  void start_heartbeat();
  /// Rank `rank`'s count of signs of life so far (0: none yet).
  int64_t heartbeat(int64_t rank);

 private:
  template <typename F>
  void guard(const std::string& what, F&& f);
  std::vector<int64_t> silent_ranks();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rank_ = 0, size_ = 1;
  bool used_ = false;
  int64_t gathers_ = 0;  // all_gather_texts calls so far (the same on every rank)
};

/// The job this process belongs to (set by run_experiment while it runs;
/// null in one process). The Trainer trains data-parallel over it.
Collective* process_collective();
void set_process_collective(Collective* collective);

/// `--nproc N` on one machine without torchrun: starts N copies of this
/// binary with the torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK,
/// MASTER_ADDR=127.0.0.1, MASTER_PORT a free loopback port),
/// RNNLAB_NPROC_CHILD=1 and, unless set, OMP_NUM_THREADS=1 (as torchrun), forwards SIGINT/SIGTERM
/// to them, and returns the exit code: 0 when all succeed, else the first failure's (a rank that
/// fails makes the others stop within run.dist_timeout). `argv` is this
/// process's command line, as guarded_main saw it.
int launch_local(int64_t nproc, const std::vector<std::string>& argv);
/// Whether this process was started by launch_local().
bool is_local_child();

}  // namespace rnnlab
