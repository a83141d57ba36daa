// The config sections every app shares (see sections.h): their keys, help
// texts and the checks that need more than one key.
#include "apps/framework/sections.h"
#include "apps/framework/run_dir.h"

#include <cstdint>
#include <regex>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>

namespace rnnlab {

void RunSection::bind(ConfigSchema& s, const std::string& p) {
  s.add(p + ".name", &name,
        "experiment name; runs go to <run.dir>/<name>/<timestamp> (default: config file name)")
      .check([](const std::string& v) {
        return v.empty() || is_plain_name(v)
                   ? std::string()
                   : "'" + v +
                         "' is not a plain name (no '/', not '.' or '..'): it would put "
                         "the run outside run.dir";
      });
  s.add(p + ".dir", &dir, "root folder of run directories");
  s.add(p + ".data_root", &data_root, "folder that data paths in the config are relative to")
      .resumable();
  s.add(p + ".seed", &seed,
        "random seed: decides every random draw (weights, dropout, data order, sampling)")
      .range(0, INT64_MAX);
  s.add(p + ".repeats", &repeats,
        "run the experiment N times with seeds seed, seed+1, ... as sub-runs RUN/seed<k>/; "
        "summary.json gets every metric's mean, std, min and max")
      .range(1, 1000);
  s.add(p + ".device", &device, "where to train").choices({"auto", "cpu", "cuda"}).resumable();
  s.add(p + ".threads", &threads,
        "CPU threads of libtorch and of OpenBLAS's matrix products (0: their defaults)")
      .range(0, 256)
      .resumable();
  s.add(p + ".progress", &progress, "progress display: a bar on a terminal, log lines otherwise")
      .choices({"auto", "bar", "lines"})
      .resumable();
  s.add(p + ".dist_timeout", &dist_timeout,
        "data-parallel: seconds the processes wait for each other (to meet, and at each "
        "collective) before a one-line error")
      .range(1, 1e6)
      .resumable();
  s.add(p + ".backend", &backend,
        "data-parallel: the c10d backend (gloo: CPU tensors; nccl needs a libtorch built with "
        "CUDA and NCCL, which Debian's is not)")
      .choices({"gloo", "nccl"})
      .resumable();
  s.add(p + ".subruns_parallel", &subruns_parallel,
        "several processes (--nproc, torchrun, srun): train the sub-runs (run.repeats, folds) "
        "side by side, sub-run k on rank k mod the world size, each in one process; false: "
        "sub-runs are refused on several processes")
      .resumable();
  s.add(p + ".master_addr", &master_addr,
        "data-parallel under srun without MASTER_ADDR in the environment: rank 0's host")
      .resumable();
  s.add(p + ".master_port", &master_port,
        "data-parallel under srun without MASTER_PORT in the environment: rank 0's port")
      .range(1, 65535)
      .resumable();
}

void TrainSection::bind(ConfigSchema& s, const std::string& p) {
  s.add(p + ".max_steps", &max_steps, "stop after this many updates (0: no limit)")
      .range(0, INT64_MAX)
      .resumable();
  s.add(p + ".max_epochs", &max_epochs, "stop after this many epochs (0: no limit)")
      .range(0, INT64_MAX)
      .resumable();
  s.add(p + ".max_minutes", &max_minutes, "stop after this much training time (0: no limit)")
      .range(0, 1e9)
      .resumable();
  s.add(p + ".log_every", &log_every, "log a training line every N updates").greater(0).resumable();
  s.add(p + ".eval_every", &eval_every, "validate every N updates (0: at the end of each epoch)")
      .range(0, INT64_MAX)
      .resumable();
  s.add(p + ".early_stop_metric", &early_stop_metric,
        "validation metric that picks the best checkpoint and drives early stopping");
  s.add(p + ".early_stop_mode", &early_stop_mode,
        "whether the metric improves by going down or up (auto: as the app declares it)")
      .choices({"auto", "min", "max"});
  s.add(p + ".patience", &patience, "stop after N validations without improvement (0: never)")
      .range(0, INT64_MAX)
      .resumable();
  s.add(p + ".clip_norm", &clip_norm, "clip the global gradient norm to this (0: no clipping)")
      .range(0, 1e9);
}

void OptimSection::bind(ConfigSchema& s, const std::string& p) {
  s.add(p + ".name", &name, "optimizer").choices({"sgd", "adam", "adamw"});
  // The rate and its schedule may change on --resume (fairseq's
  // --reset-lr-scheduler, a hand-made step decay): the optimizer's state
  // does not depend on them, the trainer recomputes the rate at every update
  // from the update number, and resumed.yaml records the change and where.
  s.add(p + ".lr", &lr, "peak learning rate").greater(0.0).resumable();
  s.add(p + ".weight_decay", &weight_decay, "L2 penalty (sgd, adam) or decoupled decay (adamw)")
      .range(0.0, 1.0);
  s.add(p + ".momentum", &momentum, "sgd momentum").range(0.0, 0.9999);
  s.add(p + ".beta1", &beta1, "adam/adamw beta1").range(0.0, 0.9999);
  s.add(p + ".beta2", &beta2, "adam/adamw beta2").range(0.0, 0.99999);
  s.add(p + ".eps", &eps, "adam/adamw epsilon").greater(0.0);
  s.add(p + ".schedule", &schedule, "learning-rate schedule after warm-up")
      .choices({"constant", "step", "cosine", "linear", "plateau", "slanted_triangular"})
      .resumable();
  s.add(p + ".warmup_steps", &warmup_steps, "linear warm-up from 0 over N updates")
      .range(0, INT64_MAX);
  s.add(p + ".decay_steps", &decay_steps, "step schedule: decay every N updates").greater(0);
  s.add(p + ".decay_epochs", &decay_epochs,
        "step schedule: decay every N epochs instead of every decay_steps updates (0: off)")
      .range(0, INT64_MAX);
  s.add(p + ".decay_start", &decay_start,
        "step schedule: the first decay comes after N updates (N epochs with decay_epochs), the "
        "next ones every period after it (0: after one period); Zaremba et al.: decay_epochs 1, "
        "decay_start 4")
      .range(0, INT64_MAX);
  s.add(p + ".decay_factor", &decay_factor,
        "step/plateau schedules: multiply the rate by this at each decay")
      .range(0.0, 1.0)
      .resumable();
  s.add(p + ".plateau_patience", &plateau_patience,
        "plateau schedule: decay after N validations in a row without improvement")
      .range(1, INT64_MAX)
      .resumable();
  s.add(p + ".min_lr", &min_lr, "cosine/linear schedules: rate at the last update").range(0.0, 1e3);
  s.add(p + ".stlr_cut_frac", &stlr_cut_frac,
        "slanted_triangular (ULMFiT's STLR, Howard and Ruder 2018): the share of the updates over "
        "which the rate rises linearly from lr / stlr_ratio to lr; it then falls linearly back")
      .range(0.001, 0.999);
  s.add(p + ".stlr_ratio", &stlr_ratio,
        "slanted_triangular: how much smaller the lowest rate is than lr (ULMFiT: 32)")
      .range(1.0, 1e6);
  s.add(p + ".asgd_nonmono", &asgd_nonmono,
        "sgd: NT-ASGD (Merity et al. 2017): once a validation is worse than the best of those "
        "more than N validations before it, keep averaging the weights after every update; "
        "validations, the best checkpoint and the test use the average (0: off; AWD-LSTM: 5)")
      .range(0, INT64_MAX);
  s.add(p + ".asgd_start_epoch", &asgd_start_epoch,
        "NT-ASGD: start averaging with the first update of this epoch (counted from 1) if "
        "validation has not triggered it before, so that a run of a fixed number of epochs "
        "ends averaged (0: only the trigger)")
      .range(0, INT64_MAX)
      .resumable();
}

void RecurrentSection::bind(ConfigSchema& s, const std::string& p) {
  // A key is the name of its option in `stack` (RecurrentSection::validate
  // maps the two older keys, hidden and layers); the options whose values are
  // names bind to their names.
  s.add(p + ".type", &type, "recurrent cell").choices(names_of<CellType>());
  s.add(p + ".impl", &impl, "hand-written modules (custom) or torch::nn (builtin)")
      .choices(names_of<Implementation>());
  s.add(p + ".hidden", &stack.hidden_size(), "hidden units per layer and direction")
      .range(1, 1 << 20);
  s.add(p + ".layers", &stack.num_layers(), "stacked layers").range(1, 64);
  s.add(p + ".bidirectional", &stack.bidirectional(), "also run a reversed direction");
  s.add(p + ".dropout", &stack.dropout(), "dropout between stacked layers").range(0.0, 0.99);
  s.add(p + ".nonlinearity", &nonlinearity, "vanilla RNN activation")
      .choices(names_of<Nonlinearity>());
  s.add(p + ".proj_size", &stack.proj_size(), "LSTM: project h to this size (0: off)")
      .range(0, 1 << 20);
  s.add(p + ".layer_norm", &stack.layer_norm(), "custom only: layer normalisation inside the cell");
  s.add(p + ".recurrent_dropout", &stack.recurrent_dropout(),
        "custom only: variational dropout on h_{t-1}, one mask per sequence")
      .range(0.0, 0.99);
  s.add(p + ".weight_drop", &stack.weight_drop(),
        "custom only: DropConnect on the hidden-to-hidden matrices W_hh (AWD-LSTM's weight drop), "
        "one mask per batch")
      .range(0.0, 0.99);
  s.add(p + ".locked_dropout", &stack.locked_dropout(),
        "custom only: the dropout between layers draws one mask per sequence, shared by its steps "
        "(variational, Gal and Ghahramani 2016)");
  s.add(p + ".hidden_init", &hidden_init,
        "how W_hh starts: default (torch's uniform), identity (rnn only, biases 0: with "
        "nonlinearity relu, the IRNN of Le et al. 2015) or orthogonal (each gate's block)")
      .choices(names_of<HiddenInit>());
  s.add(p + ".forget_bias", &forget_bias,
        "LSTM: how the forget-gate bias starts: default, one (b_f = 1) or chrono (Tallec and "
        "Ollivier 2018: b_f = log U(1, chrono_max - 1), b_i = -b_f)")
      .choices(names_of<ForgetBiasInit>());
  s.add(p + ".chrono_max", &stack.chrono_max(),
        "forget_bias chrono: T_max, the longest dependency (e.g. the sequence length, 784 for "
        "pixel MNIST)")
      .range(0, INT64_MAX);
}

void TrainSection::validate(const ConfigSchema& s, const std::string& p) const {
  if (max_steps == 0 && max_epochs == 0 && max_minutes == 0)
    throw s.error(p + ".max_steps", "no stop criterion: set at least one of " + p + ".max_steps, " +
                                        p + ".max_epochs, " + p + ".max_minutes");
}

void OptimSection::validate(const ConfigSchema& s, const TrainSection& train,
                            const std::string& p) const {
  if (asgd_nonmono > 0 && name != "sgd")
    throw s.error(p + ".asgd_nonmono", "NT-ASGD averages plain SGD's iterates; " + p +
                                           ".name is '" + name + "' (set sgd)");
  if (asgd_start_epoch > 0 && asgd_nonmono == 0)
    throw s.error(p + ".asgd_start_epoch",
                  "it is NT-ASGD's latest switch; set " + p + ".asgd_nonmono (AWD-LSTM: 5)");
  for (const char* key : {"decay_epochs", "decay_start"}) {
    const int64_t value = std::string(key) == "decay_epochs" ? decay_epochs : decay_start;
    if (value > 0 && schedule != "step")
      throw s.error(p + "." + key,
                    "only the step schedule uses it (" + p + ".schedule is '" + schedule + "')");
  }
  if (schedule == "slanted_triangular" && warmup_steps > 0)
    throw s.error(p + ".warmup_steps",
                  "the slanted triangular schedule rises from lr / stlr_ratio itself; set 0");
  if ((schedule == "cosine" || schedule == "linear" || schedule == "slanted_triangular") &&
      train.max_steps == 0 && train.max_epochs == 0)
    throw s.error(p + ".schedule", "'" + schedule +
                                       "' needs train.max_steps or train.max_epochs to know "
                                       "where it ends");
}

namespace {

// The value named `name` at `key`, or a ConfigError naming the key.
template <class E>
E parse_name(const ConfigSchema& s, const std::string& key, const std::string& name) {
  try {
    return from_string<E>(name);
  } catch (const std::invalid_argument& e) {
    throw s.error(key, e.what());
  }
}

}  // namespace

void RecurrentSection::validate(const ConfigSchema& s, const std::string& p) const {
  // the config key of an option of RecurrentOptions
  auto key = [&p](const std::string& option) {
    if (option == "hidden_size") return p + ".hidden";
    if (option == "num_layers") return p + ".layers";
    return p + "." + option;
  };
  RecurrentOptions o =
      RecurrentOptions(stack)
          .type(parse_name<CellType>(s, key("type"), type))
          .impl(parse_name<Implementation>(s, key("impl"), impl))
          .nonlinearity(parse_name<Nonlinearity>(s, key("nonlinearity"), nonlinearity))
          .hidden_init(parse_name<HiddenInit>(s, key("hidden_init"), hidden_init))
          .forget_bias(parse_name<ForgetBiasInit>(s, key("forget_bias"), forget_bias));
  try {
    o.validate(p, key);
  } catch (const RecurrentOptionError& e) {
    throw s.error(key(e.option()), e.reason());
  }
}

RecurrentOptions RecurrentSection::options(int64_t input_size) const {
  return RecurrentOptions(stack)
      .type(from_string<CellType>(type))
      .impl(from_string<Implementation>(impl))
      .nonlinearity(from_string<Nonlinearity>(nonlinearity))
      .hidden_init(from_string<HiddenInit>(hidden_init))
      .forget_bias(from_string<ForgetBiasInit>(forget_bias))
      .input_size(input_size);
}

void bind_tokenizer(ConfigSchema& s, const std::string& p, datasets::TokenizerOptions* t) {
  s.add(p + ".type", &t->type, "tokenizer").choices({"char", "word", "sentencepiece"});
  s.add(p + ".lowercase", &t->lowercase, "word: lower-case the text");
  s.add(p + ".split_punctuation", &t->split_punctuation, "word: split punctuation into tokens");
  s.add(p + ".min_freq", &t->min_freq,
        "char/word: drop tokens seen fewer times (they become <unk>)")
      .range(1, INT64_MAX);
  s.add(p + ".max_size", &t->max_size,
        "char/word: keep at most N tokens, specials included (0: all)")
      .range(0, INT64_MAX);
  s.add(p + ".spm_model_type", &t->spm_model_type, "sentencepiece: model type")
      .choices({"unigram", "bpe"});
  s.add(p + ".spm_vocab_size", &t->spm_vocab_size, "sentencepiece: vocabulary size")
      .range(8, 1 << 20);
  s.add(p + ".spm_character_coverage", &t->spm_character_coverage,
        "sentencepiece: share of characters the model covers")
      .range(0.5, 1.0);
  s.add(p + ".spm_model", &t->spm_model, "sentencepiece: load this .model instead of training one");
}

std::unique_ptr<datasets::Tokenizer> train_tokenizer_for(const datasets::TokenizerOptions& options,
                                                         const std::string& prefix,
                                                         const std::vector<std::string>& texts) {
  // sentencepiece trains from files: a folder per call, removed on every way out.
  static std::atomic<int> calls{0};
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() /
      ("rnnlab-tokenizer-" + std::to_string(::getpid()) + "-" + std::to_string(calls++));
  struct RemoveOnExit {
    std::filesystem::path path;
    ~RemoveOnExit() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  } remove_on_exit{scratch};
  try {
    return datasets::train_tokenizer(options, texts, scratch.string());
  } catch (const ConfigError& e) {
    throw ConfigError("key '" + prefix + "': " + e.what());
  } catch (const DataError& e) {
    std::string msg = e.what();
    if (msg.rfind("sentencepiece training failed", 0) != 0) throw;
    // "sentencepiece training failed: Internal: Vocabulary size too high (8000)..."
    // (spm::readable_status has dropped the source location) -> "Vocabulary size ...".
    std::string why = std::regex_replace(msg.substr(msg.find(':') + 1),
                                         std::regex(R"(^\s*(Internal|INTERNAL):\s*)"), "");
    why = std::regex_replace(why, std::regex(R"(^\s+|\s+$)"), "");
    std::string key = prefix + ".spm_vocab_size";
    if (why.find("character_coverage") != std::string::npos)
      key = prefix + ".spm_character_coverage";
    else if (why.find("model_type") != std::string::npos)
      key = prefix + ".spm_model_type";
    else if (why.find("ocabulary") == std::string::npos &&
             why.find("vocab_size") == std::string::npos)
      throw DataError("sentencepiece could not be trained on the training text (" + prefix +
                      "): " + why);
    throw ConfigError("key '" + key + "': sentencepiece: " + why);
  }
}

}  // namespace rnnlab
