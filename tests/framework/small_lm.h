// A small rnnlab-lm experiment for the framework's process tests (same seed,
// kill -9, SIGTERM, resume): a character model on test::tiny_corpus,
// with dropout (so the RNG state matters), written as DIR/exp.yaml.
#pragma once

#include <string>

#include "tests/support/support.h"

namespace rnnlab::test {

/// Sizes and rhythm of the small experiment.
struct SmallLm {
  int corpus_lines, hidden, max_steps, eval_every, log_every, sample_length;
};

/// Writes DIR/corpus.txt and DIR/exp.yaml (seed 5, `extra` YAML appended);
/// returns the config's path.
inline std::string small_lm_config(const TempDir& dir, const SmallLm& s,
                                   const std::string& extra = "") {
  std::string corpus = write_file(dir.file("corpus.txt"), tiny_corpus(s.corpus_lines));
  return write_file(
      dir.file("exp.yaml"),
      "data:\n  train: " + corpus +
          "\n  batch_size: 8\n  bptt: 32\nmodel:\n  embedding: 16\n  dropout: 0.2\n"
          "  rnn:\n    hidden: " +
          std::to_string(s.hidden) + "\ntrain:\n  max_steps: " + std::to_string(s.max_steps) +
          "\n  eval_every: " + std::to_string(s.eval_every) + "\n  log_every: " +
          std::to_string(s.log_every) + "\nsample:\n  length: " + std::to_string(s.sample_length) +
          "\nrun:\n  progress: lines\n  seed: 5\n" + extra);
}

}  // namespace rnnlab::test
