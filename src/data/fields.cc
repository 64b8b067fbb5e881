#include "data/fields.h"

#include <cctype>

namespace atelier::data {

void check_name(const JsonIn& in, const char* field, const std::string& v, size_t max) {
  if (v.empty() || utf8_length(v) > max) in.fail(field, "must be 1 to " + std::to_string(max) + " characters");
  for (unsigned char c : v)
    if (!(std::isalnum(c) || c == '_' || c == '-' || c >= 0x80)) in.fail(field, "may hold only letters, digits, '_' and '-'");
}

void check_description(const JsonIn& in, const std::string& v) {
  if (utf8_length(v) > 256) in.fail("description", "must be at most 256 characters");
  if (v.find_first_of("^!<>=&\"'") != std::string::npos) in.fail("description", "must not contain any of ^!<>=&\"'");
}

obs::ObsPath folder_path(const JsonIn& in, const char* field, const std::string& v) {
  if (v.size() < 3 || v.size() > 700) in.fail(field, "must be 3 to 700 characters");
  auto p = obs::parse_path(v, in.field(field));
  if (p.key.empty()) in.fail(field, "must be a folder inside a bucket, not the bucket itself");
  if (p.key.back() != '/') in.fail(field, "must end with '/'");
  return p;
}

std::string obs_str(const obs::ObsPath& p) { return "/" + p.bucket + "/" + p.key; }

}  // namespace atelier::data
