// One run or sub-runs, resume, and opening trained runs (see experiment.h).
#include "apps/framework/experiment.h"

#include <fmt/format.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>
#include <torch/utils.h>
#include <optional>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <thread>

#include "apps/framework/checkpoint.h"
#include "apps/framework/distributed.h"
#include "apps/framework/signals.h"
#include "core/error.h"
#include "results/results.h"

namespace fs = std::filesystem;

namespace rnnlab {

namespace {

// Seeds and threads before a job is built, so that its weights follow run.seed.
std::unique_ptr<Job> prepare(const RunSection& run, const MakeJob& make_job,
                             const fs::path& resume_dir) {
  seed_run(run);
  return make_job(resume_dir);
}

fs::path new_run_path(const RunSection& run, const TrainArgs& args) {
  return args.run_dir.empty() ? RunDir::default_path(run.dir, experiment_name(run, args))
                              : fs::path(args.run_dir);
}

nlohmann::json read_summary(const fs::path& file) {
  auto j = nlohmann::json::parse(read_file(file), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw DataError("'" + file.string() + "' is not JSON");
  return j;
}

bool is_parent(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir / "summary.json", ec))
    return read_summary(dir / "summary.json").contains("runs");
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "config.yaml")) return true;
  return false;
}

}  // namespace

std::vector<SubRun> repeat_subruns(const RunSection& run) {
  std::vector<SubRun> out;
  for (int64_t k = 0; k < run.repeats; ++k) {
    int64_t seed = run.seed + k;
    out.push_back(
        {"seed" + std::to_string(seed), {"run.seed=" + std::to_string(seed), "run.repeats=1"}});
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<std::string>>> group_seed_subruns(
    const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const auto& name : names) {
    const size_t at = name.rfind("seed");
    const bool digits = at != std::string::npos && at + 4 < name.size() &&
                        name.find_first_not_of("0123456789", at + 4) == std::string::npos;
    if (!digits || (at > 0 && (at < 2 || name[at - 1] != '-')))
      throw UsageError("sub-run '" + name + "' is not one of repeated seeds (run.repeats)");
    std::string group = at == 0 ? "" : name.substr(0, at - 1);
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == group; });
    if (it == groups.end()) it = groups.insert(groups.end(), {group, {}});
    it->second.push_back(name);
  }
  return groups;
}

void load_run_config(ConfigSchema& schema, const RunDir& dir,
                     const std::vector<std::string>& extra_sets, const std::string& app_name) {
  const std::string& expected = app_name.empty() ? program_name() : app_name;
  // A run of another app: named by its config's first line, or (a run
  // written before that line existed) by keys this app does not know.
  const std::string text = read_file(dir.file("config.yaml"));
  const std::string first = text.substr(0, text.find('\n'));
  if (first.rfind("# rnnlab-", 0) == 0 && !expected.empty()) {
    std::string app = first.substr(2, first.find(' ', 2) - 2);
    if (app != expected)
      throw UsageError("'" + dir.path().string() + "' is a " + app + " run, not a " + expected +
                       " one" + (expected == program_name() ? " (use " + app + ")" : ""));
  }
  try {
    schema.load_file(dir.file("config.yaml").string());
  } catch (const ConfigError& e) {
    if (std::string(e.what()).rfind("unknown key", 0) != 0) throw;
    throw UsageError("'" + dir.path().string() + "' is not a " + expected +
                     " run (a run of another app?): " + e.what());
  }
  for (const auto& set : resumed_overrides(dir.path())) schema.apply_override(set);
  for (const auto& s : extra_sets) schema.apply_override(s);
  schema.finalize();
}

void record_resumption(const RunDir& dir, const std::vector<std::string>& sets, int64_t step) {
  fs::path file = dir.file("resumed.yaml");
  std::string text = fs::exists(file) ? read_file(file) : "";
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  YAML::Emitter e;
  e << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "time" << YAML::Value << stamp;
  e << YAML::Key << "step" << YAML::Value << step;
  e << YAML::Key << "set" << YAML::Value << YAML::Flow << sets;
  e << YAML::EndMap << YAML::EndSeq;
  write_file_atomic(file, text + e.c_str() + "\n");
}

