// rnnlab-lm inspect: looking for interpretable cells (Karpathy, Johnson and
// Fei-Fei, "Visualizing and Understanding Recurrent Networks", 2015).
//
// The model reads a text; every unit's hidden (and, for LSTMs, cell) state is
// recorded at every token. Each unit is scored against simple features of the
// text (inside quotes or brackets, position in the line, start of a new line,
// ...) by Pearson correlation, and an HTML page shows the text with each
// character coloured by a chosen unit's activation.
#pragma once

#include <string>
#include <vector>

#include "datasets/tokenizer.h"
#include "modules/language_model.h"

namespace rnnlab::lm {

/// One unit's correlation with one feature.
struct UnitScore {
  std::string feature;
  std::string unit;  ///< "L1.h42": layer 1 (1-based), hidden state, unit 42
  double r = 0;      ///< Pearson correlation over the text's tokens
};

/// Per-token features of a text, given the tokens' surface pieces.
/// Returns name -> value per token, in a fixed order.
std::vector<std::pair<std::string, std::vector<double>>> token_features(
    const std::vector<std::string>& pieces);

/// The result of inspecting a text.
struct Inspection {
  std::vector<std::string> pieces;                                 ///< surface text per token
  std::vector<std::pair<std::string, torch::Tensor>> activations;  ///< unit group -> (N, H)
  std::vector<UnitScore> ranking;  ///< top units per feature, best first within a feature
};

/// Runs `text` through `model` (whose recurrent stack must be impl "custom",
/// which can record its states) and ranks units per feature, `top` per feature.
Inspection inspect_text(LanguageModel& model, const datasets::Tokenizer& tokenizer,
                        const std::string& text, int64_t top, int64_t chunk = 256);

/// Writes the self-contained HTML page for an inspection.
void write_inspection_html(const Inspection& inspection, const std::string& path,
                           const std::string& title);

}  // namespace rnnlab::lm
