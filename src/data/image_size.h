// The pixel size of an image from its first bytes, without decoding it:
// YOLO boxes are fractions of the image and need it to become pixels.
#pragma once
#include <optional>
#include <string_view>
#include <utility>

namespace atelier::data {

// How many leading bytes image_size may need (a JPEG's size comes after its
// other headers, such as an embedded thumbnail).
inline constexpr size_t kImageHeadBytes = 256 * 1024;

// (width, height) of a PNG, JPEG, GIF or BMP whose leading bytes are
// `head`; nullopt for other formats, or when the size lies beyond `head`.
std::optional<std::pair<int, int>> image_size(std::string_view head);

}  // namespace atelier::data
