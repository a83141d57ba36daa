// Tests of datasets/idx.h: idx image and label files written and read back,
// and every way a broken file fails (small files the tests write).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/error.h"
#include "datasets/idx.h"
#include "tests/support/support.h"

namespace rnnlab::datasets {
namespace {

using test::error_of;
using test::TempDir;

// Big-endian bytes of a 32-bit integer.
std::string be32(uint32_t n) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((n >> shift) & 0xff);
  return s;
}

// An idx file by hand: magic, sizes, then `data`.
std::string idx_bytes(uint32_t magic, std::vector<uint32_t> sizes, const std::string& data) {
  std::string s = be32(magic);
  for (uint32_t n : sizes) s += be32(n);
  return s + data;
}

TEST(Idx, ImagesRoundTrip) {
  TempDir dir;
  torch::Tensor pixels = torch::randint(0, 256, {3, 4, 5}, torch::kLong).to(torch::kUInt8);
  const std::string path = dir.file("images");
  write_idx_images(path, pixels);
  std::string bytes = test::read_all(path);
  ASSERT_EQ(bytes.size(), 16u + 60u);
  EXPECT_EQ(bytes.substr(0, 16), idx_bytes(2051, {3, 4, 5}, ""));
  IdxImages read = read_idx_images(path);
  EXPECT_EQ(read.size(), 3);
  EXPECT_EQ(read.rows(), 4);
  EXPECT_EQ(read.cols(), 5);
  EXPECT_TRUE(torch::equal(read.pixels, pixels));
  EXPECT_EQ(read.path, path);
}

TEST(Idx, LabelsRoundTrip) {
  TempDir dir;
  torch::Tensor labels = torch::tensor({7, 0, 9, 3}, torch::kLong);
  const std::string path = dir.file("labels");
  write_idx_labels(path, labels);
  EXPECT_EQ(test::read_all(path), idx_bytes(2049, {4}, std::string("\x07\x00\x09\x03", 4)));
  torch::Tensor read = read_idx_labels(path, 10);
  EXPECT_EQ(read.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(read, labels));
}

TEST(Idx, HandWrittenImageFileReadsRowMajor) {
  TempDir dir;
  // Two 2x3 images: bytes 0..11 in order.
  std::string data;
  for (int i = 0; i < 12; ++i) data += static_cast<char>(i * 20);
  IdxImages im = read_idx_images(dir.write("im", idx_bytes(2051, {2, 2, 3}, data)));
  EXPECT_EQ(im.pixels[1][0][2].item<int>(), 8 * 20);
  EXPECT_EQ(im.pixels[0][1][0].item<int>(), 3 * 20);
}

TEST(Idx, MissingFile) {
  TempDir dir;
  std::string e = error_of<DataError>([&] { read_idx_images(dir.file("absent")); });
  EXPECT_NE(e.find("cannot open '" + dir.file("absent") + "'"), std::string::npos) << e;
  e = error_of<DataError>([&] { read_idx_labels(dir.path.string(), 10); });
  EXPECT_NE(e.find("is a directory"), std::string::npos) << e;
}

TEST(Idx, GzipIsNamed) {
  TempDir dir;
  const std::string path = dir.write("im.gz", std::string("\x1f\x8b\x08\x08\x00\x00", 6));
  std::string e = error_of<DataError>([&] { read_idx_images(path); });
  EXPECT_EQ(e,
            path + ": gzip-compressed; unpack it first (gunzip -k, or scripts/get_data.sh mnist)");
}

TEST(Idx, WrongMagic) {
  TempDir dir;
  // A label file given as images, and images given as labels.
  const std::string labels = dir.write("l", idx_bytes(2049, {1}, "\x01"));
  std::string e = error_of<DataError>([&] { read_idx_images(labels); });
  EXPECT_EQ(e, labels +
                   ": magic number 2049 is 1 dimension of unsigned byte; expected an idx file of "
                   "images (magic 2051, 3 dimensions of unsigned bytes)");
  const std::string images = dir.write("i", idx_bytes(2051, {1, 1, 1}, "\x01"));
  e = error_of<DataError>([&] { read_idx_labels(images, 10); });
  EXPECT_NE(e.find("magic number 2051 is 3 dimensions of unsigned byte; expected an idx file of "
                   "labels (magic 2049"),
            std::string::npos)
      << e;
  // Floats, and not an idx file at all (text).
  const std::string floats = dir.write("f", idx_bytes(0x0D03, {1, 1, 1}, "abcd"));
  e = error_of<DataError>([&] { read_idx_images(floats); });
  EXPECT_NE(e.find("3 dimensions of float"), std::string::npos) << e;
  const std::string text = dir.write("t", "hello world\n");
  e = error_of<DataError>([&] { read_idx_images(text); });
  EXPECT_NE(e.find(text + ": magic number"), std::string::npos) << e;
  EXPECT_NE(e.find("is not an idx file's"), std::string::npos) << e;
}

TEST(Idx, TooShortAndTruncated) {
  TempDir dir;
  const std::string empty = dir.write("e", "");
  std::string e = error_of<DataError>([&] { read_idx_images(empty); });
  EXPECT_NE(e.find(empty + ": 0 bytes, too short"), std::string::npos) << e;
  const std::string header = dir.write("h", be32(2051) + be32(2));
  e = error_of<DataError>([&] { read_idx_images(header); });
  EXPECT_NE(e.find("truncated in its header (8 bytes"), std::string::npos) << e;
  // Two 2x2 images promised, one and a half there.
  const std::string cut = dir.write("c", idx_bytes(2051, {2, 2, 2}, "123456"));
  e = error_of<DataError>([&] { read_idx_images(cut); });
  EXPECT_EQ(e, cut +
                   ": truncated: the header gives 2 images of 2x2 (8 bytes after the header), "
                   "the file has 6 (the first 1 complete)");
  const std::string labels = dir.write("l", idx_bytes(2049, {3}, "\x01"));
  e = error_of<DataError>([&] { read_idx_labels(labels, 10); });
  EXPECT_NE(e.find("truncated: the header gives 3 labels"), std::string::npos) << e;
}

TEST(Idx, HugeSizesDoNotOverflow) {
  TempDir dir;
  // 2^32-1 images of (2^32-1)^2 pixels: the product overflows 64 bits.
  const std::string path =
      dir.write("huge", idx_bytes(2051, {0xffffffffu, 0xffffffffu, 0xffffffffu}, "x"));
  std::string e = error_of<DataError>([&] { read_idx_images(path); });
  EXPECT_NE(e.find("truncated: the header gives 4294967295 images of 4294967295x4294967295"),
            std::string::npos)
      << e;
}

TEST(Idx, TrailingBytesAndZeroSizes) {
  TempDir dir;
  const std::string longer = dir.write("x", idx_bytes(2051, {1, 1, 2}, "abc"));
  std::string e = error_of<DataError>([&] { read_idx_images(longer); });
  EXPECT_EQ(e, longer + ": 1 bytes after the 2 the header gives (not an idx file of images?)");
  const std::string none = dir.write("n", idx_bytes(2051, {0, 28, 28}, ""));
  e = error_of<DataError>([&] { read_idx_images(none); });
  EXPECT_EQ(e, none + ": the header gives 0 images");
  const std::string flat = dir.write("f", idx_bytes(2051, {1, 28, 0}, ""));
  e = error_of<DataError>([&] { read_idx_images(flat); });
  EXPECT_EQ(e, flat + ": the header gives 0 columns");
}

TEST(Idx, LabelOutOfRange) {
  TempDir dir;
  const std::string path = dir.write("l", idx_bytes(2049, {3}, std::string("\x01\x0a\x02", 3)));
  std::string e = error_of<DataError>([&] { read_idx_labels(path, 10); });
  EXPECT_EQ(e, path + ": label 10 of item 1 (0-based) is not a class 0..9");
  EXPECT_EQ(read_idx_labels(path, 11).size(0), 3);
}

TEST(Idx, CountsMustAgree) {
  TempDir dir;
  write_idx_images(dir.file("im"), torch::zeros({3, 2, 2}, torch::kUInt8));
  write_idx_labels(dir.file("l"), torch::zeros({2}, torch::kLong));
  IdxImages im = read_idx_images(dir.file("im"));
  torch::Tensor l = read_idx_labels(dir.file("l"), 10);
  std::string e = error_of<DataError>([&] { check_same_count(im, l, dir.file("l")); });
  EXPECT_EQ(e, dir.file("l") + ": 2 labels for the 3 images of " + dir.file("im"));
}

}  // namespace
}  // namespace rnnlab::datasets
