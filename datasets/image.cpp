// PNG files through libpng's simplified API (see image.h).
#include "datasets/image.h"

#include <png.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace rnnlab::datasets {

torch::Tensor read_png_gray(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw DataError("cannot open '" + path + "': it is a directory");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw DataError("cannot open '" + path + "': " + std::strerror(errno));
  }
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str()))
    throw DataError(path + ": not a readable PNG (" + image.message + ")");
  image.format = PNG_FORMAT_GRAY;
  torch::Tensor pixels = torch::empty(
      {static_cast<int64_t>(image.height), static_cast<int64_t>(image.width)}, torch::kUInt8);
  png_color black{0, 0, 0};
  if (!png_image_finish_read(&image, &black, pixels.data_ptr<uint8_t>(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    throw DataError(path + ": not a readable PNG (" + message + ")");
  }
  return pixels;
}

void write_png_gray(const std::string& path, const torch::Tensor& pixels) {
  torch::Tensor p = pixels.to(torch::kCPU).to(torch::kUInt8).contiguous();
  if (p.dim() != 2) throw std::invalid_argument("write_png_gray: expected (H, W) pixels");
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(p.size(1));
  image.height = static_cast<png_uint_32>(p.size(0));
  image.format = PNG_FORMAT_GRAY;
  if (!png_image_write_to_file(&image, path.c_str(), 0, p.data_ptr<uint8_t>(), 0, nullptr))
    throw RuntimeError("cannot write '" + path + "': " + image.message);
}

}  // namespace rnnlab::datasets
