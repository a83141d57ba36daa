// libFuzzer target: the YAML config loader (apps/framework/config.h) with
// includes and --set overrides, on the framework's shared sections (run,
// train, optim, a recurrent stack, a tokenizer block) plus one field of every
// supported type with each kind of constraint.
//
// Input: "<main.yaml>\0<base.yaml>\0<override>\n<override>..." (missing parts
// are empty). main.yaml may `include: base.yaml`. Then: load_file(main),
// apply_override for each line, finalize(), the sections' validate(), and
// to_yaml(). Invariant: the resolved YAML loads back into a fresh schema and
// gives the same YAML again (it is what a run directory stores).
#include <cstdint>
#include <string>
#include <vector>

#include "apps/framework/config.h"
#include "apps/framework/sections.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

struct FuzzConfig {
  rnnlab::RunSection run;
  rnnlab::TrainSection train;
  rnnlab::OptimSection optim;
  rnnlab::RecurrentSection rnn;
  rnnlab::datasets::TokenizerOptions tokenizer;
  std::string train_file;
  bool flag = false;
  int small = 3;
  int64_t batch = 64;
  double fraction = 0.1;
  std::vector<std::string> files;
  std::vector<int64_t> sizes;
  std::vector<double> weights;
  std::string mode = "a";

  void bind(rnnlab::ConfigSchema& s) {
    run.bind(s);
    train.bind(s);
    optim.bind(s);
    rnn.bind(s, "model.rnn");
    rnnlab::bind_tokenizer(s, "data.tokenizer", &tokenizer);
    s.add("data.train", &train_file, "training file").required();
    s.add("data.flag", &flag, "a boolean");
    s.add("data.small", &small, "an int").range(1, 10);
    s.add("data.batch_size", &batch, "an int64").greater(0);
    s.add("data.fraction", &fraction, "a double").range(0.0, 1.0);
    s.add("data.files", &files, "strings");
    s.add("data.sizes", &sizes, "integers");
    s.add("data.weights", &weights, "numbers");
    s.add("data.mode", &mode, "a choice").choices({"a", "b", "c"});
  }
  void validate(const rnnlab::ConfigSchema& s) const {
    train.validate(s);
    optim.validate(s, train);
    rnn.validate(s, "model.rnn");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parts = split_parts(in, 3);
  parts.resize(3);
  const std::string main = write_file("main.yaml", parts[0]);
  write_file("base.yaml", parts[1]);
  std::vector<std::string> overrides;
  for (std::string_view rest = parts[2]; !rest.empty();) {
    size_t nl = rest.find('\n');
    overrides.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }

  std::string resolved;
  guarded([&] {
    FuzzConfig c;
    rnnlab::ConfigSchema s;
    c.bind(s);
    s.load_file(main);
    for (const auto& o : overrides) s.apply_override(o);
    s.finalize();
    c.validate(s);
    resolved = s.to_yaml();
  });
  if (resolved.empty()) return 0;

  // The resolved config must load back as itself.
  const std::string again = write_file("resolved.yaml", resolved);
  guarded([&] {
    std::string second;
    try {
      FuzzConfig c;
      rnnlab::ConfigSchema s;
      c.bind(s);
      s.load_file(again);
      s.finalize();
      c.validate(s);
      second = s.to_yaml();
    } catch (const rnnlab::Error& e) {
      check(false, std::string("the resolved config does not load back: ") + e.what() +
                       "\n--- resolved ---\n" + resolved);
      return;
    }
    check(second == resolved, "the resolved config loads back differently:\n--- first ---\n" +
                                  resolved + "--- second ---\n" + second);
  });
  return 0;
}
