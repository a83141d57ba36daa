// Launch variables and c10d collectives (see distributed.h).
#include "apps/framework/distributed.h"

// c10d's Gloo process group is declared only under this macro (libtorch's
// own build defines it); Debian's libtorch has it built in, libgloo-dev
// gives the Gloo headers it includes. This file is compiled on its own
// (not in a unity batch), so the macro reaches nothing else.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/torch_error.h"

namespace rnnlab {

namespace {

// An integer launch variable; UsageError naming it when it is not one.
int64_t int_var(const char* name, const char* value) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0')
    throw UsageError(fmt::format("launch variable {}='{}' is not a whole number", name, value));
  return v;
}

}  // namespace

LaunchInfo read_launch(const EnvReader& reader, const std::string& slurm_addr, int64_t slurm_port) {
  EnvReader env = reader ? reader : [](const char* n) -> const char* { return std::getenv(n); };
  LaunchInfo info;
  auto check = [&](const char* rank_name, const char* size_name, const char* local_name) {
    if (info.world_size < 1)
      throw UsageError(
          fmt::format("launch variable {}={} must be at least 1", size_name, info.world_size));
    if (info.rank < 0 || info.rank >= info.world_size)
      throw UsageError(fmt::format("launch variable {}={} is outside 0..{} ({}={})", rank_name,
                                   info.rank, info.world_size - 1, size_name, info.world_size));
    if (info.local_rank < 0)
      throw UsageError(
          fmt::format("launch variable {}={} is negative", local_name, info.local_rank));
    if (info.master_port < 1 || info.master_port > 65535)
      throw UsageError(
          fmt::format("launch variable MASTER_PORT={} is outside 1..65535", info.master_port));
    if (info.master_addr.empty()) throw UsageError("launch variable MASTER_ADDR is empty");
  };
  const char* torchrun[] = {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"};
  if (env("RANK") || env("WORLD_SIZE")) {
    for (const char* name : torchrun)
      if (!env(name)) {
        const char* set = env("RANK") ? "RANK" : "WORLD_SIZE";
        throw UsageError(
            fmt::format("launch variable {} is set but {} is not (torchrun sets RANK, WORLD_SIZE, "
                        "LOCAL_RANK, MASTER_ADDR and MASTER_PORT)",
                        set, name));
      }
    info.launcher = "torchrun";
    info.rank = int_var("RANK", env("RANK"));
    info.world_size = int_var("WORLD_SIZE", env("WORLD_SIZE"));
    info.local_rank = env("LOCAL_RANK") ? int_var("LOCAL_RANK", env("LOCAL_RANK")) : info.rank;
    info.master_addr = env("MASTER_ADDR");
    info.master_port = int_var("MASTER_PORT", env("MASTER_PORT"));
    check("RANK", "WORLD_SIZE", "LOCAL_RANK");
    return info;
  }
  // Slurm: only inside a job step (srun), where every task is one rank; a
  // batch script's own shell has SLURM_PROCID too but is one process.
  if (env("SLURM_STEP_ID") && env("SLURM_PROCID") && env("SLURM_NTASKS")) {
    info.launcher = "slurm";
    info.rank = int_var("SLURM_PROCID", env("SLURM_PROCID"));
    info.world_size = int_var("SLURM_NTASKS", env("SLURM_NTASKS"));
    info.local_rank =
        env("SLURM_LOCALID") ? int_var("SLURM_LOCALID", env("SLURM_LOCALID")) : info.rank;
    if (info.world_size == 1) return LaunchInfo{};
    const char* addr = env("MASTER_ADDR");
    if (!addr && slurm_addr.empty())
      throw UsageError(
          "a Slurm step of several tasks needs the master's address: export MASTER_ADDR (the "
          "first host of $SLURM_JOB_NODELIST) or set run.master_addr");
    info.master_addr = addr ? addr : slurm_addr;
    info.master_port = env("MASTER_PORT") ? int_var("MASTER_PORT", env("MASTER_PORT")) : slurm_port;
    check("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID");
    return info;
  }
  return info;
}

// ---------------------------------------------------------------------------

struct Collective::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  // A client connection of the store and its key prefix ("" or torchrun's).
  std::function<c10::intrusive_ptr<c10d::Store>()> connect;
  std::thread heartbeat;
  std::atomic<bool> stop{false};
  bool store_gone = false;  // the store did not answer when a collective failed
};

