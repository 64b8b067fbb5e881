#include "data/image_size.h"

#include <gtest/gtest.h>

#include <string>

using atelier::data::image_size;

namespace {
std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string le16(uint32_t v) { return {char(v), char(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v) + le16(v >> 16); }
using Size = std::optional<std::pair<int, int>>;
}  // namespace

TEST(ImageSize, Png) {
  std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(640) + be32(480) + std::string(5, '\0');
  EXPECT_EQ(image_size(png), Size({640, 480}));
  EXPECT_EQ(image_size(png.substr(0, 20)), std::nullopt);  // cut before the height
}

TEST(ImageSize, GifAndBmp) {
  EXPECT_EQ(image_size("GIF89a" + le16(33) + le16(7)), Size({33, 7}));
  std::string bmp = "BM" + std::string(12, '\0') + le32(40) + le32(100) + le32(uint32_t(-50)) + std::string(4, '\0');
  EXPECT_EQ(image_size(bmp), Size({100, 50}));  // top-down rows: negative height
}

TEST(ImageSize, JpegSkipsSegmentsToTheFrame) {
  std::string soi = "\xFF\xD8";
  std::string app0 = std::string("\xFF\xE0\x00\x10", 4) + "JFIF" + std::string(10, '\0');
  std::string dqt = std::string("\xFF\xDB\x00\x05", 4) + "abc";
  std::string sof2 = std::string("\xFF\xC2\x00\x11\x08\x01\xE0\x02\x80", 9) + std::string(12, '\0');
  EXPECT_EQ(image_size(soi + app0 + dqt + sof2), Size({640, 480}));
  EXPECT_EQ(image_size(soi + app0 + dqt), std::nullopt);                                 // no frame yet
  EXPECT_EQ(image_size(soi + std::string("\xFF\xC4\x00\x03x", 5) + sof2), Size({640, 480}));  // DHT is not a frame
  EXPECT_EQ(image_size(soi + "junk" + sof2), std::nullopt);
}

TEST(ImageSize, OtherBytes) {
  EXPECT_EQ(image_size(""), std::nullopt);
  EXPECT_EQ(image_size("\xff\xd8jpeg"), std::nullopt);
  EXPECT_EQ(image_size("plain text"), std::nullopt);
  std::string zero = std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + "IHDR" + be32(0) + be32(480);
  EXPECT_EQ(image_size(zero), std::nullopt);
}