namespace {

/// The lock of the parent run `dir` belongs to, if it is a sub-run: whoever
/// trains a sub-run holds the parent's lock too, as the parent's own process
/// does, so that the two never train it at once.
std::unique_ptr<RunDirLock> lock_parent_of(const fs::path& dir) {
  std::error_code ec;
  fs::path up = fs::absolute(dir, ec).lexically_normal();
  if (!up.has_filename()) up = up.parent_path();  // "runs/x/" -> "runs/x"
  up = up.parent_path();
  if (!fs::is_regular_file(up / "config.yaml", ec) || !is_parent(up)) return nullptr;
  return std::make_unique<RunDirLock>(up);
}

/// Throws Interrupted when a signal came before the run directory was created.
void stop_if_requested_before_creation() {
  if (int sig = StopSignals::requested())
    throw Interrupted(std::string("stopped by ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                          " before the run directory was created; nothing was written",
                      sig);
}

}  // namespace

nlohmann::json run_experiment(ConfigSchema& schema, RunSection& run, const TrainArgs& args,
                              const MakeJob& make_job, std::vector<SubRun> subruns) {
  // Data-parallel: `--nproc N` starts N copies of this command and waits;
  // each copy (or each process torchrun or srun started) finds its place in
  // the job from the launch variables.
  if (args.nproc > 1 && !is_local_child()) {
    int code = launch_local(args.nproc, command_line());
    if (code != 0) throw ExitCode(code);
    return nlohmann::json::object();
  }
  LaunchInfo launch = read_launch(nullptr, run.master_addr, run.master_port);
  if (is_local_child() && launch.world_size != args.nproc)
    throw UsageError("--nproc " + std::to_string(args.nproc) +
                     " but WORLD_SIZE=" + std::to_string(launch.world_size));
  std::unique_ptr<Collective> collective;
  struct Unset {
    ~Unset() { set_process_collective(nullptr); }
  } unset;
  if (launch.distributed()) {
    if (run.backend != "gloo")
      throw ConfigError("key 'run.backend': " + run.backend +
                        " is not in this libtorch build (c10d has Gloo only); use run.backend: "
                        "gloo");
    const bool has_subruns = !subruns.empty() || run.repeats > 1;
    if (has_subruns && !run.subruns_parallel)
      throw ConfigError(
          "key 'run.subruns_parallel': repeated runs and folds (run.repeats, sub-runs) do not "
          "train data-parallel; set run.subruns_parallel: true to train them side by side, one "
          "per process");
    if (launch.rank != 0) {
      // Rank 0 speaks for the job; the others' lines go to their own sub-runs' logs.
      logger()->sinks().front()->set_level(spdlog::level::err);
      run.progress = "lines";
    }
    collective = std::make_unique<Collective>(
        launch, std::chrono::milliseconds(static_cast<int64_t>(run.dist_timeout * 1000)));
    // A beat a second through the store: a failed collective names the rank
    // that stopped beating, and rank 0 watches side-by-side sub-runs with it.
    collective->start_heartbeat();
    // Sub-runs side by side each train in one process.
    if (!has_subruns) set_process_collective(collective.get());
  }
  const bool writer = launch.rank == 0;

  // SIGINT/SIGTERM from here on only ask to stop: the run directory and its
  // files are never left half-made. The Trainer honours a request made
  // before it starts by saving a checkpoint at update 0.
  StopSignals signals;
  std::error_code ec;
  bool resume = !args.resume.empty();
  if (subruns.empty() && run.repeats > 1) subruns = repeat_subruns(run);
  fs::path path = resume ? fs::path(args.resume) : new_run_path(run, args);
  // Every rank writes to rank 0's directory (its name has rank 0's time).
  if (collective && !resume) path = collective->share("run_dir", path.string());
  if (!resume && writer) RunDir::check_unused(path, args.can_resume);  // before the data is read

  // ---- one run (data-parallel: rank 0 alone makes and writes the directory) ----
  if (subruns.empty()) {
    // A job whose trainer did not take the collective cannot run data-parallel.
    auto check_parallel = [&] {
      if (collective && !collective->used())
        throw ConfigError("this command runs in one process only");
    };
    auto wait_for_rank0 = [&] {
      if (collective) collective->barrier();
    };
    if (resume) {
      RunDir dir = RunDir::open(args.resume);
      std::unique_ptr<RunDirLock> parent_lock, lock;
      if (writer) {
        parent_lock = lock_parent_of(dir.path());
        lock = std::make_unique<RunDirLock>(dir.path());
      }
      // Complete under the config it has: nothing to read, train or write.
      // (With --set, the trainer decides whether training is left.)
      if (args.sets.empty()) {
        if (auto done = dir.completed_summary()) {
          logger()->info(
              "run {} is complete; nothing to do (--set train.max_epochs=... or "
              "train.max_steps=... with --resume trains it further)",
              dir.path().string());
          return *done;
        }
      }
      // Stopped before its first checkpoint (perhaps while its tokenizer was
      // written): it starts from the beginning, its assets made again.
      const bool from_start = dir.resume_checkpoint().empty();
      auto job = prepare(run, make_job, from_start ? fs::path() : dir.path());
      check_parallel();
      std::optional<LogFile> log;
      if (writer) log.emplace(dir.file("log.txt"));
      if (from_start && writer) {
        dir.remove_temporaries();
        job->save_assets(dir);
      }
      wait_for_rank0();
      return job->run(dir, true, "",
                      [&](int64_t step) { record_resumption(dir, args.sets, step); });
    }
    auto job = prepare(run, make_job, "");
    check_parallel();
    std::optional<NewRun> made;
    std::optional<LogFile> log;
    if (writer) {
      stop_if_requested_before_creation();
      made.emplace(create_run(path, run_config_text(schema)));
      log.emplace(made->dir.file("log.txt"));
      logger()->info(
          "run directory: {}{}", made->dir.path().string(),
          collective ? fmt::format(" ({} processes, {} launcher, backend gloo)", launch.world_size,
                                   is_local_child() ? "--nproc" : launch.launcher)
                     : std::string());
      job->save_assets(made->dir);
    }
    wait_for_rank0();  // the directory exists
    RunDir dir = writer ? made->dir : RunDir::open(path);
    return job->run(dir, false, "", {});
  }

  // ---- sub-runs in a parent directory ----
  // On several processes (run.subruns_parallel) the sub-runs train side by
  // side, sub-run k on rank k mod W, each in one process: rank 0 makes the
  // parent directory, each rank its own sub-runs', and rank 0 writes the
  // parent summary from the summaries the ranks publish.
  const bool spread = launch.distributed();
  const int64_t world = launch.world_size, rank = launch.rank;
  auto mine = [&](size_t k) { return !spread || static_cast<int64_t>(k) % world == rank; };
  std::string parent_yaml = run_config_text(schema);
  std::vector<std::string> names;
  for (const auto& sub : subruns) names.push_back(sub.name);
  std::unique_ptr<Job> first;
  std::unique_ptr<RunDir> parent;
  std::unique_ptr<RunDirLock> lock;
  if (resume) {
    parent = std::make_unique<RunDir>(RunDir::open(args.resume));
    if (writer) lock = std::make_unique<RunDirLock>(parent->path());
  } else {
    // This rank's first sub-run's job is built before anything is written.
    const size_t first_k = spread ? static_cast<size_t>(rank) : 0;
    if (first_k < subruns.size()) {
      for (const auto& s : subruns[first_k].sets) schema.apply_override(s);
      schema.finalize();
      first = prepare(run, make_job, "");
    }
    if (writer) {
      stop_if_requested_before_creation();
      NewRun made = create_run(path, parent_yaml);
      parent = std::make_unique<RunDir>(made.dir);
      lock = std::move(made.lock);
    }
    if (spread) collective->barrier();  // the parent directory exists
    if (!writer) parent = std::make_unique<RunDir>(RunDir::open(path));
  }
  // Whoever trains a sub-run holds its lock: this process holds every one of
  // its sub-runs' from here on (`train --resume PARENT/seed1` in another
  // process is refused, and a process that holds one refuses this one).
  std::map<std::string, std::unique_ptr<RunDirLock>> sub_locks;
  if (resume)
    for (size_t k = 0; k < subruns.size(); ++k)
      if (mine(k) && fs::is_directory(parent->path() / subruns[k].name, ec))
        sub_locks[subruns[k].name] = std::make_unique<RunDirLock>(parent->path() / subruns[k].name);
  std::optional<LogFile> parent_log;
  if (writer) parent_log.emplace(parent->file("log.txt"));
  logger()->info("run directory: {} ({} sub-runs: {}{})", parent->path().string(), names.size(),
                 fmt::format("{}", fmt::join(names, ", ")),
                 spread ? fmt::format("; side by side on {} processes", world) : "");
  bool recorded = !resume || !writer;
  auto record_parent = [&] {
    if (!recorded) record_resumption(*parent, args.sets, -1);
    recorded = true;
  };

  std::map<size_t, nlohmann::json> results;  // by sub-run index
  auto write_parent_summary = [&] {
    std::vector<std::pair<std::string, nlohmann::json>> done;
    for (const auto& [k, s] : results) done.emplace_back(subruns[k].name, s);
    nlohmann::json summary = aggregate_summaries(done);
    summary["runs"] = names;
    summary["runs_finished"] = done.size();
    parent->write_summary(summary);
    return summary;
  };
  // In the sub-run's own log: where it trains.
  auto say_rank = [&] {
    if (spread) logger()->info("sub-run on rank {} of {} (run.subruns_parallel)", rank, world);
  };
  // Trains (or resumes, or skips when finished) sub-run k; its summary.
  auto train_subrun = [&](size_t k) -> nlohmann::json {
    const SubRun& sub = subruns[k];
    fs::path sdir = parent->path() / sub.name;
    std::string label = fmt::format("{} {}/{}", sub.name, k + 1, subruns.size());
    // Finished: kept as it is, unless --set asks for more (the trainer then
    // decides what is left, as for a plain run).
    if (resume && args.sets.empty() && fs::exists(sdir / "summary.json")) {
      logger()->info("sub-run {}: finished before, skipped", label);
      return read_summary(sdir / "summary.json");
    }
    for (const auto& s : sub.sets) schema.apply_override(s);
    schema.finalize();
    const bool started = resume && fs::exists(sdir / "config.yaml");
    const bool sub_resume = started && !RunDir::open(sdir).resume_checkpoint().empty();
    if (started && !sub_resume) {
      // Stopped before its first checkpoint: trained from the start in its
      // directory, as a plain run is, so that what a stage before the
      // training finished (a fine-tuned language model, RUN/lm) is kept.
      logger()->info("sub-run {}: no checkpoint yet, training it from the start", label);
    } else if (resume && !started && fs::exists(sdir)) {
      // Stopped before its config was written: nothing to keep (but the
      // lock this process holds).
      for (const auto& e : fs::directory_iterator(sdir))
        if (e.path().filename() != ".lock") fs::remove_all(e.path());
    }
    std::unique_ptr<Job> job =
        first ? std::move(first) : prepare(run, make_job, sub_resume ? sdir : "");
    logger()->info("=== sub-run {} (seed {}{}) ===", label, run.seed,
                   spread ? fmt::format(", rank {}", rank) : "");
    try {
      if (started) {
        RunDir dir = RunDir::open(sdir);
        LogFile log(dir.file("log.txt"));
        say_rank();
        if (!sub_resume) {
          // Its assets made again (perhaps stopped while they were written).
          dir.remove_temporaries();
          job->save_assets(dir);
        }
        return job->run(dir, true, label, [&](int64_t step) {
          record_resumption(dir, args.sets, step);
          record_parent();
        });
      }
      record_parent();
      NewRun made = create_run(sdir, run_config_text(schema), std::move(sub_locks[sub.name]));
      sub_locks[sub.name] = std::move(made.lock);
      const RunDir& dir = made.dir;
      LogFile log(dir.file("log.txt"));
      say_rank();
      job->save_assets(dir);
      return job->run(dir, false, label, {});
    } catch (const Interrupted& e) {
      // Resume the whole experiment, not only this sub-run.
      throw Interrupted(fmt::format("stopped during sub-run {}; continue with: train --resume {}",
                                    label, parent->path().string()),
                        e.exit_code() - 128);
    }
  };

  nlohmann::json summary;
  for (size_t k = 0; k < subruns.size(); ++k) {
    if (!mine(k)) continue;
    try {
      results[k] = train_subrun(k);
    } catch (const Error& e) {
      // Rank 0 reports why this rank's sub-runs stopped.
      if (spread && !writer) collective->publish("failed/" + std::to_string(rank), e.what());
      throw;
    }
    if (spread && !writer) collective->publish("subrun/" + subruns[k].name, results[k].dump());
    if (writer) summary = write_parent_summary();
  }
  if (!writer) return nlohmann::json::object();

  // Rank 0: the other ranks' sub-runs, as they finish. A rank that stops
  // with an error says so; one that shows no sign of life for
  // run.dist_timeout (killed, hung) is named.
  if (spread) {
    using Clock = std::chrono::steady_clock;
    std::vector<int64_t> beats(static_cast<size_t>(world), -1);
    std::vector<Clock::time_point> since(static_cast<size_t>(world), Clock::now());
    const auto resume_hint =
        "; its sub-runs continue with: train --resume " + parent->path().string();
    while (results.size() < subruns.size()) {
      std::vector<bool> owes(static_cast<size_t>(world), false);
      for (size_t k = 0; k < subruns.size(); ++k) {
        if (results.count(k)) continue;
        if (auto v = collective->published("subrun/" + subruns[k].name)) {
          results[k] = nlohmann::json::parse(*v);
          summary = write_parent_summary();
        } else {
          owes[k % static_cast<size_t>(world)] = true;
        }
      }
      for (int64_t r = 1; r < world; ++r) {
        if (!owes[static_cast<size_t>(r)]) continue;
        if (auto failed = collective->published("failed/" + std::to_string(r)))
          throw RuntimeError(fmt::format("rank {} stopped: {}{}", r, *failed, resume_hint));
        const int64_t beat = collective->heartbeat(r);
        if (beat != beats[static_cast<size_t>(r)]) {
          beats[static_cast<size_t>(r)] = beat;
          since[static_cast<size_t>(r)] = Clock::now();
        } else if (std::chrono::duration<double>(Clock::now() - since[static_cast<size_t>(r)])
                       .count() > run.dist_timeout) {
          throw RuntimeError(
              fmt::format("rank {}: no sign of life for {} s (run.dist_timeout): killed or hung{}",
                          r, run.dist_timeout, resume_hint));
        }
      }
      if (results.size() < subruns.size()) {
        if (int sig = StopSignals::requested())
          throw Interrupted(fmt::format("stopped while waiting for the other ranks' sub-runs; "
                                        "continue with: train --resume {}",
                                        parent->path().string()),
                            sig);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }
  summary = write_parent_summary();
  for (const auto& [key, value] : summary.items())
    if (key.size() > 5 && key.compare(key.size() - 5, 5, "_mean") == 0 &&
        (key.rfind("val_", 0) == 0 || key.rfind("test_", 0) == 0)) {
      std::string base = key.substr(0, key.size() - 5);
      logger()->info("{} over {} runs: {:.4f} ± {:.4f} (min {:.4f}, max {:.4f})", base,
                     results.size(), value.get<double>(), summary[base + "_std"].get<double>(),
                     summary[base + "_min"].get<double>(), summary[base + "_max"].get<double>());
    }
  return summary;
}

void load_trained_model(torch::nn::Module& model, const TrainedRun& trained) {
  load_model_from(model, trained.checkpoint);
  // The best checkpoint is what a run stands for, and goes without saying.
  if (trained.checkpoint.filename() != "checkpoint_best.pt")
    logger()->info("{}: using {}", trained.dir.string(), trained.checkpoint.filename().string());
}

std::vector<fs::path> finished_subruns(const std::string& path) {
  RunDir top = RunDir::open(path);
  if (!is_parent(top.path()))
    throw UsageError("run '" + path + "' has no sub-runs (no folds, no run.repeats)");
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(top.path()))
    if (e.is_directory() && fs::exists(e.path() / "summary.json")) subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  if (subs.empty()) throw DataError("run '" + path + "' has no finished sub-run yet");
  return subs;
}

namespace {

/// Whether the run has validated at least once (metrics.jsonl has a
/// validation record): then its best checkpoint is the model it stands for.
bool has_validated(const RunDir& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir.file("metrics.jsonl"), ec)) return false;
  return read_file(dir.file("metrics.jsonl")).find("\"type\":\"valid\"") != std::string::npos;
}

fs::path choose_checkpoint(const RunDir& dir, const std::string& which) {
  std::error_code ec;
  const fs::path best = dir.file("checkpoint_best.pt"), last = dir.file("checkpoint_last.pt");
  if (which == "last") {
    if (!fs::is_regular_file(last, ec))
      throw DataError("run directory '" + dir.path().string() + "' has no checkpoint_last.pt");
    return last;
  }
  if (fs::is_regular_file(best, ec)) return best;
  if (which == "best")
    throw DataError("run directory '" + dir.path().string() + "' has no checkpoint_best.pt");
  if (has_validated(dir))
    throw UsageError("run '" + dir.path().string() +
                     "': checkpoint_best.pt is missing, though the run was validated; "
                     "--checkpoint last uses checkpoint_last.pt (the model of its last update)");
  if (!fs::is_regular_file(last, ec))
    throw DataError("run directory '" + dir.path().string() +
                    "' has no checkpoint (checkpoint_best.pt, checkpoint_last.pt)");
  return last;  // never validated: the last checkpoint is the model
}

}  // namespace