Collective::Collective(const LaunchInfo& info, std::chrono::milliseconds timeout)
    : impl_(new Impl), rank_(info.rank), size_(info.world_size) {
  const std::string where = fmt::format("{}:{}", info.master_addr, info.master_port);
  try {
    // Under torchrun its agent already serves the store at MASTER_PORT
    // (TORCHELASTIC_USE_AGENT_STORE): every rank is then a client, under the
    // prefix PyTorch's own workers use.
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool agent_store = agent && (std::string(agent) == "True" || std::string(agent) == "1");
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(info.master_port);
    so.isServer = info.rank == 0 && !agent_store;
    so.numWorkers = static_cast<int>(info.world_size);
    so.waitWorkers = !agent_store;
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(info.master_addr, so);
    const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
    const std::string prefix =
        agent_store ? std::string("/worker/attempt_") + (attempt ? attempt : "0") : "";
    auto wrap = [prefix](c10::intrusive_ptr<c10d::Store> s) -> c10::intrusive_ptr<c10d::Store> {
      if (prefix.empty()) return s;
      return c10::make_intrusive<c10d::PrefixStore>(prefix, s);
    };
    impl_->store = wrap(tcp);
    c10d::TCPStoreOptions client = so;
    client.isServer = false;
    client.waitWorkers = false;
    client.numWorkers = c10::nullopt;
    const std::string addr = info.master_addr;
    impl_->connect = [addr, client, wrap] {
      return wrap(c10::make_intrusive<c10d::TCPStore>(addr, client));
    };
    auto opts = c10d::ProcessGroupGloo::Options::create();
    // The interface that reaches the master: Gloo connects the ranks
    // directly, each on the address its host resolves for itself.
    opts->devices.push_back(info.master_addr == "127.0.0.1" || info.master_addr == "localhost"
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->timeout = timeout;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        impl_->store, static_cast<int>(info.rank), static_cast<int>(info.world_size), opts);
  } catch (const std::exception& e) {
    throw RuntimeError(fmt::format(
        "rank {} of {}: the ranks did not meet at {} within {} s (run.dist_timeout): {}", info.rank,
        info.world_size, where, timeout.count() / 1000.0, first_line(e)));
  }
}

Collective::~Collective() {
  impl_->stop = true;
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

namespace {

// Runs a collective; a failure (a rank gone, the timeout) is one line.
}  // namespace

// Runs a collective; a failure (a rank gone, the timeout) is one line that
// names the ranks whose heartbeat has stopped, when this job beats one.
template <typename F>
void Collective::guard(const std::string& what, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::string who = "another rank stopped or hangs?";
    if (impl_->heartbeat.joinable()) {
      std::vector<int64_t> silent = silent_ranks();
      if (!silent.empty())
        who = fmt::format("rank {} stopped: no sign of life", fmt::join(silent, ", rank "));
      else if (impl_->store_gone)
        who = "rank 0 (the store's host) stopped?";
    }
    throw RuntimeError(fmt::format("rank {}: {} failed ({}): {}", rank_, what, who, first_line(e)));
  }
}

std::vector<int64_t> Collective::silent_ranks() {
  // The ranks whose heartbeat does not move in 2.5 s (a beat a second).
  std::vector<int64_t> silent;
  try {
    auto beats = [&] {
      std::vector<int64_t> n(static_cast<size_t>(size_), 0);
      for (int64_t r = 0; r < size_; ++r)
        if (r != rank_)
          n[static_cast<size_t>(r)] = impl_->store->add("rnnlab/alive/" + std::to_string(r), 0);
      return n;
    };
    std::vector<int64_t> before = beats();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    std::vector<int64_t> after = beats();
    for (int64_t r = 0; r < size_; ++r)
      if (r != rank_ && after[static_cast<size_t>(r)] == before[static_cast<size_t>(r)])
        silent.push_back(r);
  } catch (const std::exception&) {
    impl_->store_gone = true;
    return {};
  }
  return silent;
}

