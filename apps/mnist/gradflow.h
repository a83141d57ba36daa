// rnnlab-mnist gradflow: how much gradient reaches each step of a long
// sequence, on real MNIST sequences, for several recurrent cells side by side.
//
// For each model (rnn_tanh: a tanh RNN as torch initialises it; irnn: a ReLU
// RNN with W_hh = I and zero biases, Le et al. 2015; lstm: forget-gate bias
// 1; lstm_chrono: chrono forget-gate bias for T_max = T, Tallec and Ollivier
// 2018; gru), on one fixed batch of validation images read as sequences:
//   h_1 .. h_T = RNN(x_1 .. x_T),  L = cross-entropy(U h_T + c, digit)
//   g_t = mean over the batch of ||dL/dh_t||_2   (the last layer's state)
// at initialisation and, with gradflow.train_steps > 0, after that many Adam
// updates on the training images. The run directory gets gradflow.csv (t and
// one column per curve), gradflow.svg (log scale), gradflow.txt (the table it
// prints) and summary.json.
#pragma once

#include <string>
#include <vector>

#include "apps/framework/app.h"
#include "apps/mnist/task.h"

namespace rnnlab::mnist {

/// The config of `rnnlab-mnist gradflow` (experiments/mnist/gradflow.yaml).
struct GradflowConfig {
  RunSection run;
  MnistConfig::Data data;  // dir, sequence, permutation_seed, normalize
  struct Gradflow {
    std::vector<std::string> models = {"rnn_tanh", "irnn", "lstm", "lstm_chrono", "gru"};
    std::string impl = "custom";
    int64_t hidden = 128;
    int64_t batch_size = 100;
    int64_t train_steps = 0;
    double lr = 1e-3;
    double clip_norm = 1.0;
  } gradflow;

  void bind(ConfigSchema& s);
  void validate(const ConfigSchema& s) const;
};

/// The stack a gradflow model name stands for (rnn_tanh, irnn, lstm,
/// lstm_chrono, gru) on sequences of `steps` steps.
RecurrentSection gradflow_model(const std::string& name, const std::string& impl, int64_t hidden,
                                int64_t steps);

/// g_t, t = 1..T, of `model` on sequences x (T, B, F) with digits y (B).
std::vector<double> gradient_per_step(SequenceClassifier& model, const torch::Tensor& x,
                                      const torch::Tensor& y);

/// `rnnlab-mnist gradflow CONFIG`: measures, writes the run, prints the table.
int gradflow_command(const TrainArgs& args);

}  // namespace rnnlab::mnist
