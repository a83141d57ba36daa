// rnnlab-report: one table (and one plot) comparing finished runs.
//
//   rnnlab-report RUN_DIR... [--keys K1,K2,...] [--format text|md|csv|json]
//                 [--metric val_loss] [--plot OUT.svg] [--no-plot] [--band minmax|std|lines]
//                 [--published "LABEL: key=value, ..."]...
//
// One row per run directory: its label, n (sub-runs of a parent run, 1 for a
// plain run), the config keys whose values differ between the runs given
// ("differs", left out when there are none), then one column per summary
// metric. A parent run shows "mean ± std" over its sub-runs. Rows of
// published figures (a paper's test perplexity) follow, in the same columns.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "results/results.h"

namespace rnnlab::report {

/// The command line of rnnlab-report.
struct Options {
  std::vector<std::string> runs;    ///< run directories, one table row each
  std::vector<std::string> keys;    ///< --keys: summary metrics to show, in order
  std::string format = "text";      ///< text | md | csv | json
  std::string metric = "val_loss";  ///< --metric: the plotted curve
  bool metric_given = false;        ///< --metric was given: a missing curve is an error
  std::string plot;                 ///< --plot: SVG to write (default report.svg)
  bool no_plot = false;             ///< --no-plot
  std::string band = "minmax";      ///< minmax | std | lines: how parents spread
  /// --published "LABEL: key=value, key=value": rows of published figures
  /// under the runs' rows, in the same columns.
  std::vector<std::string> published;
};

/// Reads one --published value, "LABEL: key=value, key=value" (the label is
/// what comes before the last ':' ahead of the first '='), into a row of
/// published figures. UsageError naming the value if it is malformed or a
/// value is not a number.
RunInfo parse_published(const std::string& text);

/// Gives colliding labels (runs/a/seed1, runs/b/seed1) as many trailing path
/// components as it takes to tell them apart (a/seed1, b/seed1).
void make_labels_unique(std::vector<RunInfo>& runs);

/// Config keys whose values differ between the runs, sorted. run.name and
/// run.dir are ignored, and so are values that differ only by the run's own
/// directory (read_run writes it as $RUN).
std::vector<std::string> differing_keys(const std::vector<RunInfo>& runs);

/// Numeric summary metrics that every run has (for a parent, the m with an
/// m_mean), ordered val_* first, then test_*, then the rest; alphabetical
/// within each group. `any_run`: those that at least one run has.
std::vector<std::string> metric_keys(const std::vector<RunInfo>& runs, bool any_run = false);

/// The table in `format` (text, md, csv or json), ending with a newline.
/// `differs` are the keys from differing_keys.
std::string format_table(const std::vector<RunInfo>& runs, const std::vector<std::string>& keys,
                         const std::vector<std::string>& differs, const std::string& format);

/// The curve that `metric` names in metrics.jsonl: val_loss -> ("valid",
/// "loss"), test_bpc -> ("test", "bpc"), train_loss -> ("train", "loss"); a
/// name without a prefix is a validation metric.
std::pair<std::string, std::string> curve_of(const std::string& metric);

/// What write_plot did.
struct PlotResult {
  bool written = false;                    ///< the SVG is there
  std::string error;                       ///< else why not
  std::vector<std::string> without_curve;  ///< labels of runs with no points to plot
};

/// Writes SVG, with its gnuplot data and script next to it (same stem, .dat
/// and .gp), plotting `metric` against step for every run, each in its own
/// colour; a parent run is its sub-runs' mean at the steps they share, with a
/// band ("minmax" or "std") or one dashed line per sub-run ("lines").
PlotResult write_plot(const std::vector<RunInfo>& runs, const std::string& metric,
                      const std::string& band, const std::filesystem::path& svg);

/// The whole command: reads the runs, prints the table to `out`, writes the
/// plot and says so on `err`. Returns the exit code; throws rnnlab errors
/// (DataError for unreadable runs, UsageError for an unknown key).
int run(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace rnnlab::report
