// libFuzzer target: the line-aligned parallel-file reader (read_parallel) and
// the length filter, datasets/parallel.h.
//
// Input: byte 0 = filter (min_length = b & 3, max_length = (b >> 2) & 7,
// max_ratio = (b >> 5) * 0.75), then "<source>\0<target>".
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/parallel.h"
#include "datasets/text_file.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  if (size < 1) return 0;
  const uint8_t f = data[0];
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto parts = split_parts(body, 2);
  parts.resize(2);
  const std::string src = write_file("train.src", parts[0]);
  const std::string tgt = write_file("train.tgt", parts[1]);
  guarded([&] {
    rnnlab::datasets::ParallelText p = rnnlab::datasets::read_parallel(src, tgt);
    check(p.src.size() == p.tgt.size(), "sides differ in length");
    std::vector<int64_t> ls, lt;
    std::vector<std::string_view> fields;
    for (int64_t i = 0; i < p.size(); ++i) {
      rnnlab::datasets::split_fields(p.src[static_cast<size_t>(i)], fields);
      ls.push_back(static_cast<int64_t>(fields.size()));
      rnnlab::datasets::split_fields(p.tgt[static_cast<size_t>(i)], fields);
      lt.push_back(static_cast<int64_t>(fields.size()));
    }
    rnnlab::datasets::LengthFilter lf;
    lf.min_length = f & 3;
    lf.max_length = (f >> 2) & 7;
    lf.max_ratio = (f >> 5) * 0.75;
    auto keep = rnnlab::datasets::filter_by_length(ls, lt, lf);
    for (size_t k = 0; k < keep.size(); ++k)
      check(keep[k] >= 0 && keep[k] < p.size() && (k == 0 || keep[k] > keep[k - 1]),
            "filter_by_length: indices not ascending or out of range");
  });
  return 0;
}