void Collective::average_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  if (size_ == 1) return;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    // Sparse gradients (word2vec's plain SGD) are averaged as dense ones.
    if (p.grad().is_sparse()) p.mutable_grad() = p.grad().to_dense();
    grads.push_back(p.grad());
  }
  // Buckets of consecutive gradients of one dtype, about bucket_bytes each.
  size_t begin = 0;
  while (begin < grads.size()) {
    size_t end = begin;
    int64_t bytes = 0;
    while (end < grads.size() && grads[end].scalar_type() == grads[begin].scalar_type() &&
           (end == begin || bytes + grads[end].nbytes() <= static_cast<size_t>(bucket_bytes)))
      bytes += static_cast<int64_t>(grads[end].nbytes()), ++end;
    std::vector<torch::Tensor> flat_parts;
    for (size_t i = begin; i < end; ++i) flat_parts.push_back(grads[i].reshape({-1}));
    std::vector<torch::Tensor> buffer = {torch::cat(flat_parts)};
    guard("averaging the gradients", [&] { impl_->pg->allreduce(buffer)->wait(); });
    buffer[0].div_(static_cast<double>(size_));
    int64_t offset = 0;
    for (size_t i = begin; i < end; ++i) {
      int64_t n = grads[i].numel();
      grads[i].copy_(buffer[0].narrow(0, offset, n).view_as(grads[i]));
      offset += n;
    }
    begin = end;
  }
}

std::vector<double> Collective::sum(const std::vector<double>& values) {
  if (size_ == 1 || values.empty()) return values;
  std::vector<torch::Tensor> t = {torch::tensor(values, torch::kDouble)};
  guard("summing over the ranks", [&] { impl_->pg->allreduce(t)->wait(); });
  return std::vector<double>(t[0].data_ptr<double>(), t[0].data_ptr<double>() + t[0].numel());
}

int64_t Collective::broadcast(int64_t value) {
  if (size_ == 1) return value;
  std::vector<torch::Tensor> t = {torch::tensor({value}, torch::kLong)};
  guard("agreeing with rank 0", [&] { impl_->pg->broadcast(t)->wait(); });
  return t[0].item<int64_t>();
}

bool Collective::any(bool flag) {
  return sum({flag ? 1.0 : 0.0})[0] > 0;
}

torch::Tensor Collective::all_gather(const torch::Tensor& t, int64_t dim) {
  if (size_ == 1) return t;
  std::vector<torch::Tensor> in = {t.contiguous()};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int64_t r = 0; r < size_; ++r) out[0].push_back(torch::empty_like(in[0]));
  guard("gathering from the ranks", [&] { impl_->pg->allgather(out, in)->wait(); });
  return torch::cat(out[0], dim);
}

std::string Collective::share(const std::string& key, const std::string& value) {
  if (size_ == 1) return value;
  const std::string k = "rnnlab/" + key;
  std::string out;
  guard("sharing rank 0's " + key, [&] {
    if (rank_ == 0) impl_->store->set(k, std::vector<uint8_t>(value.begin(), value.end()));
    std::vector<uint8_t> v = impl_->store->get(k);
    out.assign(v.begin(), v.end());
  });
  return out;
}

void Collective::barrier() {
  if (size_ == 1) return;
  guard("waiting for the other ranks", [&] { impl_->pg->barrier()->wait(); });
}

std::vector<std::string> Collective::all_gather_texts(const std::vector<std::string>& texts) {
  if (size_ == 1) return texts;
  // Each text as its length, a space and its bytes.
  std::string mine;
  for (const auto& t : texts) mine += std::to_string(t.size()) + " " + t;
  const std::string prefix = "rnnlab/gather/" + std::to_string(gathers_++) + "/";
  std::vector<std::string> out;
  guard("gathering texts from the ranks", [&] {
    impl_->store->set(prefix + std::to_string(rank_),
                      std::vector<uint8_t>(mine.begin(), mine.end()));
    for (int64_t r = 0; r < size_; ++r) {
      std::vector<uint8_t> v = impl_->store->get(prefix + std::to_string(r));
      std::string s(v.begin(), v.end());
      for (size_t pos = 0; pos < s.size();) {
        size_t space = s.find(' ', pos);
        size_t n = std::stoull(s.substr(pos, space - pos));
        out.push_back(s.substr(space + 1, n));
        pos = space + 1 + n;
      }
    }
  });
  // Every rank has set its key of this gather, so every rank has read the
  // previous gather's keys: this rank's key of that one can go.
  if (gathers_ >= 2) {
    try {
      impl_->store->deleteKey("rnnlab/gather/" + std::to_string(gathers_ - 2) + "/" +
                              std::to_string(rank_));
    } catch (const std::exception&) {
    }
  }
  return out;
}

