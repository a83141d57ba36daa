// MNIST's idx files (see idx.h).
#include "datasets/idx.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "core/error.h"
#include "datasets/text_file.h"

namespace rnnlab::datasets {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;

std::string read_binary(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw DataError("cannot open '" + path + "': it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "': " + std::strerror(errno));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string type_name(uint8_t code) {
  switch (code) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "short";
    case 0x0C:
      return "int";
    case 0x0D:
      return "float";
    case 0x0E:
      return "double";
    default:
      return fmt::format("unknown type 0x{:02X}", code);
  }
}

/// The sizes in the header of an idx file of `want_dims` unsigned-byte
/// dimensions (`what`: "images" or "labels"), every one checked, and the
/// offset of the data; the file's length must be exactly header + elements.
std::vector<int64_t> read_header(const std::string& bytes, const std::string& path,
                                 uint8_t want_dims, const char* what, size_t* data_at) {
  const uint32_t want_magic = (uint32_t{kUnsignedByte} << 8) | want_dims;
  const std::string expected =
      fmt::format("an idx file of {} (magic {}, {} dimension{} of unsigned bytes)", what,
                  want_magic, want_dims, want_dims == 1 ? "" : "s");
  if (bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
      static_cast<unsigned char>(bytes[1]) == 0x8b)
    throw DataError(path +
                    ": gzip-compressed; unpack it first (gunzip -k, or scripts/get_data.sh mnist)");
  if (bytes.size() < 4)
    throw DataError(fmt::format("{}: {} bytes, too short for {}", path, bytes.size(), expected));
  const uint32_t magic = big_endian(bytes, 0);
  const auto type = static_cast<uint8_t>(bytes[2]);
  const auto dims = static_cast<uint8_t>(bytes[3]);
  if (bytes[0] != 0 || bytes[1] != 0)
    throw DataError(fmt::format("{}: magic number {} is not an idx file's; expected {}", path,
                                magic, expected));
  if (type != kUnsignedByte || dims != want_dims)
    throw DataError(fmt::format("{}: magic number {} is {} dimension{} of {}; expected {}", path,
                                magic, dims, dims == 1 ? "" : "s", type_name(type), expected));
  const size_t header = 4 + 4 * size_t{want_dims};
  if (bytes.size() < header)
    throw DataError(fmt::format("{}: truncated in its header ({} bytes, the header of {} has {})",
                                path, bytes.size(), what, header));
  std::vector<int64_t> sizes;
  // The elements' count, checked against the file's length without overflow:
  // every size is below 2^32, so multiply in 128 bits.
  unsigned __int128 elements = 1;
  for (uint8_t d = 0; d < want_dims; ++d) {
    const uint32_t n = big_endian(bytes, 4 + 4 * size_t{d});
    if (n == 0) {
      static const char* const names[] = {"", "rows", "columns"};
      throw DataError(fmt::format("{}: the header gives 0 {}", path, d == 0 ? what : names[d]));
    }
    sizes.push_back(n);
    elements *= n;
  }
  const size_t have = bytes.size() - header;
  if (elements > have) {
    std::string shape = sizes.size() == 3
                            ? fmt::format("{} images of {}x{}", sizes[0], sizes[1], sizes[2])
                            : fmt::format("{} labels", sizes[0]);
    const int64_t per_item = sizes.size() == 3 ? sizes[1] * sizes[2] : 1;
    throw DataError(fmt::format(
        "{}: truncated: the header gives {} ({} bytes after the header), the file has {} "
        "(the first {} complete)",
        path, shape, static_cast<unsigned long long>(elements), have,
        static_cast<int64_t>(have) / per_item));
  }
  if (elements < have)
    throw DataError(
        fmt::format("{}: {} bytes after the {} the header gives (not an idx file of {}?)", path,
                    have - static_cast<size_t>(elements), static_cast<unsigned long long>(elements),
                    sizes.size() == 3 ? "images" : "labels"));
  *data_at = header;
  return sizes;
}

void write_idx(const std::string& path, const torch::Tensor& values, uint8_t dims) {
  torch::Tensor v = values.to(torch::kCPU);
  if (v.dim() != dims) throw std::invalid_argument("write_idx: wrong number of dimensions");
  if (v.numel() > 0 && (v.min().item<int64_t>() < 0 || v.max().item<int64_t>() > 255))
    throw std::invalid_argument("write_idx: values must be 0..255");
  v = v.to(torch::kUInt8).contiguous();
  std::string out;
  out += '\0';
  out += '\0';
  out += static_cast<char>(kUnsignedByte);
  out += static_cast<char>(dims);
  for (int64_t d = 0; d < dims; ++d) {
    const auto n = static_cast<uint32_t>(v.size(d));
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  }
  out.append(reinterpret_cast<const char*>(v.data_ptr<uint8_t>()), static_cast<size_t>(v.numel()));
  write_file_atomic(path, out);
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const std::string bytes = read_binary(path);
  size_t at = 0;
  std::vector<int64_t> sizes = read_header(bytes, path, 3, "images", &at);
  IdxImages out;
  out.path = path;
  out.pixels = torch::empty(sizes, torch::kUInt8);
  std::memcpy(out.pixels.data_ptr<uint8_t>(), bytes.data() + at, bytes.size() - at);
  return out;
}

torch::Tensor read_idx_labels(const std::string& path, int64_t num_classes) {
  const std::string bytes = read_binary(path);
  size_t at = 0;
  std::vector<int64_t> sizes = read_header(bytes, path, 1, "labels", &at);
  torch::Tensor labels = torch::empty({sizes[0]}, torch::kLong);
  auto* y = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < sizes[0]; ++i) {
    y[i] = static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
    if (y[i] >= num_classes)
      throw DataError(fmt::format("{}: label {} of item {} (0-based) is not a class 0..{}", path,
                                  y[i], i, num_classes - 1));
  }
  return labels;
}

void check_same_count(const IdxImages& images, const torch::Tensor& labels,
                      const std::string& labels_path) {
  if (labels.size(0) != images.size())
    throw DataError(fmt::format("{}: {} labels for the {} images of {}", labels_path,
                                labels.size(0), images.size(), images.path));
}

void write_idx_images(const std::string& path, const torch::Tensor& pixels) {
  write_idx(path, pixels, 3);
}

void write_idx_labels(const std::string& path, const torch::Tensor& labels) {
  write_idx(path, labels, 1);
}

}  // namespace rnnlab::datasets
