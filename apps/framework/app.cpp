// Shared app plumbing: exit codes, the train command line, config loading,
// run directories, devices, seeds and the config sections every app uses.
#include "apps/framework/app.h"

#include "apps/framework/distributed.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <dlfcn.h>

#include <cstdio>
#include <iostream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "apps/framework/experiment.h"
#include "core/error.h"
#include "core/torch_error.h"
#include "datasets/utf8.h"

namespace fs = std::filesystem;

namespace rnnlab {

void keep_freed_memory() {
#if defined(__GLIBC__)
  // glibc serves blocks of 32 MiB and more with mmap and unmaps them on free,
  // so every training step pays page faults (and the kernel's zeroing) for its
  // large activation buffers again. Keep freed memory in the process instead.
  // Measured with rnnlab-cells compare, LSTM 64x100x256x512 fwd+bwd: builtin
  // 451 -> 400 ms, custom 399 -> 347 ms.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

namespace {
std::string& program_name_storage() {
  static std::string name;
  return name;
}
std::vector<std::string>& command_line_storage() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

const std::vector<std::string>& command_line() {
  return command_line_storage();
}

std::string printable(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size();) {
    auto c = static_cast<unsigned char>(message[i]);
    size_t n = c < 0x20 || c == 0x7f ? 0 : datasets::utf8_sequence_length(message, i);
    if (n == 0) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(message, i, n);
      i += n;
    }
  }
  return out;
}

const std::string& program_name() {
  return program_name_storage();
}

std::string run_config_text(const ConfigSchema& schema, const std::string& app) {
  const std::string name = !app.empty()             ? app
                           : program_name().empty() ? std::string("rnnlab")
                                                    : program_name();
  return "# " + name + " run\n" + schema.to_yaml();
}

int guarded_main(CLI::App& cli, int argc, char** argv, const std::function<int()>& body) {
  keep_freed_memory();
  // The app's own name (CLI::App's), so that a run written by a renamed or
  // copied binary is still its app's run; argv[0] only for an unnamed App.
  if (!cli.get_name().empty())
    program_name_storage() = cli.get_name();
  else if (argc > 0)
    program_name_storage() = fs::path(argv[0]).filename().string();
  command_line_storage().assign(argv, argv + argc);
  try {
    // A first word that is neither an option nor a command: say so, with the commands.
    const auto commands = cli.get_subcommands([](CLI::App*) { return true; });
    if (argc > 1 && argv[1][0] != '-' && !commands.empty()) {
      bool known = false;
      std::string names;
      for (CLI::App* sub : commands) {
        known = known || sub->check_name(argv[1]);
        names += (names.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known)
        throw UsageError(std::string("unknown command '") + argv[1] + "'; commands: " + names +
                         " (see --help)");
    }
    try {
      cli.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return cli.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return cli.exit(e);
    } catch (const CLI::ParseError& e) {
      throw UsageError(std::string(e.what()) + " (see --help)");
    }
    return body();
  } catch (const ExitCode& e) {
    return e.exit_code();
  } catch (const Error& e) {
    // Under --nproc every rank checks the same config: rank 0 alone says
    // what is wrong with it. Other errors name their rank.
    const char* rank = std::getenv("RANK");
    const bool other_rank = is_local_child() && rank && std::string(rank) != "0";
    if (other_rank && (e.exit_code() == 2 || e.exit_code() == 130 || e.exit_code() == 143))
      return e.exit_code();  // rank 0 says the same (a config error, a stop)
    std::cerr << "error: " << (other_rank ? "rank " + std::string(rank) + ": " : std::string())
              << printable(e.what()) << std::endl;
    return e.exit_code();
  } catch (const c10::Error& e) {
    // Keep the first line of libtorch's message, never its backtrace.
    std::string msg = first_line(e);
    // "[enforce fail at alloc_cpu.cpp:75] . DefaultCPUAllocator: can't allocate
    // memory: you tried to allocate N bytes..." names libtorch's source, not
    // the problem.
    if (msg.rfind("[enforce fail at ", 0) == 0 && msg.find("] ") != std::string::npos) {
      msg.erase(0, msg.find("] ") + 2);
      if (msg.rfind(". ", 0) == 0) msg.erase(0, 2);
    }
    if (size_t at = msg.find("you tried to allocate ");
        msg.find("can't allocate memory") != std::string::npos && at != std::string::npos) {
      std::string what = msg.substr(at, msg.find('.', at) - at);  // "you tried to allocate N bytes"
      msg = "not enough memory: " + what + "; smaller sizes may fit";
    }
    std::cerr << "error: " << printable(msg) << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << printable(e.what()) << std::endl;
    return 1;
  }
}

CLI::App* add_train_command(CLI::App& cli, TrainArgs& args, const std::string& description) {
  CLI::App* train = cli.add_subcommand("train", description);
  train->add_option("config", args.config, "experiment YAML file (experiments/...)");
  train->add_option("--set", args.sets, "override a config key: --set optim.lr=0.001 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  train->add_option("--run-dir", args.run_dir,
                    "run directory to create (default: <run.dir>/<experiment>/<timestamp>)");
  train->add_option("--resume", args.resume,
                    "continue the run in this directory from its last checkpoint");
  train->add_flag("--print-config", args.print_config,
                  "print the fully resolved config and exit without training");
  train->add_flag("--list-keys", args.list_keys,
                  "list every config key with its type, default and meaning, and exit");
  train
      ->add_option("--nproc", args.nproc,
                   "train data-parallel in N processes on this machine (without torchrun)")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));
  return train;
}

