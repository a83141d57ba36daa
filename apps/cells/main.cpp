// rnnlab-cells: the hand-written RNN/LSTM/GRU cells against torch::nn.
//   rnnlab-cells compare CONFIG [--set key=value]... [--run-dir DIR] [--print-config] [--list-keys]
//   rnnlab-cells gradflow CONFIG [--set key=value]... [--run-dir DIR] [--print-config]
//   [--list-keys]
#include "apps/cells/task.h"

using namespace rnnlab;

int main(int argc, char** argv) {
  CLI::App cli{"rnnlab-cells: hand-written recurrent cells against torch::nn, and gradient flow",
               "rnnlab-cells"};
  cli.require_subcommand(1);
  TrainArgs compare_args, gradflow_args;
  CLI::App* compare = add_config_command(
      cli, "compare", compare_args,
      "custom vs built-in: output and gradient differences, forward and forward+backward times");
  CLI::App* gradflow = add_config_command(
      cli, "gradflow", gradflow_args,
      "||dL/dh_t|| over a long sequence for RNN, LSTM and GRU, at init and after training");
  return guarded_main(cli, argc, argv, [&]() -> int {
    if (*compare) return cells::compare_command(compare_args);
    if (*gradflow) return cells::gradflow_command(gradflow_args);
    return 2;
  });
}