void add_run_options(CLI::App* cmd, RunChoice& choice, const std::string& what) {
  cmd->add_option("--run", choice.run, "run directory of a trained " + what)->required();
  cmd->add_option("--subrun", choice.subrun,
                  "of repeated runs or folds, use this sub-run (default: the best one)");
  cmd->add_option("--checkpoint", choice.checkpoint,
                  "which model: best (checkpoint_best.pt; default, refused when missing from a "
                  "validated run) or last (checkpoint_last.pt)")
      ->check(CLI::IsMember({"best", "last"}));
}

TrainedRun open_trained_run(ConfigSchema& schema, const RunSection& run, const RunChoice& choice,
                            const std::string& app) {
  const std::string& path = choice.run;
  const std::string& subrun = choice.subrun;
  const std::string& checkpoint = choice.checkpoint;
  RunDir top = RunDir::open(path);
  fs::path chosen = top.path();
  if (!subrun.empty()) {
    if (!is_plain_name(subrun))
      throw UsageError("--subrun '" + subrun + "' is not a sub-run name (no '/', not '.' or '..')");
    chosen = top.path() / subrun;
    if (!fs::exists(chosen / "config.yaml"))
      throw UsageError("run '" + path + "' has no sub-run '" + subrun + "'");
  } else if (is_parent(top.path())) {
    // The finished sub-run with the best early-stop metric.
    std::vector<fs::path> subs = finished_subruns(path);
    double best = NAN;
    for (const auto& s : subs) {
      nlohmann::json sm = read_summary(s / "summary.json");
      std::string key = sm.value("best_metric", "val_loss");
      if (!sm.contains(key) || !sm[key].is_number()) continue;
      double v = sm[key].get<double>();
      bool higher = sm.value("best_metric_higher_is_better", false);
      if (std::isnan(best) || (higher ? v > best : v < best)) best = v, chosen = s;
    }
    if (chosen == top.path()) chosen = subs.front();
    logger()->info("{}: using sub-run {}", path, chosen.filename().string());
  }
  RunDir dir = RunDir::open(chosen);
  load_run_config(schema, dir, {}, app);
  TrainedRun out;
  out.dir = chosen;
  out.checkpoint = choose_checkpoint(dir, checkpoint);
  if (!dir.completed_summary())
    logger()->warn("run {} has not finished (no summary.json): using its {}", chosen.string(),
                   out.checkpoint.filename().string());
  out.device = resolve_device(run.device);
  return out;
}

}  // namespace rnnlab
