// The text rules that reading manifest lines, reading VOC documents, the
// plain fast path and writing manifests share: errors
// naming their field, UTF-8 checks, numbers, object URIs, usages, times and
// shape features. Internal to the manifest files of src/data.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.h"
#include "data/manifest.h"

namespace atelier::data::manifest_text {

// Throws ManifestError "<field>: <why>".
[[noreturn]] void fail(const std::string& field, const std::string& why);

inline std::string_view trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string_view() : s.substr(b, e - b + 1);
}

// ASCII only: the words compared are the format's own (schemes, formats,
// usages), and the C library's tolower is a call a character.
inline std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o)
    if (c >= 'A' && c <= 'Z') c = char(c + ('a' - 'A'));
  return o;
}

// Length of the well-formed UTF-8 sequence at s[i], 0 if there is none.
size_t utf8_seq(std::string_view s, size_t i);

// Offset of the first byte that is not well-formed UTF-8, npos if none.
size_t utf8_error(std::string_view s);

// Text safe to put in an error message (and so in a JSON response): control
// characters and bytes that are not UTF-8 as \xNN, cut after `max` characters.
std::string printable(std::string_view s, size_t max = 200);

// A value quoted for an error message, cut short when long.
std::string show(std::string_view s);

// A number as written: integers stay integers, anything else finite is a double.
std::optional<json> parse_number(std::string_view s);

// "yyyy-MM-dd HH:mm:ss" (UTC) of a time in ms, as manifests write creation-time.
std::string time_text(int64_t ms);

// "yyyy-MM-dd HH:mm:ss" (UTC, as time_text prints it) -> ms; fails naming `field`.
int64_t creation_ms(const std::string& s, const std::string& field);

// "obs://b/k", "s3://b/k", "s3a://b/k" (any case) or "/b/k" -> "/b/k"; for
// anything else "" and the reason in `why`.
std::string object_uri(std::string_view s, std::string& why);

// A usage in upper case ("" stays ""); nullopt for an unknown one.
std::optional<std::string> usage_named(std::string_view u);

// Whether an annotation-format names PASCAL VOC ("PASCAL VOC", "pascal_voc", "VOC", ...).
bool is_voc_format(std::string_view format);

// The shape kinds of @modelarts:shape, as a set and as listed in errors.
bool is_shape(std::string_view kind);
extern const char* const kShapeList;

// Checks an @modelarts:feature against its shape (bndbox, polygon, circle, ...).
void check_feature(const std::string& shape, const json& f, const std::string& field);

}  // namespace atelier::data::manifest_text
