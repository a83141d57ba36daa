// Running an experiment: one run, or repeated runs and folds as sub-runs of a
// parent run directory, with resume; and opening a trained run again.
//
// A single run:           RUN/config.yaml, log.txt, metrics.jsonl, summary.json, checkpoints...
// Repeated runs / folds:  RUN/config.yaml, log.txt (everything), summary.json (mean, std, min,
//                         max of every numeric metric of the finished sub-runs, and their names),
//                         RUN/<sub>/ a complete run directory each (seed1/, seed2/... or
//                         fold01/...)
//
// A run's config.yaml is written once, when the run is created, and never
// rewritten. Each --resume appends an entry to resumed.yaml (its --set
// overrides and the update it resumed at), only after the checkpoint was
// loaded and checked against the model; the run's config is config.yaml with
// those overrides applied in order.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "apps/framework/app.h"
#include "apps/framework/run_dir.h"

namespace rnnlab {

/// One training run an app has set up: data read, model built, every check
/// done, nothing written yet.
class Job {
 public:
  virtual ~Job() = default;
  /// Writes the files a new run directory needs besides checkpoints (the
  /// tokenizer...), before training starts.
  virtual void save_assets(const RunDir& /*dir*/) {}
  /// Trains in `dir` (from its last checkpoint when `resume`) and returns the
  /// summary. `label` names the sub-run for the progress display ("" for a
  /// single run); `on_resumed(step)` must be called once a resumed checkpoint
  /// has been loaded and checked (Trainer::on_resumed does it).
  virtual nlohmann::json run(const RunDir& dir, bool resume, const std::string& label,
                             const std::function<void(int64_t)>& on_resumed) = 0;
};

/// A sub-run: its directory name and the overrides that make its config
/// ("run.seed=3"; a fold: "data.fold=4"). Each sub-run's config.yaml is the
/// parent's config with these applied, so it reproduces the sub-run alone.
struct SubRun {
  std::string name;
  std::vector<std::string> sets;
};

/// The sub-runs of `run.repeats` = N > 1: seed<k> for k = seed .. seed+N-1.
std::vector<SubRun> repeat_subruns(const RunSection& run);

/// Builds the job of one run. The RNGs are already seeded with run.seed and
/// the thread count set, so weights built here follow the seed. `resume_dir`
/// is the run directory being resumed ("" for a new run): load saved assets
/// (the tokenizer) from it instead of making them.
using MakeJob = std::function<std::unique_ptr<Job>(const std::filesystem::path& resume_dir)>;

/// Runs what the config describes, from `args` (train CONFIG / --resume RUN,
/// --run-dir, --set; the schema is already loaded with load_config()):
///  - one run, when run.repeats is 1 and `subruns` is empty;
///  - otherwise `subruns` (or repeat_subruns()) one after another in a parent
///    directory; the parent summary.json is rewritten after each.
/// The first job is built (and so every check made) before any directory is
/// created. --resume of a parent skips finished sub-runs, resumes the one that
/// has a checkpoint and starts the others. Returns the (parent) summary.
nlohmann::json run_experiment(ConfigSchema& schema, RunSection& run, const TrainArgs& args,
                              const MakeJob& make_job, std::vector<SubRun> subruns = {});

/// The `train` command of an app: its Config (bind, validate, a `run`
/// section) is read and checked by prepare_config(), then run_experiment()
/// runs jobs built as AppJob(cfg, schema, resume_dir), with the sub-runs
/// `subruns(cfg)` returns (none given: those of run.repeats). Returns 0.
template <class Config, class AppJob>
int train_command(const TrainArgs& args,
                  const std::function<std::vector<SubRun>(const Config&)>& subruns = {}) {
  Config cfg;
  ConfigSchema schema;
  if (!prepare_config(cfg, schema, args)) return 0;
  run_experiment(
      schema, cfg.run, args,
      [&](const std::filesystem::path& resume_dir) {
        return std::make_unique<AppJob>(cfg, schema, resume_dir);
      },
      subruns ? subruns(cfg) : std::vector<SubRun>{});
  return 0;
}

/// Reads a run's config into `schema`: config.yaml, then the overrides of each
/// resumption recorded in resumed.yaml, then `extra_sets`; then finalize().
/// `app`: the app whose run it must be ("": this program's).
void load_run_config(ConfigSchema& schema, const RunDir& dir,
                     const std::vector<std::string>& extra_sets = {}, const std::string& app = "");

/// Appends a resumption (its overrides and the update it resumed at) to
/// `dir`/resumed.yaml, atomically.
void record_resumption(const RunDir& dir, const std::vector<std::string>& sets, int64_t step);

/// A trained run opened for inference (generate, eval, predict, translate).
struct TrainedRun {
  std::filesystem::path dir;         ///< the (sub-)run whose model is loaded
  std::filesystem::path checkpoint;  ///< the one RunChoice::checkpoint picks
  torch::Device device = torch::kCPU;
};

/// The repeated seeds among sub-run names, grouped by what else the name
/// says: "fold01-seed1", "fold01-seed2" -> "fold01"; "seed1", "seed2" -> "".
/// Groups and members keep the order given. UsageError naming the first name
/// that is not a seed sub-run (seed<k>, or <name>-seed<k>).
std::vector<std::pair<std::string, std::vector<std::string>>> group_seed_subruns(
    const std::vector<std::string>& names);

/// The finished sub-runs (those with a summary.json) of the parent run
/// `path`, sorted by name. UsageError if `path` is not a parent run (one with
/// repeated seeds or folds), DataError if none has finished yet.
std::vector<std::filesystem::path> finished_subruns(const std::string& path);

/// What names a trained model on an inference command line (generate, eval,
/// predict, translate...): the run, one of its sub-runs, and which checkpoint.
struct RunChoice {
  std::string run;
  std::string subrun;      ///< "" : the best finished sub-run of a parent
  std::string checkpoint;  ///< "best", "last", or "": best, refused if missing from a validated run
};

/// Adds --run (required), --subrun and --checkpoint to `cmd`; `what` names
/// the model in --help ("language model").
void add_run_options(CLI::App* cmd, RunChoice& choice, const std::string& what);

/// Opens `choice.run` for inference: for a parent of repeated runs or folds,
/// picks the finished sub-run with the best early-stop metric (or
/// `choice.subrun`); reads its config into `schema` (load_run_config); picks
/// its checkpoint:
/// checkpoint_best.pt; without one, checkpoint_last.pt only for a run that
/// never validated, else a UsageError that names --checkpoint last. Resolves
/// run.device. The app then loads its tokenizer from `dir`, builds its model
/// from the config and calls load_trained_model().
/// `app`: the app whose run it must be ("": this program's; rnnlab-sentiment
/// opens an rnnlab-lm run for model.init_from).
TrainedRun open_trained_run(ConfigSchema& schema, const RunSection& run, const RunChoice& choice,
                            const std::string& app = "");

/// Loads `trained.checkpoint` into `model` (load_model_from: every tensor
/// checked against the model); a model that is not the best checkpoint is
/// said to be so ("RUN: using checkpoint_last.pt").
void load_trained_model(torch::nn::Module& model, const TrainedRun& trained);

/// A trained model loaded back from its run directory for inference: the
/// run's config as trained (`cfg`, bound to `schema`), the (sub-)run and
/// checkpoint chosen, the device and the model. An app derives from it to add
/// what it loads beside the model (tokenizers, labels):
/// ```
/// struct LMRun : LoadedRun<LMConfig, LanguageModel> { std::unique_ptr<datasets::Tokenizer>
/// tokenizer;
/// }; auto run = open_run<LMRun>(choice); run->tokenizer =
/// datasets::load_tokenizer((run->trained.dir / "tokenizer").string()); run->load_model([&] {
/// return build_model(run->cfg, run->tokenizer->vocab_size()); });
/// ```
template <class Config, class Model>
struct LoadedRun {
  Config cfg;
  ConfigSchema schema;
  TrainedRun trained;
  torch::Device device = torch::kCPU;
  Model model{nullptr};

  /// Builds the model with `build()` (from cfg and what the app loaded), loads
  /// the chosen checkpoint into it and moves it to the device.
  template <class Build>
  void load_model(Build&& build) {
    model = build();
    load_trained_model(*model, trained);
    model->to(device);
  }
};

/// Opens `choice` for inference (open_trained_run) into a new `Run`, a
/// LoadedRun: its config read and bound, its (sub-)run, checkpoint and device chosen.
template <class Run>
std::unique_ptr<Run> open_run(const RunChoice& choice) {
  auto run = std::make_unique<Run>();
  run->cfg.bind(run->schema);
  run->trained = open_trained_run(run->schema, run->cfg.run, choice);
  run->device = run->trained.device;
  return run;
}

}  // namespace rnnlab
