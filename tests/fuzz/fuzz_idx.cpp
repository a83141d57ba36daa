// libFuzzer target: the idx readers (read_idx_images, read_idx_labels),
// datasets/idx.h.
//
// Input: the whole file, read as images and as labels (10 classes).
// Invariant: a file that reads is written back byte for byte by
// write_idx_images / write_idx_labels (the format has one spelling), and
// every other file is a DataError.
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "datasets/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rnnlab::fuzz;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string path = write_file("file", bytes);
  const std::string out = scratch_dir() + "/back";
  guarded([&] {
    rnnlab::datasets::IdxImages im = rnnlab::datasets::read_idx_images(path);
    check(im.pixels.dim() == 3 && im.size() > 0 && im.rows() > 0 && im.cols() > 0,
          "images of no size read");
    rnnlab::datasets::write_idx_images(out, im.pixels);
    check(read_file(out) == bytes, "images do not write back to the same bytes");
  });
  guarded([&] {
    torch::Tensor labels = rnnlab::datasets::read_idx_labels(path, 10);
    check(labels.dim() == 1 && labels.size(0) > 0, "no labels read");
    check(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < 10,
          "a label outside 0..9 read");
    rnnlab::datasets::write_idx_labels(out, labels);
    check(read_file(out) == bytes, "labels do not write back to the same bytes");
  });
  return 0;
}
