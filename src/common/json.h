// JSON input checking. Every client body goes through JsonIn so a wrong type,
// a missing field or an unknown enum value becomes a 400 that names the field
// ("user.name"), never an exception from the JSON library.
#pragma once
#include <nlohmann/json.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace atelier {

using json = nlohmann::json;

// Number of characters (code points) of UTF-8 text; the API's length limits
// count characters, not bytes. Bodies are valid UTF-8 once parsed.
size_t utf8_length(std::string_view s);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF): what the JSON library can write out.
bool valid_utf8(std::string_view s);

// The deepest nesting of arrays and objects accepted in JSON from outside
// (request bodies, query values, files a client provides): every copy, dump
// and walk of such a document then recurses at most this deep.
inline constexpr size_t kMaxJsonDepth = 64;

// Parses outside JSON. A malformed document, or one nested deeper than
// kMaxJsonDepth, comes back discarded (is_discarded()); `too_deep` (when
// given) tells which of the two.
json parse_json_limited(std::string_view text, bool* too_deep = nullptr);

// A number from 0 to 1 written as plain decimal digits ("0.8", "1.00",
// ".5"); anything else (signs, exponents, nan, inf, spaces) is nullopt.
std::optional<double> parse_ratio(std::string_view s);

// Parses a request body; a malformed document, one nested deeper than
// kMaxJsonDepth, or a non-object is a 400.
json parse_json_body(std::string_view body, bool allow_empty = false);

// The error to throw for a bad field; code defaults to ModelArts.0101.
struct FieldErrorFactory {
  virtual ~FieldErrorFactory() = default;
  virtual ApiError make(const std::string& field, const std::string& problem) const;
};

class JsonIn {
 public:
  // `node` must outlive this view. `path` is the dotted prefix used in errors.
  JsonIn(const json& node, std::string path = "",
         const FieldErrorFactory* errors = nullptr);

  bool has(const char* key) const;  // present and not null
  std::string str(const char* key) const;  // required, non-empty string
  std::optional<std::string> opt_str(const char* key) const;
  std::optional<bool> opt_bool(const char* key) const;
  std::optional<int64_t> opt_int(const char* key, int64_t min, int64_t max) const;
  JsonIn obj(const char* key) const;  // required object
  std::optional<JsonIn> opt_obj(const char* key) const;
  const json& arr(const char* key) const;  // required array
  // Required string that must be one of `allowed`.
  std::string enum_str(const char* key, std::initializer_list<std::string_view> allowed) const;
  std::string max_len(const char* key, const std::string& v, size_t n) const;

  const json& node() const { return node_; }
  std::string field(const char* key) const;  // dotted path of a child
  [[noreturn]] void fail(const char* key, const std::string& problem) const;

 private:
  const json& node_;
  std::string path_;
  const FieldErrorFactory* errors_;
};

}  // namespace atelier
