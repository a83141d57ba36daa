// Labelled texts for classification (the sentiment app): readers for one file
// per class (MR's rt-polarity.pos / .neg) and for tables of text and label
// (SST-2's TSV, any user TSV or CSV), Kim (2014)'s text cleaning, and the
// splits of the standard protocols: stratified k-fold cross-validation with
// a seeded dev part carved from each fold's training part, and one seeded
// train/dev/test split.
//
// Every reader error is one DataError line naming the file and line:
//   "reviews.tsv:17: expected 2 columns (tab-separated), got 1"
//   "dev.tsv:4: label 'neutral' is not one of the training labels (0, 1)"
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rnnlab::datasets {

/// Texts with a class each. Labels are indices into `label_names`, which are
/// sorted (byte order), so the same data always gives the same indices.
struct LabeledTexts {
  std::vector<std::string> texts;
  std::vector<int64_t> labels;
  std::vector<std::string> label_names;
  int64_t size() const { return static_cast<int64_t>(texts.size()); }
  /// Examples per class, indexed like label_names.
  std::vector<int64_t> class_counts() const;
  /// The examples at `indices`, in that order (same label_names).
  LabeledTexts subset(const std::vector<int64_t>& indices) const;
};

/// One file per class, one text per line (MR): {label name, path} pairs.
/// DataError naming file and line for an empty line, a file that cannot be
/// read or holds no line, or fewer than two classes.
LabeledTexts read_class_files(const std::vector<std::pair<std::string, std::string>>& files);

/// How a table of text and label is laid out.
struct TableOptions {
  /// Field separator: '\t' (TSV) or ',' (CSV). Default: '\t'
  char delimiter = '\t';
  /// The first line names the columns. Default: true
  bool header = true;
  /// Fields may be quoted with '"' ("" inside stands for one quote), as CSV
  /// files from spreadsheets and pandas are. Default: false
  bool quoting = false;
  /// The text and label columns: a header name, or a 1-based number.
  /// Defaults: "sentence" and "label" (SST-2)
  std::string text_column = "sentence";
  std::string label_column = "label";
};

/// Reads a table. Label names are those found in the file, unless
/// `known_labels` is given (a dev or test file): then every label must be one
/// of them and `label_names` is `known_labels`. DataError naming file and
/// line for: an empty line, a line with too few columns, an empty text or
/// label, an unknown column name (listing the header), an unknown label, no
/// example, and (without known_labels) a single class.
LabeledTexts read_labeled_table(const std::string& path, const TableOptions& options,
                                const std::vector<std::string>* known_labels = nullptr);

/// Kim (2014)'s clean_str: every character outside [A-Za-z0-9(),!?'`] becomes
/// a space; the clitics 's 've n't 're 'd 'll are split off; , ! ( ) ? become
/// tokens of their own; runs of spaces collapse; the result is lower-cased
/// and trimmed. (Kim's script writes "\(" and "\)" for the brackets, an
/// artefact of Python's re.sub; here they stay "(" and ")".)
std::string kim_clean(const std::string& text);

/// Indices of the three parts of a split.
struct Split {
  std::vector<int64_t> train, dev, test;
};

/// Fold `fold` (0-based) of stratified k-fold cross-validation: the examples
/// of each class are shuffled with `seed` and dealt to the k folds in turn,
/// so every fold has the class proportions of the data and the folds do not
/// depend on `fold`. The test part is fold `fold`; of the other folds, a
/// stratified, seeded `dev_fraction` is the dev part and the rest train.
/// std::invalid_argument if k < 2, fold outside [0, k), or a class has
/// fewer than k examples.
Split cross_validation_split(const std::vector<int64_t>& labels, int64_t k, int64_t fold,
                             double dev_fraction, uint64_t seed);

/// One stratified, seeded split: `test_fraction` and `dev_fraction` of each
/// class (rounded), the rest train.
Split random_split(const std::vector<int64_t>& labels, double dev_fraction, double test_fraction,
                   uint64_t seed);

}  // namespace rnnlab::datasets
