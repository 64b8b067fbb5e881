#include "obs/s3_wire.h"

#include <algorithm>
#include <cctype>

#include "common/clock.h"
#include "common/crypto.h"
#include "s3/auth.h"

namespace atelier::obs::s3wire {

namespace {

constexpr size_t kMaxMetadata = 2048;  // as the local store, names and values counted as S3 counts them
constexpr std::string_view kMetaPrefix = "x-amz-meta-";

bool tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
}

// Travels as it is: printable ASCII with no space at either end.
bool plain(std::string_view v) {
  if (!v.empty() && (v.front() == ' ' || v.back() == ' ')) return false;
  if (v.size() >= 4 && v.substr(0, 2) == "=?" && v.substr(v.size() - 2) == "?=") return false;  // would read as encoded
  return std::all_of(v.begin(), v.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

// One RFC 2047 encoded word's text, "=?charset?B|Q?text?="; nullopt when `w` is none.
std::optional<std::string> decode_word(std::string_view w) {
  if (w.size() < 8 || w.substr(0, 2) != "=?" || w.substr(w.size() - 2) != "?=") return std::nullopt;
  std::string_view in = w.substr(2, w.size() - 4);
  size_t q1 = in.find('?');
  if (q1 == std::string_view::npos || q1 + 2 >= in.size() || in[q1 + 2] != '?') return std::nullopt;
  std::string charset(in.substr(0, q1));
  std::transform(charset.begin(), charset.end(), charset.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (charset != "utf-8" && charset != "us-ascii") return std::nullopt;
  char enc = char(std::toupper(static_cast<unsigned char>(in[q1 + 1])));
  std::string_view text = in.substr(q1 + 3);
  std::string out;
  if (enc == 'B') {
    if (!crypto::base64_decode(text, out)) return std::nullopt;
    return out;
  }
  if (enc != 'Q') return std::nullopt;
  std::string percent;
  for (char c : text) percent += c == '_' ? ' ' : c == '=' ? '%' : c;
  if (!http::percent_decode(percent, out)) return std::nullopt;
  return out;
}

bool header_is(const std::string& name, std::string_view lower) {
  return name.size() == lower.size() && std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace

void check_options(const PutOptions& o) {
  size_t total = 0;
  for (auto& [name, value] : o.metadata) {
    total += name.size() + value.size();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](unsigned char c) { return tchar(c); }))
      throw bad_request("Object metadata names must be HTTP header names (letters, digits, -_.!#$%&'*+^`|~): '" +
                        name + "' is not");
    if (value.find('\0') != std::string::npos) throw bad_request("Object metadata must not contain NUL characters.");
  }
  if (total > kMaxMetadata)
    throw ApiError(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.");
  if (!std::all_of(o.content_type.begin(), o.content_type.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; }))
    throw bad_request("A content type must be printable ASCII.");
}

HeaderList put_headers(const PutOptions& o) {
  HeaderList out;
  if (!o.content_type.empty()) out.emplace_back("Content-Type", o.content_type);
  for (auto& [name, value] : o.metadata)
    out.emplace_back(std::string(kMetaPrefix) + name, plain(value) ? value : "=?UTF-8?B?" + crypto::base64(value) + "?=");
  return out;
}

// Encoded words separated by white space are one text (RFC 2047 6.2);
// anything else is the value as sent.
std::string meta_value(std::string_view sent) {
  if (sent.substr(0, 2) != "=?") return std::string(sent);
  std::string out;
  size_t pos = 0;
  while (pos < sent.size()) {
    size_t end = sent.find(' ', pos);
    std::string_view w = sent.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    auto text = decode_word(w);
    if (!text) return std::string(sent);
    out += *text;
    if (end == std::string_view::npos) break;
    pos = sent.find_first_not_of(' ', end);
    if (pos == std::string_view::npos) break;
  }
  return out;
}

std::string unquote(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

int64_t modified_ms(const http::Headers& h) {
  if (auto t = s3::parse_http_date(h.get("Last-Modified"))) return *t;
  if (auto t = s3::parse_http_date(h.get("Date"))) return *t;
  return clock::now_ms() / 1000 * 1000;
}

ObjectInfo info_of(const std::string& key, const http::Headers& h) {
  ObjectInfo info;
  info.key = key;
  info.mtime_ms = modified_ms(h);
  info.etag = unquote(h.get("ETag"));
  info.content_type = h.get("Content-Type");
  if (info.content_type == "binary/octet-stream") info.content_type.clear();
  for (auto& [name, value] : h.items()) {
    if (name.size() <= kMetaPrefix.size() || !header_is(name.substr(0, kMetaPrefix.size()), kMetaPrefix)) continue;
    std::string meta = name.substr(kMetaPrefix.size());
    std::transform(meta.begin(), meta.end(), meta.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    info.metadata[meta] = meta_value(value);
  }
  return info;
}

ApiError refusal(const S3Answer& a, const std::string& what, const std::string& where) {
  std::string said = std::to_string(a.status) + (a.code.empty() ? "" : " " + a.code) +
                     (a.message.empty() ? "" : ": " + a.message);
  if (a.code == "BadDigest")
    return ApiError(400, "BadDigest", "The Content-MD5 you specified did not match what was received.");
  if (a.code == "MetadataTooLarge")
    return ApiError(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.");
  if (a.code == "NoSuchBucket") return not_found("The bucket of " + what + " does not exist");
  if (a.code == "EntityTooLarge" || a.code == "InsufficientStorage" || a.status == 507)
    return no_space("Cannot store " + what + " (the object store at " + where + " answered " + said + ")");
  if (a.status == 401 || a.status == 403)
    return ApiError(503, "ServiceUnavailable",
                    "The object store at " + where + " refused this server's access key for " + what + " (" + said +
                        "): check the object_store_* settings");
  if (a.status == 409) return ApiError(409, "ModelArts.0101", "Cannot store " + what + ": the object store answered " + said);
  if (a.status == 400) return bad_request("The object store at " + where + " refused " + what + ": " + said);
  return internal_error("The object store at " + where + " answered " + said + " for " + what);
}

}  // namespace atelier::obs::s3wire
