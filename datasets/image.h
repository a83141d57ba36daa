// Greyscale images in PNG files, through libpng's simplified API (Debian's
// libpng-dev): the digits `rnnlab-mnist predict` reads and the pictures runs
// write.
#pragma once

#include <torch/types.h>

#include <string>

namespace rnnlab::datasets {

/// Reads a PNG file of any colour type and bit depth as 8-bit grey (H, W)
/// uint8 (colour is turned grey by libpng; transparency is composited on
/// black). DataError naming the file when it is missing, unreadable or not
/// a PNG.
torch::Tensor read_png_gray(const std::string& path);

/// Writes (H, W) uint8 as an 8-bit greyscale PNG. RuntimeError naming the file.
void write_png_gray(const std::string& path, const torch::Tensor& pixels);

}  // namespace rnnlab::datasets
