#include "data/image_size.h"

#include <cstdint>
#include <cstdlib>

namespace atelier::data {
namespace {

uint32_t be16(std::string_view s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 8 | uint8_t(s[at + 1]);
}
uint32_t be32(std::string_view s, size_t at) { return be16(s, at) << 16 | be16(s, at + 2); }
uint32_t le16(std::string_view s, size_t at) { return uint32_t(uint8_t(s[at + 1])) << 8 | uint8_t(s[at]); }
uint32_t le32(std::string_view s, size_t at) { return le16(s, at + 2) << 16 | le16(s, at); }

std::optional<std::pair<int, int>> sized(int64_t w, int64_t h) {
  if (w <= 0 || h <= 0 || w > 1000000 || h > 1000000) return std::nullopt;
  return std::make_pair(int(w), int(h));
}

}  // namespace

std::optional<std::pair<int, int>> image_size(std::string_view s) {
  // PNG: signature, then the IHDR chunk with width and height.
  if (s.size() >= 24 && s.substr(0, 8) == "\x89PNG\r\n\x1a\n" && s.substr(12, 4) == "IHDR")
    return sized(be32(s, 16), be32(s, 20));
  // GIF: logical screen size.
  if (s.size() >= 10 && (s.substr(0, 6) == "GIF87a" || s.substr(0, 6) == "GIF89a")) return sized(le16(s, 6), le16(s, 8));
  // BMP: BITMAPINFOHEADER (or larger) width and height (negative height: top-down).
  if (s.size() >= 26 && s.substr(0, 2) == "BM" && le32(s, 14) >= 40)
    return sized(int32_t(le32(s, 18)), std::abs(int64_t(int32_t(le32(s, 22)))));
  // JPEG: walk the marker segments to the first start-of-frame.
  if (s.size() >= 4 && uint8_t(s[0]) == 0xFF && uint8_t(s[1]) == 0xD8) {
    size_t at = 2;
    while (at + 4 <= s.size()) {
      if (uint8_t(s[at]) != 0xFF) return std::nullopt;
      uint8_t marker = uint8_t(s[at + 1]);
      if (marker == 0xFF) {  // fill byte
        ++at;
        continue;
      }
      if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
        at += 2;
        continue;
      }
      uint32_t len = be16(s, at + 2);
      if (len < 2) return std::nullopt;
      bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
      if (frame) {
        if (at + 9 > s.size()) return std::nullopt;
        return sized(be16(s, at + 7), be16(s, at + 5));
      }
      if (marker == 0xD9 || marker == 0xDA) return std::nullopt;  // end, or image data before any frame
      at += 2 + len;
    }
  }
  return std::nullopt;
}

}  // namespace atelier::data
