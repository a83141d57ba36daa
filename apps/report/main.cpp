// rnnlab-report: compare finished runs in one table and one plot.
//   rnnlab-report RUN_DIR... [--keys K1,K2,...] [--format text|md|csv|json]
//                 [--metric val_loss] [--plot OUT.svg] [--no-plot] [--band minmax|std|lines]
// It needs no libtorch, so it has its own small entry point with the exit
// codes of guarded_main (apps/framework/app.h): "error: ..." on stderr, 1 for
// data or runtime errors, 2 for usage errors.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "apps/report/task.h"
#include "core/error.h"

int main(int argc, char** argv) {
  rnnlab::report::Options o;
  std::string keys;
  CLI::App cli{
      "rnnlab-report: one table (and one plot) comparing finished runs. A parent run (repeated "
      "seeds or folds) shows mean ± std over its sub-runs.",
      "rnnlab-report"};
  cli.add_option("runs", o.runs, "run directories (plain or parent runs), one row each")
      ->required();
  cli.add_option("--keys", keys,
                 "comma-separated summary metrics to show, in order (default: those every run "
                 "has, val_* first, then test_*, then the rest)");
  cli.add_option("--format", o.format, "table format")
      ->check(CLI::IsMember({"text", "md", "csv", "json"}))
      ->capture_default_str();
  auto* metric = cli.add_option("--metric", o.metric,
                                "validation metric to plot against step (val_loss, val_bpc, "
                                "val_ppl...)")
                     ->capture_default_str();
  auto* plot = cli.add_option("--plot", o.plot, "SVG to write (default: report.svg here)");
  cli.add_flag("--no-plot", o.no_plot, "write no plot")->excludes(plot);
  cli.add_option("--band", o.band,
                 "parent runs in the plot: mean with a min-max band, a mean ± std band, or "
                 "one line per sub-run")
      ->check(CLI::IsMember({"minmax", "std", "lines"}))
      ->capture_default_str();

  cli.add_option("--published", o.published,
                 "a row of published figures under the runs, in the same columns: \"LABEL: "
                 "key=value, key=value\" (\"Zaremba et al. 2014: test_ppl=114.5\"); repeatable")
      ->allow_extra_args(false)
      ->take_all();
  try {
    try {
      cli.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return cli.exit(e);
    } catch (const CLI::ParseError& e) {
      throw rnnlab::UsageError(std::string(e.what()) + " (see --help)");
    }
    o.metric_given = metric->count() > 0;
    for (size_t start = 0; !keys.empty() && start <= keys.size();) {
      size_t comma = std::min(keys.find(',', start), keys.size());
      std::string key = keys.substr(start, comma - start);
      key.erase(0, key.find_first_not_of(" \t"));
      key.erase(key.find_last_not_of(" \t") + 1);
      if (!key.empty()) o.keys.push_back(key);
      start = comma + 1;
    }
    return rnnlab::report::run(o, std::cout, std::cerr);
  } catch (const rnnlab::Error& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
}