void Collective::publish(const std::string& key, const std::string& value) {
  guard("publishing " + key, [&] {
    impl_->store->set("rnnlab/" + key, std::vector<uint8_t>(value.begin(), value.end()));
  });
}

std::optional<std::string> Collective::published(const std::string& key) {
  std::optional<std::string> out;
  guard("reading " + key, [&] {
    const std::string k = "rnnlab/" + key;
    if (!impl_->store->check({k})) return;
    std::vector<uint8_t> v = impl_->store->get(k);
    out = std::string(v.begin(), v.end());
  });
  return out;
}

void Collective::start_heartbeat() {
  if (size_ == 1 || impl_->heartbeat.joinable()) return;
  c10::intrusive_ptr<c10d::Store> store;
  guard("connecting the heartbeat", [&] { store = impl_->connect(); });
  const std::string key = "rnnlab/alive/" + std::to_string(rank_);
  impl_->heartbeat = std::thread([this, store, key] {
    try {
      while (!impl_->stop) {
        store->add(key, 1);
        for (int i = 0; i < 10 && !impl_->stop; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    } catch (const std::exception&) {
      // Rank 0's store is gone: the job is over.
    }
  });
}

int64_t Collective::heartbeat(int64_t rank) {
  int64_t n = 0;
  guard("reading rank " + std::to_string(rank) + "'s heartbeat",
        [&] { n = impl_->store->add("rnnlab/alive/" + std::to_string(rank), 0); });
  return n;
}

// ---------------------------------------------------------------------------

namespace {
Collective* g_collective = nullptr;
volatile std::sig_atomic_t g_forward = 0;  // a signal for the children
extern "C" void remember_signal(int sig) {
  g_forward = sig;
}

// A TCP port on the loopback interface that nothing listens on now.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw RuntimeError(std::string("--nproc: cannot open a socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw RuntimeError(std::string("--nproc: cannot find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(a.sin_port);
}
}  // namespace

Collective* process_collective() {
  return g_collective;
}
void set_process_collective(Collective* collective) {
  g_collective = collective;
}

bool is_local_child() {
  const char* v = std::getenv("RNNLAB_NPROC_CHILD");
  return v && std::string(v) == "1";
}

int launch_local(int64_t nproc, const std::vector<std::string>& argv) {
  if (std::getenv("RANK") || std::getenv("WORLD_SIZE"))
    throw UsageError(
        "--nproc starts its own processes: do not combine it with torchrun or RANK/WORLD_SIZE");
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int64_t r = 0; r < nproc; ++r) {
    pid_t pid = ::fork();
    if (pid < 0) throw RuntimeError(std::string("--nproc: fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("RNNLAB_NPROC_CHILD", "1", 1);
      // As torchrun does: one OpenMP/OpenBLAS thread per process unless the
      // user says otherwise (OpenBLAS's pthread build reads OMP_NUM_THREADS
      // too); N processes each threading over every core oversubscribe them
      // (measured: 2 processes were 0.99x one, instead of 1.29x).
      ::setenv("OMP_NUM_THREADS", "1", 0);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv("/proc/self/exe", args.data());
      std::fprintf(stderr, "error: --nproc: cannot start rank %lld: %s\n",
                   static_cast<long long>(r), std::strerror(errno));
      ::_exit(1);
    }
    pids.push_back(pid);
  }
  // The children stop on SIGINT/SIGTERM themselves (the terminal sends
  // them Ctrl-C too); a signal to this process alone is passed on.
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = remember_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  int code = 0;
  size_t running = pids.size();
  bool forwarded = false;
  while (running > 0) {
    if (g_forward && !forwarded) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, g_forward);
      forwarded = true;
    }
    int status = 0;
    pid_t done = ::waitpid(-1, &status, WNOHANG);
    if (done <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (auto& p : pids)
      if (p == done) p = -1, --running;
    int c = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (c != 0 && code == 0) code = c;
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

}  // namespace rnnlab
