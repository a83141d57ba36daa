// MNIST's idx files: images and labels as LeCun's page distributes them
// (unpacked), read with one-line errors that name the file.
//
// Format (all integers 32-bit big-endian):
//   magic: two zero bytes, the element type (0x08: unsigned byte, the only one
//          read here), the number of dimensions (images 3, labels 1);
//   one size per dimension (images: count, rows, columns; labels: count);
//   the elements, row-major: count x rows x columns bytes (pixel 0 is
//   background, 255 full ink) or count label bytes.
// So an image file's magic reads 2051 (0x00000803) and a label file's 2049.
//
// Typical use:
//   IdxImages train = read_idx_images("data/mnist/train-images-idx3-ubyte");
//   torch::Tensor y = read_idx_labels("data/mnist/train-labels-idx1-ubyte", 10);
//   check_same_count(train, y, "data/mnist/train-labels-idx1-ubyte");
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace rnnlab::datasets {

/// The images of an idx3 file.
struct IdxImages {
  torch::Tensor pixels;  ///< (N, rows, cols) uint8
  std::string path;      ///< the file they were read from
  int64_t size() const { return pixels.size(0); }
  int64_t rows() const { return pixels.size(1); }
  int64_t cols() const { return pixels.size(2); }
};

/// Reads an idx3-ubyte image file. DataError naming `path` (and what was
/// expected) for a missing or unreadable file, a gzip-compressed file (unpack
/// it first), a wrong magic (another element type or number of dimensions: a
/// label file given as images), zero images, rows or columns, a file shorter
/// than its header says (truncated) or longer (trailing bytes).
IdxImages read_idx_images(const std::string& path);

/// Reads an idx1-ubyte label file: (N) int64. The same errors as
/// read_idx_images, and a label >= `num_classes` (naming the item).
torch::Tensor read_idx_labels(const std::string& path, int64_t num_classes);

/// DataError "<labels_path>: N labels for the M images of <images.path>"
/// unless there is one label per image.
void check_same_count(const IdxImages& images, const torch::Tensor& labels,
                      const std::string& labels_path);

/// Writes (N, rows, cols) uint8 images (or (N) int64 labels, each 0..255) as
/// an idx file, atomically: for tests and for strips made from MNIST.
void write_idx_images(const std::string& path, const torch::Tensor& pixels);
void write_idx_labels(const std::string& path, const torch::Tensor& labels);

}  // namespace rnnlab::datasets