CLI::App* add_config_command(CLI::App& cli, const std::string& name, TrainArgs& args,
                             const std::string& description) {
  CLI::App* cmd = cli.add_subcommand(name, description);
  args.can_resume = false;
  cmd->add_option("config", args.config, "experiment YAML file (experiments/...)");
  cmd->add_option("--set", args.sets, "override a config key: --set run.seed=2 (repeatable)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  cmd->add_option("--run-dir", args.run_dir,
                  "run directory to create (default: <run.dir>/<experiment>/<timestamp>)");
  cmd->add_flag("--print-config", args.print_config,
                "print the fully resolved config and exit without running");
  cmd->add_flag("--list-keys", args.list_keys,
                "list every config key with its type, default and meaning, and exit");
  return cmd;
}

void load_config(ConfigSchema& schema, const TrainArgs& args) {
  if (!args.resume.empty()) {
    if (!args.config.empty())
      throw UsageError("give either a config file or --resume RUN_DIR, not both");
    if (!args.run_dir.empty())
      throw UsageError("--resume continues the run where it is; --run-dir '" + args.run_dir +
                       "' cannot move it (copy the directory, then --resume the copy)");
    schema.check_resume_overrides(args.sets);
    load_run_config(schema, RunDir::open(args.resume), args.sets);
    return;
  }
  if (args.config.empty()) throw UsageError("train: a config file is required (see --help)");
  schema.load_file(args.config);
  for (const auto& s : args.sets) schema.apply_override(s);
  schema.finalize();
}

std::string keys_table(const ConfigSchema& schema, bool can_resume) {
  std::string out = "| key | type | default | meaning |\n|---|---|---|---|\n";
  for (const auto& f : schema.fields()) {
    YAML::Emitter e;
    e << YAML::Flow << f->to_node();
    std::string def = f->required ? "(required)" : e.c_str();
    out += "| `" + f->key + "` | " + f->type_name + " | `" + def + "` | " + f->help +
           (can_resume && f->resumable ? " (may change on --resume)" : "") + " |\n";
  }
  return out;
}

std::string experiment_name(const RunSection& run, const TrainArgs& args) {
  if (!run.name.empty()) return run.name;
  return fs::path(args.config).stem().string();
}

NewRun create_run_dir(const ConfigSchema& schema, const RunSection& run, const TrainArgs& args) {
  fs::path path = args.run_dir.empty() ? RunDir::default_path(run.dir, experiment_name(run, args))
                                       : fs::path(args.run_dir);
  RunDir::check_unused(path, args.can_resume);
  NewRun made = create_run(path, run_config_text(schema));
  log_to_file(made.dir.file("log.txt"));
  return made;
}

namespace {

// torch::set_num_threads sizes ATen's own pool only. The matrix products go
// to OpenBLAS (Debian's libtorch links it), whose pthread build keeps a pool
// sized by OPENBLAS_NUM_THREADS / OMP_NUM_THREADS or the cores: a run
// started by hand used every core there while a --nproc child (given
// OMP_NUM_THREADS=1) used one, and the split changes the products' last
// bits. Found by dlsym, so another BLAS simply keeps its own.
void set_blas_threads(int n) {
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(n);
}

}  // namespace

void seed_run(const RunSection& run) {
  // The one place a run's seeding happens (every app, every command).
  // run.threads sizes every pool the arithmetic uses.
  if (run.threads > 0) {
    torch::set_num_threads(static_cast<int>(run.threads));
    set_blas_threads(static_cast<int>(run.threads));
  }
  seed_everything(run.seed);
}

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  bool cuda = torch::cuda::is_available();
  if (name == "cuda" && !cuda)
    throw ConfigError("key 'run.device': 'cuda' was asked for but no CUDA device is available");
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

void seed_everything(int64_t seed) {
  torch::manual_seed(static_cast<uint64_t>(seed));
}

std::string data_path(const RunSection& run, const std::string& path, const std::string& key) {
  if (path.empty()) return path;
  std::string named = key.empty() ? "" : " (" + key + ")";
  std::error_code ec;
  if (fs::path(path).is_absolute()) {
    if (!fs::exists(path, ec))
      throw DataError("data file '" + path + "'" + named + " does not exist");
    return path;
  }
  fs::path full = fs::path(run.data_root) / path;
  if (!fs::exists(full, ec)) {
    fs::path root = fs::absolute(run.data_root, ec);
    throw DataError("data file '" + path + "'" + named + " does not exist under run.data_root '" +
                    run.data_root + "' (resolved against " + root.lexically_normal().string() +
                    "; scripts/get_data.sh fills data/)");
  }
  return full.string();
}

}  // namespace rnnlab
