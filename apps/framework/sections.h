// Config sections shared by every app: run, train, optim, and the recurrent
// stack and tokenizer blocks that several apps embed. Each section binds its
// fields under a prefix; the README lists every key with these help texts.
#pragma once

#include <string>

#include "apps/framework/config.h"
#include "datasets/tokenizer.h"
#include "modules/recurrent.h"

namespace rnnlab {

/// `run.*`: where the run goes and how the process runs.
struct RunSection {
  std::string name;          // experiment name ("" = the config file's stem)
  std::string dir = "runs";  // runs root: runs/<name>/<timestamp>
  std::string data_root = "data";
  int64_t seed = 1;
  int64_t repeats = 1;            // >1: sub-runs with seeds seed, seed+1, ...
  std::string device = "auto";    // auto | cpu | cuda
  int64_t threads = 0;            // 0 = libtorch's default
  std::string progress = "auto";  // auto | bar | lines
  double dist_timeout = 300;      // seconds the ranks wait for each other
  bool subruns_parallel = false;  // several processes: sub-runs side by side
  std::string backend = "gloo";   // c10d backend: gloo (nccl is not in this build)
  std::string master_addr;        // Slurm without MASTER_ADDR: rank 0's host
  int64_t master_port = 29500;    // Slurm without MASTER_PORT
  void bind(ConfigSchema& s, const std::string& prefix = "run");
};

/// `train.*`: how long and how the shared training loop runs.
struct TrainSection {
  int64_t max_steps = 0;
  int64_t max_epochs = 0;
  double max_minutes = 0;
  int64_t log_every = 100;
  int64_t eval_every = 0;  // 0 = at the end of every epoch
  std::string early_stop_metric = "val_loss";
  std::string early_stop_mode = "auto";  // auto | min | max
  int64_t patience = 0;                  // 0 = never stop early
  double clip_norm = 5.0;                // 0 = no clipping
  void bind(ConfigSchema& s, const std::string& prefix = "train");
  /// Checks across keys (a stop criterion is set); throws ConfigError.
  void validate(const ConfigSchema& s, const std::string& prefix = "train") const;
};

/// `optim.*`: optimizer and learning-rate schedule.
struct OptimSection {
  std::string name = "adam";  // sgd | adam | adamw
  double lr = 2e-3;
  double weight_decay = 0.0;
  double momentum = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  std::string schedule =
      "constant";  // constant | step | cosine | linear | plateau | slanted_triangular
  int64_t warmup_steps = 0;
  int64_t decay_steps = 1000;    // step: decay every N steps
  int64_t decay_epochs = 0;      // step: decay every N epochs instead (0: decay_steps)
  int64_t decay_start = 0;       // step: first decay after N updates/epochs (0: one period)
  double decay_factor = 0.5;     // step/plateau: multiply the rate by this
  double min_lr = 0.0;           // cosine/linear: final rate
  double stlr_cut_frac = 0.1;    // slanted_triangular: share of the updates rising
  double stlr_ratio = 32.0;      // slanted_triangular: peak / lowest rate
  int64_t plateau_patience = 1;  // plateau: validations without improvement before a decay
  int64_t asgd_nonmono = 0;      // > 0: NT-ASGD's non-monotone interval (sgd only)
  int64_t asgd_start_epoch = 0;  // > 0: NT-ASGD averages from this epoch (from 1) at the latest
  void bind(ConfigSchema& s, const std::string& prefix = "optim");
  /// Checks across keys (a schedule that needs an end has one); throws ConfigError.
  void validate(const ConfigSchema& s, const TrainSection& train,
                const std::string& prefix = "optim") const;
};

/// A recurrent stack (modules/recurrent.h): `<prefix>.type`, `.impl`, `.hidden`...
/// Its keys bind to the options themselves (`stack`), but for the three whose
/// config values are names: type, impl and nonlinearity are kept as written
/// and become stack's enums in options(). The checks are RecurrentOptions::validate's.
struct RecurrentSection {
  /// The stack as configured, with the config's defaults (input_size is the
  /// app's: see options()).
  RecurrentOptions stack = RecurrentOptions(CellType::kLSTM, /*input_size=*/1, /*hidden_size=*/256);
  /// `<prefix>.type`, `.impl`, `.nonlinearity`, `.hidden_init` and
  /// `.forget_bias` as the config names them ("lstm", "custom", "tanh",
  /// "default", "chrono"): to_string() / from_string<E>() of modules/rnn.h.
  std::string type = to_string(stack.type());
  std::string impl = to_string(stack.impl());
  std::string nonlinearity = to_string(stack.nonlinearity());
  std::string hidden_init = to_string(stack.hidden_init());
  std::string forget_bias = to_string(stack.forget_bias());
  void bind(ConfigSchema& s, const std::string& prefix);
  /// RecurrentOptions::validate() on the configured stack, its errors as a
  /// ConfigError naming the key ("key 'model.rnn.proj_size' (--set): only an
  /// lstm has a projection; model.rnn.type is gru"), before anything is built.
  void validate(const ConfigSchema& s, const std::string& prefix) const;
  /// Module options for an input of `input_size` features
  /// (std::invalid_argument for a name no enum value has).
  RecurrentOptions options(int64_t input_size) const;
};

/// Binds the tokenizer options (datasets/tokenizer.h) under `prefix`.
void bind_tokenizer(ConfigSchema& s, const std::string& prefix, datasets::TokenizerOptions* t);

/// datasets::train_tokenizer on `texts` in a scratch folder of its own (removed
/// afterwards, on errors too), with sentencepiece's failures reported
/// against the config key they come from ("key 'data.tokenizer.spm_vocab_size':
/// ...") instead of sentencepiece's own source file and line.
std::unique_ptr<datasets::Tokenizer> train_tokenizer_for(const datasets::TokenizerOptions& options,
                                                         const std::string& prefix,
                                                         const std::vector<std::string>& texts);

}  // namespace rnnlab
